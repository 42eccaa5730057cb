/**
 * The opening handshake of a WebSocket over an HTTP/2 stream (RFC 8441):
 * checks of the extended CONNECT request and of the server's answer, and the
 * header records each side sends. Pseudo-header fields (`:method`,
 * `:protocol`, `:status`, ...) sit in the same record as the other fields,
 * as Node's http2 gives them. No I/O here: the shells hand the records to
 * and from node:http2.
 *
 * What differs from HTTP/1.1 (RFC 8441 §5): no Upgrade or Connection
 * header, no Sec-WebSocket-Key and no Sec-WebSocket-Accept (the `:protocol`
 * pseudo-header does their work), and the answer is 200 rather than 101.
 * Origin, Sec-WebSocket-Version, Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions keep their RFC 6455 meaning.
 */
import type { DeflateOptions } from './extensions.js';
import { deflateOfferHeader } from './extensions.js';
import { type Agreement, checkAgreement, type HeaderRecord, headerValue, negotiate, type Refusal, type RequestPolicy, type ResponseCheck } from './handshake.js';

/** Header records as node:http2 takes them: lower-case names, pseudo-header fields included. */
export type OutgoingHeaderRecord = Record<string, string | number | string[]>;

/** What a server decided about an extended CONNECT request; a refusal is 400, or 501 for a `:protocol` other than websocket. */
export type ConnectCheck = Agreement | Refusal;

/**
 * Header fields that are about one HTTP/1.1 connection and so malformed in
 * HTTP/2 (RFC 9113 §8.2.2): a response carrying one would be refused by the
 * peer.
 */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * checkConnectRequest runs the server's checks of RFC 8441 on the header
 * fields of an HTTP/2 request, and negotiates subprotocol and extensions as
 * over HTTP/1.1.
 */
export function checkConnectRequest(headers: HeaderRecord, policy: RequestPolicy = {}): ConnectCheck {
  // 1. An extended CONNECT (RFC 8441 §4): CONNECT with a :protocol.
  const method = headerValue(headers, ':method');
  if (method !== 'CONNECT') {
    return { ok: false, status: 400, reason: `A WebSocket over HTTP/2 needs an extended CONNECT (RFC 8441), not ${method ?? 'a request without :method'}` };
  }
  const protocol = headerValue(headers, ':protocol');
  if (protocol === undefined) {
    return { ok: false, status: 400, reason: 'CONNECT without :protocol asks for a tunnel, not a WebSocket (RFC 8441 §4)' };
  }
  // 2. The protocol is websocket (RFC 8441 §5); any other gets 501 (RFC 9220 §3 says so for HTTP/3, and HTTP/2 is no different).
  if (protocol.toLowerCase() !== 'websocket') {
    return { ok: false, status: 501, reason: `Unsupported :protocol ${JSON.stringify(protocol)}; this server speaks websocket` };
  }
  // 3. An extended CONNECT names its target like any request (RFC 8441 §4).
  for (const field of [':scheme', ':path', ':authority']) {
    if (!headerValue(headers, field)) return { ok: false, status: 400, reason: `Extended CONNECT without ${field} (RFC 8441 §4)` };
  }
  // 4. Version 13 (RFC 8441 §5 keeps RFC 6455 §4.4); HTTP/2 has no 426, so 400 names the version we speak.
  const version = headerValue(headers, 'sec-websocket-version');
  if (version !== '13') {
    return {
      ok: false,
      status: 400,
      reason: `Unsupported Sec-WebSocket-Version ${version === undefined ? '(missing)' : JSON.stringify(version)}; this server speaks 13`,
      headers: { 'sec-websocket-version': '13' },
    };
  }
  // 5–6. Subprotocol and extensions, as over HTTP/1.1.
  return negotiate(headers, policy);
}

/**
 * lowerCaseHeaders copies `extra` with lower-case names, as HTTP/2 requires
 * (RFC 9113 §8.2). Throws TypeError for a connection-specific field
 * (RFC 9113 §8.2.2), a pseudo-header field, or a line break.
 */
