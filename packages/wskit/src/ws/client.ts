/**
 * The client side of wskit/ws: the opening handshake as ws does it, on
 * `http.request`/`https.request` so that ws's options work unchanged (agent,
 * createConnection, TLS options, `finishRequest`), with redirects,
 * `unexpected-response`, ws+unix: URLs and ws's error messages. Once the
 * 101 response checks out, the socket goes to the WebSocket, whose Conn
 * does the rest.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { type ConnSettings, connSettings } from '../conn.js';
import type { DeflateParams } from '../protocol/extensions.js';
import { parseExtensions } from '../protocol/extensions.js';
import { computeAccept, generateKey } from '../protocol/handshake.js';
import { clientAccept, clientOffer, type PerMessageDeflateOptions } from './deflate-options.js';
import type { WebSocket } from './websocket.js';

/** ws's default time for the closing handshake before the socket is dropped. */
export const CLOSE_TIMEOUT = 30_000;
/** ws's default largest message: 100 MiB. */
export const MAX_PAYLOAD = 100 * 1024 * 1024;
/** ws's default most fragments per message (8.23): 16,384. */
export const MAX_FRAGMENTS = 16 * 1024;

/**
 * fragmentLimit reads ws's `maxFragments` as ws does: coerced to a 32-bit
 * integer, 0 or less meaning no limit.
 */
export function fragmentLimit(value: number): number {
  const n = value | 0;
  return n > 0 ? n : Number.MAX_SAFE_INTEGER;
}

const CONNECTING = 0;
/** RFC 7230 token characters: what a subprotocol name may hold. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/** Options of the client constructor; any other `http.request`/`https.request`/TLS option is passed on. */
export interface ClientOptions
  extends Omit<https.RequestOptions, 'timeout' | 'protocol' | 'host' | 'hostname' | 'port' | 'path' | 'method' | 'socketPath' | 'checkServerIdentity'> {
  /** Checks the server's certificate for wss: (see `tls.connect`); return an Error to refuse it. */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /** Emit several messages in one tick. Always true in wskit (accepted, ignored). */
  allowSynchronousEvents?: boolean;
  /** Answer pings with pongs. Default true. */
  autoPong?: boolean;
  /** Time in ms the closing handshake may take before the socket is dropped. Default 30 s. */
  closeTimeout?: number;
  /** Called with each handshake request; it must call `request.end()`. */
  finishRequest?: (request: ClientRequest, websocket: WebSocket) => void;
  /** Follow 3xx redirects. Default false. */
  followRedirects?: boolean;
  /** Fills a 4-byte Buffer with the masking key of each frame. Default: random bytes. */
  generateMask?: (mask: Buffer) => void;
  /** Time in ms for the opening handshake, reset at each redirect. Default: none. */
  handshakeTimeout?: number;
  /** Largest message accepted, in bytes, after decompression; 0 means 2^53 − 1. Default 100 MiB. */
  maxPayload?: number;
  /** Most redirects followed. Default 10. */
  maxRedirects?: number;
  /** The Origin header (Sec-WebSocket-Origin for protocol version 8). */
  origin?: string;
  /** Offer permessage-deflate. Default true. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Sec-WebSocket-Version: 13 (default) or 8. */
  protocolVersion?: number;
  /** Accepted and ignored: wskit always validates UTF-8. */
  skipUTF8Validation?: boolean;
  /** Accepted and ignored: wskit stores a message's bytes contiguously, never one object per socket read. */
  maxBufferedChunks?: number;
  /** Most frames one message may have, empty ones included (more: `WS_ERR_TOO_MANY_BUFFERED_PARTS`, close 1008); 0 for no limit. Default 16,384. */
  maxFragments?: number;
}

/** The first request's target and headers, for deciding what a redirect may carry. */
interface RedirectState {
  ipc: boolean;
  secure: boolean;
  hostOrSocket: string;
  /** The caller's options with lower-case header names: what later requests start from. */
  options: ClientOptions;
}

/** @internal What the handshake may do to the WebSocket it opens; the WebSocket keeps its state private. */
export interface ClientControl {
  /** The WebSocket: its events, `_req`, `_redirects`, `url`. */
  readonly ws: WebSocket;
  /** Set at the first request when redirects are followed. */
  redirect: RedirectState | null;
  readyState(): number;
  setUrl(url: string): void;
  setAutoPong(on: boolean): void;
  /** The handshake is being abandoned: readyState CLOSING. */
  closing(): void;
  /** Emit `error`, then `close` (1006). */
  errorAndClose(err: Error): void;
  emitError(err: Error): void;
  emitClose(): void;
  /** The 101 response checked out: take over the socket. */
  open(socket: Duplex, settings: ConnSettings, deflate: DeflateParams | null, head: Buffer, protocol: string, generateMask?: (mask: Buffer) => void): void;
}

