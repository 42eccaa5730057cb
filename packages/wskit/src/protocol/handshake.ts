/**
 * The opening handshake (RFC 6455 §4) over plain header records: checks of
 * the client's request and the server's response, the accept key, and the
 * bytes of each side's message. No sockets here: the shells pass in the
 * headers Node's HTTP parser produced.
 */
import { createHash, randomBytes } from 'node:crypto';
import { WEBSOCKET_GUID } from '../constants.js';
import {
  type DeflateOptions,
  type DeflateParams,
  acceptDeflateAnswer,
  acceptDeflateOffer,
  parseExtensions,
} from './extensions.js';

/** Header records as Node's HTTP parser gives them: lower-case names. */
export type HeaderRecord = Record<string, string | string[] | undefined>;

/** computeAccept derives Sec-WebSocket-Accept from Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4). */
export function computeAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** generateKey makes a fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** headerValue joins a header that may have come more than once. */
export function headerValue(headers: HeaderRecord, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** hasToken tells whether a comma-separated header holds `token`, case-insensitively. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (!value) return false;
  const wanted = token.toLowerCase();
  return value.split(',').some((part) => part.trim().toLowerCase() === wanted);
}

/** isValidKey: a base64 encoding of exactly 16 bytes (RFC 6455 §4.1 step 7). */
export function isValidKey(key: string | undefined): key is string {
  return key !== undefined && /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/** What the server agreed for a valid request: the same over HTTP/1.1 and over an HTTP/2 stream. */
export interface Agreement {
  /** The request opens a WebSocket. */
  ok: true;
  /** Subprotocols the client offered, in its order. */
  protocols: string[];
  /** The agreed subprotocol, or '' when none. */
  protocol: string;
  /** The agreed compression, or null. */
  deflate: DeflateParams | null;
}

/** Why a request is refused: the answer to give. */
export interface Refusal {
  /** The request must be refused. */
  ok: false;
  /** The HTTP status to answer with. */
  status: number;
  /** A plain-text reason for the body. */
  reason: string;
  /** Headers the answer must carry. */
  headers?: Record<string, string>;
}

/** A valid HTTP/1.1 upgrade request: what was agreed, and the key to answer. */
export interface UpgradeAgreement extends Agreement {
  /** The client's Sec-WebSocket-Key, to answer with {@link computeAccept}. */
  key: string;
}

/** What a server decided about an upgrade request. */
export type RequestCheck = UpgradeAgreement | Refusal;

/** Server settings that a request check needs. */
export interface RequestPolicy {
  /** Subprotocols the server speaks, in its order of preference. */
  subprotocols?: readonly string[];
  /** permessage-deflate settings, or false/undefined to refuse compression. */
  compression?: DeflateOptions | false;
}

/**
 * checkRequest runs the checks of RFC 6455 §4.2.1 on an upgrade request and
 * negotiates subprotocol and extensions (§4.2.2).
 */
export function checkRequest(method: string, httpVersion: string, headers: HeaderRecord, policy: RequestPolicy = {}): RequestCheck {
  // 1. A GET over HTTP/1.1 or later.
  if (method !== 'GET') {
    return { ok: false, status: 405, reason: `WebSocket upgrade needs GET, not ${method}`, headers: { Allow: 'GET' } };
  }
  const [major = 0, minor = 0] = httpVersion.split('.').map(Number);
  if (major < 1 || (major === 1 && minor < 1)) {
    return { ok: false, status: 400, reason: `WebSocket upgrade needs HTTP/1.1, not HTTP/${httpVersion}` };
  }
  // 1b. Exactly one Host (RFC 6455 §4.2.1 item 2; RFC 7230 §5.4: otherwise 400).
  //     Several arrive as an array when the shell passes Node's headersDistinct value.
  const host = headers['host'];
  if (Array.isArray(host) && host.length > 1) {
    return { ok: false, status: 400, reason: 'The Host header is given more than once' };
  }
  if (!headerValue(headers, 'host')?.trim()) {
    return { ok: false, status: 400, reason: 'Missing Host header' };
  }
  // 2. Upgrade: websocket, and Connection listing Upgrade.
  if (!hasToken(headerValue(headers, 'upgrade'), 'websocket')) {
    return { ok: false, status: 400, reason: "Missing or invalid 'Upgrade: websocket' header" };
  }
  if (!hasToken(headerValue(headers, 'connection'), 'upgrade')) {
    return { ok: false, status: 400, reason: "The 'Connection' header does not list 'Upgrade'" };
  }
  // 3. Version 13, else 426 naming the versions we speak (§4.4).
  const version = headerValue(headers, 'sec-websocket-version');
  if (version !== '13') {
    return {
      ok: false,
      status: 426,
      reason: `Unsupported Sec-WebSocket-Version ${version === undefined ? '(missing)' : JSON.stringify(version)}; this server speaks 13`,
      headers: { 'Sec-WebSocket-Version': '13' },
    };
  }
  // 4. A key of 16 base64 bytes; a repeated header arrives joined and fails here.
  const key = headerValue(headers, 'sec-websocket-key');
  if (!isValidKey(key)) {
    return { ok: false, status: 400, reason: 'Missing or invalid Sec-WebSocket-Key: it must be 16 bytes in base64' };
  }
  // 5–6. Subprotocol and extensions.
  const agreed = negotiate(headers, policy);
  if (!agreed.ok) return agreed;
  return { ok: true, key, protocols: agreed.protocols, protocol: agreed.protocol, deflate: agreed.deflate };
}

/** What {@link negotiate} agreed, or why the request is refused (400). */
export type Negotiation = Agreement | Refusal;

/**
 * negotiate picks the subprotocol and the extensions of a request (RFC 6455
 * §4.2.2 step 5.4 and §9.1), the same over HTTP/1.1 and over an HTTP/2
 * stream (RFC 8441 §5): the first of the server's subprotocols that the
 * client offered; permessage-deflate when the policy allows it. A malformed
 * Sec-WebSocket-Extensions header is refused with 400.
 */
export function negotiate(headers: HeaderRecord, policy: RequestPolicy): Negotiation {
  const protocols = (headerValue(headers, 'sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const protocol = policy.subprotocols?.find((p) => protocols.includes(p)) ?? '';
  let deflate: DeflateParams | null = null;
  const extensionHeader = headerValue(headers, 'sec-websocket-extensions');
  if (extensionHeader !== undefined) {
    const offers = parseExtensions(extensionHeader);
    if (offers === null) {
      return { ok: false, status: 400, reason: 'Malformed Sec-WebSocket-Extensions header' };
    }
    if (policy.compression) deflate = acceptDeflateOffer(offers, policy.compression);
  }
  return { ok: true, protocols, protocol, deflate };
}

/** formatHeaders renders header lines, each ending in CRLF; values with CR or LF are refused. */
export function formatHeaders(headers: Record<string, string | number | readonly string[]>): string {
  let out = '';
  for (const [name, raw] of Object.entries(headers)) {
    const values = Array.isArray(raw) ? raw : [String(raw)];
    for (const value of values) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
        throw new TypeError(`Header ${JSON.stringify(name)} contains a line break`);
      }
      out += `${name}: ${value}\r\n`;
    }
  }
  return out;
}

/** buildAcceptResponse is the 101 response head for an accepted request. */
export function buildAcceptResponse(
  check: Extract<RequestCheck, { ok: true }>,
  extra: Record<string, string | number | readonly string[]> = {},
): string {
  let head =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${computeAccept(check.key)}\r\n`;
  if (check.protocol) head += `Sec-WebSocket-Protocol: ${check.protocol}\r\n`;
  if (check.deflate) head += `Sec-WebSocket-Extensions: ${check.deflate.header}\r\n`;
  return `${head}${formatHeaders(extra)}\r\n`;
}

/** Reason phrases for the statuses the handshake answers with. */
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** buildErrorResponse is a complete plain-text HTTP error response that closes the connection. */
export function buildErrorResponse(status: number, reason: string, headers: Record<string, string> = {}): string {
  const body = `${reason}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${formatHeaders(headers)}\r\n${body}`
  );
}

/** What a client decided about the server's 101 response. */
export type ResponseCheck =
  | {
      /** The response completes the handshake. */
      ok: true;
      /** The subprotocol the server chose, or '' when none. */
      protocol: string;
      /** The agreed permessage-deflate parameters, or null. */
      deflate: DeflateParams | null;
      /** The Sec-WebSocket-Extensions value the server sent, or ''. */
      extensions: string;
    }
  | {
      /** The response fails the handshake (§4.1: the client must fail the connection). */
      ok: false;
      /** Why, in words for a HandshakeError. */
      reason: string;
    };

/**
 * checkResponse runs the client's checks of RFC 6455 §4.1 (steps 1–6 of the
 * response handling) on a 101 response.
 */
export function checkResponse(
  headers: HeaderRecord,
  key: string,
  offeredProtocols: readonly string[],
  compression: DeflateOptions | false,
): ResponseCheck {
  if (!hasToken(headerValue(headers, 'upgrade'), 'websocket')) {
    return { ok: false, reason: "Response lacks 'Upgrade: websocket'" };
  }
  if (!hasToken(headerValue(headers, 'connection'), 'upgrade')) {
    return { ok: false, reason: "Response 'Connection' header does not list 'Upgrade'" };
  }
  const accept = headerValue(headers, 'sec-websocket-accept');
  if (accept !== computeAccept(key)) {
    return { ok: false, reason: 'Response Sec-WebSocket-Accept does not match the key sent' };
  }
  return checkAgreement(headers, offeredProtocols, compression);
}

/**
 * checkAgreement checks what a server's answer agreed against what was
 * offered (RFC 6455 §4.1, the last two checks of the response): a
 * subprotocol that was offered, and only a permessage-deflate answer that
 * fits the offer. The same over HTTP/1.1 and over HTTP/2 (RFC 8441 §5).
 */
export function checkAgreement(
  headers: HeaderRecord,
  offeredProtocols: readonly string[],
  compression: DeflateOptions | false,
): ResponseCheck {
  const protocol = headerValue(headers, 'sec-websocket-protocol') ?? '';
  if (protocol !== '' && !offeredProtocols.includes(protocol)) {
    return { ok: false, reason: `Server chose subprotocol ${JSON.stringify(protocol)}, which was not offered` };
  }
  const extensionHeader = headerValue(headers, 'sec-websocket-extensions');
  let deflate: DeflateParams | null = null;
  if (extensionHeader !== undefined && extensionHeader.trim() !== '') {
    const answers = parseExtensions(extensionHeader);
    if (answers === null) return { ok: false, reason: 'Malformed Sec-WebSocket-Extensions in response' };
    for (const answer of answers) {
      if (answer.name !== 'permessage-deflate' || !compression || deflate) {
        return { ok: false, reason: `Server accepted extension ${answer.name}, which was not offered` };
      }
      const result = acceptDeflateAnswer(answer, compression);
      if (typeof result === 'string') return { ok: false, reason: `Invalid permessage-deflate answer: ${result}` };
      deflate = result;
    }
  }
  return { ok: true, protocol, deflate, extensions: extensionHeader ?? '' };
}