export function lowerCaseHeaders(extra: Record<string, string | number | readonly string[]>): OutgoingHeaderRecord {
  const out: OutgoingHeaderRecord = {};
  for (const [name, raw] of Object.entries(extra)) {
    const lower = name.toLowerCase();
    if (CONNECTION_SPECIFIC.has(lower)) throw new TypeError(`Header ${JSON.stringify(name)} is connection-specific: HTTP/2 forbids it (RFC 9113 §8.2.2)`);
    if (lower.startsWith(':')) throw new TypeError(`Header ${JSON.stringify(name)} is a pseudo-header field, which the handshake sets itself`);
    const values = Array.isArray(raw) ? raw.map(String) : [String(raw)];
    for (const value of values) {
      if (/[\r\n]/.test(value) || /[\r\n]/.test(name)) throw new TypeError(`Header ${JSON.stringify(name)} contains a line break`);
    }
    out[lower] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

/**
 * buildConnectResponse is the header block of an accepted extended CONNECT:
 * 200 (RFC 8441 §5), the agreed subprotocol and extensions, and `extra`.
 * Throws TypeError as {@link lowerCaseHeaders} does.
 */
export function buildConnectResponse(
  check: Extract<ConnectCheck, { ok: true }>,
  extra: Record<string, string | number | readonly string[]> = {},
): OutgoingHeaderRecord {
  const headers: OutgoingHeaderRecord = { ...lowerCaseHeaders(extra), ':status': 200 };
  if (check.protocol) headers['sec-websocket-protocol'] = check.protocol;
  if (check.deflate) headers['sec-websocket-extensions'] = check.deflate.header;
  return headers;
}

/** buildConnectError is the header block of a refused extended CONNECT; the body is the reason and a newline. */
export function buildConnectError(status: number, headers: Record<string, string> = {}): OutgoingHeaderRecord {
  let extra: OutgoingHeaderRecord;
  try {
    extra = lowerCaseHeaders(headers);
  } catch {
    extra = {}; // A refusal must go out: fields HTTP/2 cannot carry are left off.
  }
  return { ...extra, ':status': status, 'content-type': 'text/plain; charset=utf-8' };
}

/** Where a client's extended CONNECT goes and what it offers. */
export interface ConnectTarget {
  /** `https` for wss: URLs, `http` for ws: (RFC 8441 §5). */
  scheme: 'http' | 'https';
  /** The URL's host and port, as in its authority. */
  authority: string;
  /** The URL's path and query. */
  path: string;
  /** Subprotocols to offer, in order of preference. */
  subprotocols: readonly string[];
  /** permessage-deflate to offer, or false. */
  compression: DeflateOptions | false;
  /**
   * Extra header fields (Origin, Cookie, Authorization, ...). A Host field
   * becomes the `:authority`; connection-specific fields throw TypeError.
   */
  headers?: Record<string, string>;
}

/** buildConnectRequest is the header block of a client's extended CONNECT (RFC 8441 §5). */
export function buildConnectRequest(target: ConnectTarget): OutgoingHeaderRecord {
  const extra: Record<string, string> = {};
  let authority = target.authority;
  for (const [name, value] of Object.entries(target.headers ?? {})) {
    // HTTP/2 carries the host in :authority (RFC 9113 §8.3.1).
    if (name.toLowerCase() === 'host') authority = value;
    else extra[name] = value;
  }
  const headers: OutgoingHeaderRecord = {
    ...lowerCaseHeaders(extra),
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': target.scheme,
    ':authority': authority,
    ':path': target.path,
    'sec-websocket-version': '13',
  };
  if (target.subprotocols.length > 0) headers['sec-websocket-protocol'] = target.subprotocols.join(', ');
  if (target.compression) headers['sec-websocket-extensions'] = deflateOfferHeader(target.compression);
  return headers;
}

/**
 * checkConnectResponse runs the client's checks on the answer to its
 * extended CONNECT: a 2xx status (RFC 8441 §5 says 200; any 2xx opens a
 * CONNECT tunnel, RFC 9110 §9.3.6), then what was agreed, as over HTTP/1.1.
 */
export function checkConnectResponse(
  headers: HeaderRecord,
  offeredProtocols: readonly string[],
  compression: DeflateOptions | false,
): ResponseCheck {
  const status = Number(headerValue(headers, ':status'));
  if (!(status >= 200 && status < 300)) return { ok: false, reason: `Server answered ${headerValue(headers, ':status') ?? 'without a status'}` };
  return checkAgreement(headers, offeredProtocols, compression);
}