/** Handshake requests given up on: their late errors are not reported. */
const ABORTED = new WeakSet<ClientRequest>();

/**
 * connect starts the opening handshake to `address` (again after a
 * redirect). Throws SyntaxError or RangeError for a bad first address,
 * subprotocol or protocol version; later failures are emitted.
 */
export function connect(control: ClientControl, address: string | URL, protocols: string[], options: ClientOptions): void {
  const ws = control.ws;
  const opts = {
    allowSynchronousEvents: true,
    autoPong: true,
    closeTimeout: CLOSE_TIMEOUT,
    protocolVersion: 13,
    maxPayload: MAX_PAYLOAD,
    maxFragments: MAX_FRAGMENTS,
    skipUTF8Validation: false,
    perMessageDeflate: true as boolean | PerMessageDeflateOptions,
    followRedirects: false,
    maxRedirects: 10,
    ...options,
  };
  control.setAutoPong(opts.autoPong);
  if (opts.protocolVersion !== 8 && opts.protocolVersion !== 13) {
    throw new RangeError(`Unsupported protocol version: ${opts.protocolVersion} (supported versions: 8, 13)`);
  }
  let url: URL;
  if (address instanceof URL) url = address;
  else {
    try {
      url = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  control.setUrl(url.href);
  const secure = url.protocol === 'wss:';
  const ipc = url.protocol === 'ws+unix:';
  let invalid: string | undefined;
  if (url.protocol !== 'ws:' && !secure && !ipc) {
    invalid = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';
  } else if (ipc && !url.pathname) {
    invalid = "The URL's pathname is empty";
  } else if (url.hash) {
    invalid = 'The URL contains a fragment identifier';
  }
  if (invalid !== undefined) {
    const err = new SyntaxError(invalid);
    if (ws._redirects === 0) throw err;
    control.errorAndClose(err);
    return;
  }

  const key = generateKey();
  const offered = new Set<string>();
  const headers: Record<string, unknown> = {
    ...opts.headers,
    'Sec-WebSocket-Version': opts.protocolVersion,
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
  };
  const deflateOptions: PerMessageDeflateOptions | null =
    opts.perMessageDeflate === true ? {} : opts.perMessageDeflate ? opts.perMessageDeflate : null;
  if (deflateOptions !== null) headers['Sec-WebSocket-Extensions'] = clientOffer(deflateOptions);
  for (const protocol of protocols) {
    if (typeof protocol !== 'string' || !TOKEN.test(protocol) || offered.has(protocol)) {
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    }
    offered.add(protocol);
  }
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(',');
  if (opts.origin) headers[opts.protocolVersion < 13 ? 'Sec-WebSocket-Origin' : 'Origin'] = opts.origin;

  const request: http.RequestOptions & Record<string, unknown> = {
    ...opts,
    createConnection: opts.createConnection ?? ((secure ? tlsConnect : netConnect) as unknown as http.RequestOptions['createConnection']),
    defaultPort: opts.defaultPort ?? (secure ? 443 : 80),
    port: url.port || (secure ? 443 : 80),
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    headers: headers as http.OutgoingHttpHeaders,
    path: url.pathname + url.search,
    timeout: opts.handshakeTimeout,
    method: 'GET',
    socketPath: undefined,
    hostname: undefined,
    protocol: undefined,
  };
  if (url.username || url.password) request.auth = `${url.username}:${url.password}`;
  if (ipc) {
    // ws+unix:/path/to/socket:/request/path: the socket path, then the request path (default /).
    const [socketPath, path] = (request.path as string).split(':');
    request.socketPath = socketPath;
    request.path = path ?? '/';
  }

  let req: ClientRequest;
  if (opts.followRedirects) {
    if (ws._redirects === 0) {
      // Later requests start from a copy of the caller's headers with lower-case names, so some can be dropped.
      const lowered: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(options.headers ?? {})) lowered[name.toLowerCase()] = value;
      control.redirect = {
        ipc,
        secure,
        hostOrSocket: ipc ? (request.socketPath as string) : url.host,
        options: { ...options, headers: lowered as http.OutgoingHttpHeaders },
      };
    } else if (ws.listenerCount('redirect') === 0) {
      const first = control.redirect!;
      const sameHost = ipc ? first.ipc && request.socketPath === first.hostOrSocket : !first.ipc && url.host === first.hostOrSocket;
      if (!sameHost || (first.secure && !secure)) {
        // Credentials go only where they were meant to: the same host, never from https to http.
        delete headers.authorization;
        delete headers.cookie;
        if (!sameHost) delete headers.host;
        request.auth = undefined;
      }
    }
    const saved = control.redirect!.options.headers as Record<string, unknown>;
    if (request.auth && !saved.authorization) saved.authorization = `Basic ${Buffer.from(request.auth as string).toString('base64')}`;
    req = ws._req = (secure ? https : http).request(request as https.RequestOptions);
    if (ws._redirects > 0) ws.emit('redirect', ws.url, req);
  } else {
    req = ws._req = (secure ? https : http).request(request as https.RequestOptions);
  }

  if (opts.handshakeTimeout) {
    req.on('timeout', () => abortHandshake(control, req, 'Opening handshake has timed out'));
  }
  req.on('error', (err) => {
    if (ws._req !== req || ABORTED.has(req)) return;
    ws._req = null;
    control.errorAndClose(err);
  });
  req.on('response', (res) => {
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location && opts.followRedirects && status >= 300 && status < 400) {
      if (++ws._redirects > opts.maxRedirects) {
        abortHandshake(control, req, 'Maximum redirects exceeded');
        return;
      }
      req.destroy();
      let next: URL;
      try {
        next = new URL(location, address);
      } catch {
        control.errorAndClose(new SyntaxError(`Invalid URL: ${location}`));
        return;
      }
      connect(control, next, protocols, control.redirect?.options ?? options);
    } else if (!ws.emit('unexpected-response', req, res)) {
      abortHandshake(control, req, `Unexpected server response: ${status}`);
    }
  });
  req.on('upgrade', (res: IncomingMessage, socket: net.Socket, head: Buffer) => {
    ws.emit('upgrade', res);
    // A listener may have closed or terminated the WebSocket.
    if (control.readyState() !== CONNECTING) return;
    ws._req = null;
    const fail = (message: string) => abortSocket(control, socket, message);
    const upgrade = res.headers.upgrade;
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return fail('Invalid Upgrade header');
    if (res.headers['sec-websocket-accept'] !== computeAccept(key)) return fail('Invalid Sec-WebSocket-Accept header');
    const chosen = res.headers['sec-websocket-protocol'];
    if (chosen !== undefined) {
      if (offered.size === 0) return fail('Server sent a subprotocol but none was requested');
      if (!offered.has(chosen)) return fail('Server sent an invalid subprotocol');
    } else if (offered.size > 0) {
      return fail('Server sent no subprotocol');
    }
    let deflate: DeflateParams | null = null;
    const extensionHeader = res.headers['sec-websocket-extensions'];
    if (extensionHeader !== undefined) {
      if (deflateOptions === null) return fail('Server sent a Sec-WebSocket-Extensions header but no extension was requested');
      const answers = parseExtensions(extensionHeader);
      if (answers === null || answers.length === 0) return fail('Invalid Sec-WebSocket-Extensions header');
      if (answers.some((a) => a.name !== 'permessage-deflate')) return fail('Server indicated an extension that was not requested');
      if (answers.length > 1) return fail('Invalid Sec-WebSocket-Extensions header');
      const agreed = clientAccept(answers[0]!, deflateOptions);
      if (typeof agreed === 'string') return fail('Invalid Sec-WebSocket-Extensions header');
      deflate = agreed;
    }
    const settings = connSettings({
      role: 'client',
      maxMessageSize: opts.maxPayload === 0 ? Number.MAX_SAFE_INTEGER : opts.maxPayload,
      maxFragments: fragmentLimit(opts.maxFragments),
      closeTimeout: opts.closeTimeout,
      compression: {
        threshold: deflateOptions?.threshold,
        level: deflateOptions?.zlibDeflateOptions?.level ?? undefined,
      },
    });
    control.open(socket, settings, deflate, head, chosen ?? '', opts.generateMask);
  });
  if (opts.finishRequest) opts.finishRequest(req, ws);
  else req.end();
}

/** Abandon the handshake request: the error is emitted on the next tick, then `close` (1006). */
export function abortHandshake(control: ClientControl, req: ClientRequest | null, message: string): void {
  control.closing();
  const err = new Error(message);
  if (req !== null) {
    ABORTED.add(req);
    req.destroy();
    if (req.socket && !req.socket.destroyed) req.socket.destroy();
  }
  process.nextTick(() => control.errorAndClose(err));
}

/** Fail a handshake whose 101 response was wrong: the socket is destroyed with the error. */
function abortSocket(control: ClientControl, socket: net.Socket, message: string): void {
  control.closing();
  socket.destroy(new Error(message));
  socket.once('error', (err) => control.emitError(err));
  socket.once('close', () => control.emitClose());
}

function netConnect(options: net.NetConnectOpts & { socketPath?: string }): net.Socket {
  return net.connect({ ...options, path: options.socketPath } as net.NetConnectOpts);
}

function tlsConnect(options: tls.ConnectionOptions & { host?: string }): tls.TLSSocket {
  const tlsOptions = { ...options, path: undefined } as tls.ConnectionOptions;
  // SNI carries host names only, never IP addresses; '' turns it off.
  if (!tlsOptions.servername && tlsOptions.servername !== '') {
    tlsOptions.servername = net.isIP(options.host ?? '') ? '' : options.host;
  }
  return tls.connect(tlsOptions);
}
