/**
 * WebSocketServer: ws's server API over wskit. It answers the opening
 * handshake by ws's rules (versions 13 and 8, `verifyClient`,
 * `handleProtocols`, the `headers` event, ws's status codes and texts) and
 * hands each upgraded socket to a {@link WebSocket}, whose Conn parses,
 * limits and compresses as every wskit connection does.
 */
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ConnSettings, connSettings } from '../conn.js';
import type { DeflateParams } from '../protocol/extensions.js';
import { parseExtensions } from '../protocol/extensions.js';
import { computeAccept } from '../protocol/handshake.js';
import { type PerMessageDeflateOptions, serverAccept } from './deflate-options.js';
import { CLOSE_TIMEOUT, fragmentLimit, MAX_FRAGMENTS, MAX_PAYLOAD } from './client.js';
import { AGREED, ATTACH, WebSocket } from './websocket.js';

/** What `verifyClient` is told about a request. */
export interface VerifyClientInfo {
  /** The Origin header (Sec-WebSocket-Origin for version 8). */
  origin: string | undefined;
  /** True over TLS. */
  secure: boolean;
  /** The upgrade request. */
  req: IncomingMessage;
}
/** The async form's callback: accept, or refuse with a status, reason phrase and headers. */
export type VerifyClientCallback = (result: boolean, code?: number, message?: string, headers?: http.OutgoingHttpHeaders) => void;

/** Options of {@link WebSocketServer}: one of `port`, `server` or `noServer` is required. */
export interface ServerOptions<T extends typeof WebSocket = typeof WebSocket> {
  /** Always true in wskit (accepted, ignored). */
  allowSynchronousEvents?: boolean;
  /** Answer pings with pongs. Default true. */
  autoPong?: boolean;
  /** The listen backlog when `port` is set. */
  backlog?: number;
  /** Keep the open connections in `clients`. Default true. */
  clientTracking?: boolean;
  /** Time in ms the closing handshake may take. Default 30 s. */
  closeTimeout?: number;
  /** Picks the subprotocol from the client's (default: its first); a falsy return sends none. */
  handleProtocols?: (protocols: Set<string>, request: IncomingMessage) => string | false | null | undefined;
  /** The host to listen on when `port` is set. */
  host?: string;
  /** Accepted and ignored: wskit stores a message's bytes contiguously, never one object per socket read. */
  maxBufferedChunks?: number;
  /** Most frames one message may have, empty ones included (more: `WS_ERR_TOO_MANY_BUFFERED_PARTS`, close 1008); 0 for no limit. Default 16,384. */
  maxFragments?: number;
  /** Largest message accepted, in bytes, after decompression; 0 means 2^53 − 1. Default 100 MiB. */
  maxPayload?: number;
  /** Do not attach to any HTTP server: call `handleUpgrade` yourself. */
  noServer?: boolean;
  /** Accept only this path (the query string is ignored); others get 400. */
  path?: string;
  /** Accept permessage-deflate. Default false. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Create an HTTP server listening on this port (it answers other requests with 426). */
  port?: number;
  /** Attach to this HTTP or HTTPS server. */
  server?: http.Server | import('node:https').Server;
  /** Accepted and ignored: wskit always validates UTF-8. */
  skipUTF8Validation?: boolean;
  /** Decides whether to accept a client; the two-argument form answers through its callback. */
  verifyClient?: ((info: VerifyClientInfo) => boolean) | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);
  /** The class to make connections with: WebSocket or a subclass of it. */
  WebSocket?: T;
}

/** The options a {@link WebSocketServer} runs with: those given, with ws's defaults filled in. */
export interface ResolvedServerOptions<T extends typeof WebSocket = typeof WebSocket> extends ServerOptions<T> {
  /** Largest message accepted (0: no limit). */
  maxPayload: number;
  /** Whether `clients` is kept. */
  clientTracking: boolean;
  /** Whether pings are answered. */
  autoPong: boolean;
  /** Time in ms the closing handshake may take. */
  closeTimeout: number;
  /** The class connections are made with. */
  WebSocket: T;
  /** The permessage-deflate settings, or false when it is off. */
  perMessageDeflate: false | PerMessageDeflateOptions;
}

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;
/** Sockets already handed to a WebSocket: upgrading one twice is a configuration error. */
const UPGRADED = new WeakSet<Duplex>();

function socketOnError(this: Duplex): void {
  this.destroy();
}

/** Answer a refused handshake as ws does (status, its text, an HTML-typed body) and close the socket. */
function abortHandshake(socket: Duplex, code: number, message?: string, headers?: http.OutgoingHttpHeaders): void {
  const body = message || http.STATUS_CODES[code] || '';
  const all: http.OutgoingHttpHeaders = {
    Connection: 'close',
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  };
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\n` +
      Object.entries(all)
        .map(([name, value]) => `${name}: ${String(value)}`)
        .join('\r\n') +
      `\r\n\r\n${body}`,
  );
}

/** The client's subprotocols, or null when the header is malformed (empty names, bad characters, repeats). */
function parseProtocols(header: string): Set<string> | null {
  const set = new Set<string>();
  for (const part of header.split(',')) {
    const name = part.trim();
    if (!TOKEN.test(name) || set.has(name)) return null;
    set.add(name);
  }
  return set;
}

/**
 * WebSocketServer accepts WebSocket connections on its own HTTP server
 * (`port`), an existing one (`server`), or wherever `handleUpgrade` is
 * called (`noServer`). Each connection is announced by the `connection`
 * event with the WebSocket and the upgrade request.
 */
export class WebSocketServer<T extends typeof WebSocket = typeof WebSocket> extends EventEmitter {
  /** The options given, with ws's defaults filled in. */
  readonly options: ResolvedServerOptions<T>;
  /** The open connections, when `clientTracking` is on (the default). */
  clients: Set<InstanceType<T>> | undefined;
  /** @internal The HTTP server in use, or null (ws's `_server`). */
  _server: http.Server | import('node:https').Server | null = null;
  /** @internal RUNNING (0), CLOSING (1) or CLOSED (2) (ws's `_state`). */
  _state = RUNNING;
  #removeListeners: (() => void) | null = null;
  #shouldEmitClose = false;
  readonly #settings: ConnSettings;

  /** Create the server. `callback` listens for `listening` when `port` is set. */
  constructor(options: ServerOptions<T>, callback?: () => void) {
    super();
    const merged = {
      allowSynchronousEvents: true,
      autoPong: true,
      maxPayload: MAX_PAYLOAD,
      maxFragments: MAX_FRAGMENTS,
      skipUTF8Validation: false,
      perMessageDeflate: false as boolean | PerMessageDeflateOptions,
      clientTracking: true,
      closeTimeout: CLOSE_TIMEOUT,
      WebSocket: WebSocket as T,
      ...options,
    };
    if (
      (merged.port == null && !merged.server && !merged.noServer) ||
      (merged.port != null && (merged.server || merged.noServer)) ||
      (merged.server && merged.noServer)
    ) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    if (merged.port != null) {
      this._server = http.createServer((_req, res) => {
        const body = http.STATUS_CODES[426]!;
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      this._server.listen(merged.port, merged.host, merged.backlog, callback);
    } else if (merged.server) {
      this._server = merged.server;
    }
    if (this._server) {
      const server = this._server;
      const onListening = () => this.emit('listening');
      const onError = (err: Error) => this.emit('error', err);
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        this.handleUpgrade(req, socket, head, (ws, request) => this.emit('connection', ws, request));
      };
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      this.#removeListeners = () => {
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
        server.removeListener('upgrade', onUpgrade);
      };
    }
    const deflate = merged.perMessageDeflate === true ? {} : merged.perMessageDeflate || false;
    if (merged.clientTracking) this.clients = new Set();
    this.options = { ...merged, perMessageDeflate: deflate };
    this.#settings = connSettings({
      role: 'server',
      maxMessageSize: merged.maxPayload === 0 ? Number.MAX_SAFE_INTEGER : merged.maxPayload,
      maxFragments: fragmentLimit(merged.maxFragments),
      closeTimeout: merged.closeTimeout,
      compression: deflate ? { threshold: deflate.threshold, level: deflate.zlibDeflateOptions?.level } : undefined,
    });
  }

  /** The bound address of the server (null once closed). Throws in `noServer` mode. */
  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    if (!this._server) return null;
    return this._server.address();
  }

  /**
   * close stops accepting connections and closes the HTTP server if this
   * server made it. Open connections are left alone. `close` is emitted (and
   * `cb` called) once the HTTP server has closed, or, with an external
   * server and client tracking, once the last connection has; `cb` gets an
   * error if the server was already closed.
   */
  close(cb?: (err?: Error) => void): void {
    if (this._state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(emitClose, this);
      return;
    }
    if (cb) this.once('close', cb);
    if (this._state === CLOSING) return;
    this._state = CLOSING;
    const server = this._server;
    this.#removeListeners?.();
    this.#removeListeners = null;
    this._server = null;
    if (this.options.noServer || this.options.server) {
      if (this.clients && this.clients.size > 0) this.#shouldEmitClose = true;
      else process.nextTick(emitClose, this);
    } else {
      server!.close(() => emitClose(this));
    }
  }

  /** shouldHandle tells whether this server takes `req`: by default, whether its path matches the `path` option. */
  shouldHandle(req: IncomingMessage): boolean {
    if (this.options.path) {
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const pathname = query !== -1 ? url.slice(0, query) : url;
      if (pathname !== this.options.path) return false;
    }
    return true;
  }

  /**
   * handleUpgrade runs the opening handshake for an `upgrade` request and
   * calls `cb(ws, req)` once the connection is open. A bad request is
   * answered (400, 401, 405, 426, 503 as ws does) or, when there are
   * `wsClientError` listeners, reported to them instead.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: InstanceType<T>, req: IncomingMessage) => void): void {
    socket.on('error', socketOnError);
    const key = req.headers['sec-websocket-key'];
    const upgrade = req.headers.upgrade;
    const version = Number(req.headers['sec-websocket-version']);
    if (req.method !== 'GET') return this.#refuse(req, socket, 405, 'Invalid HTTP method');
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return this.#refuse(req, socket, 400, 'Invalid Upgrade header');
    if (key === undefined || !KEY.test(key)) return this.#refuse(req, socket, 400, 'Missing or invalid Sec-WebSocket-Key header');
    if (version !== 13 && version !== 8) {
      return this.#refuse(req, socket, 400, 'Missing or invalid Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13, 8' });
    }
    if (!this.shouldHandle(req)) return abortHandshake(socket, 400);
    let protocols = new Set<string>();
    const protocolHeader = req.headers['sec-websocket-protocol'];
    if (protocolHeader !== undefined) {
      const parsed = parseProtocols(protocolHeader);
      if (parsed === null) return this.#refuse(req, socket, 400, 'Invalid Sec-WebSocket-Protocol header');
      protocols = parsed;
    }
    let deflate: DeflateParams | null = null;
    const extensionHeader = req.headers['sec-websocket-extensions'];
    if (this.options.perMessageDeflate && extensionHeader !== undefined) {
      const offers = parseExtensions(extensionHeader);
      const agreed = offers === null ? 'invalid' : serverAccept(offers, this.options.perMessageDeflate);
      if (agreed === 'invalid') return this.#refuse(req, socket, 400, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
      deflate = agreed;
    }
    const verify = this.options.verifyClient;
    if (verify) {
      const info: VerifyClientInfo = {
        origin: req.headers[version === 8 ? 'sec-websocket-origin' : 'origin'] as string | undefined,
        secure: Boolean((req.socket as { authorized?: boolean }).authorized || (req.socket as { encrypted?: boolean }).encrypted),
        req,
      };
      if (verify.length === 2) {
        (verify as (info: VerifyClientInfo, cb: VerifyClientCallback) => void)(info, (verified, code, message, headers) => {
          if (!verified) return abortHandshake(socket, code || 401, message, headers);
          this.completeUpgrade(deflate, key, protocols, req, socket, head, cb);
        });
        return;
      }
      if (!(verify as (info: VerifyClientInfo) => boolean)(info)) return abortHandshake(socket, 401);
    }
    this.completeUpgrade(deflate, key, protocols, req, socket, head, cb);
  }

  /**
   * completeUpgrade sends the 101 response and opens the connection; the
   * last step of {@link handleUpgrade}. Throws if the socket was already
   * upgraded (handleUpgrade called twice for one request).
   */
  completeUpgrade(
    deflate: DeflateParams | null,
    key: string,
    protocols: Set<string>,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (ws: InstanceType<T>, req: IncomingMessage) => void,
  ): void {
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    if (UPGRADED.has(socket)) {
      throw new Error('server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration');
    }
    if (this._state > RUNNING) return abortHandshake(socket, 503);
    const headers = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${computeAccept(key)}`];
    const ws = new (this.options.WebSocket as typeof WebSocket)(null, undefined, this.options) as InstanceType<T>;
    let protocol = '';
    if (protocols.size > 0) {
      const chosen = this.options.handleProtocols ? this.options.handleProtocols(protocols, req) : protocols.values().next().value;
      if (chosen) {
        headers.push(`Sec-WebSocket-Protocol: ${chosen}`);
        protocol = chosen;
      }
    }
    if (deflate) headers.push(`Sec-WebSocket-Extensions: ${deflate.header}`);
    ws[AGREED](protocol, deflate ? 'permessage-deflate' : '');
    this.emit('headers', headers, req);
    UPGRADED.add(socket);
    socket.write(headers.concat('\r\n').join('\r\n'));
    socket.removeListener('error', socketOnError);
    ws[ATTACH](socket, this.#settings, deflate, head);
    if (this.clients) {
      const clients = this.clients;
      clients.add(ws);
      ws.on('close', () => {
        clients.delete(ws);
        if (this.#shouldEmitClose && clients.size === 0) process.nextTick(emitClose, this);
      });
    }
    cb(ws, req);
  }

  #refuse(req: IncomingMessage, socket: Duplex, code: number, message: string, headers?: http.OutgoingHttpHeaders): void {
    if (this.listenerCount('wsClientError') > 0) {
      this.emit('wsClientError', new Error(message), socket, req);
    } else {
      abortHandshake(socket, code, message, headers);
    }
  }
}

// The events, for TypeScript.
export interface WebSocketServer<T extends typeof WebSocket = typeof WebSocket> {
  /** `connection`: a client connected; `ws` is its WebSocket, `request` the upgrade request. */
  on(event: 'connection', listener: (this: WebSocketServer<T>, ws: InstanceType<T>, request: IncomingMessage) => void): this;
  /** `error`: the HTTP server failed (e.g. its port is taken). */
  on(event: 'error', listener: (this: WebSocketServer<T>, error: Error) => void): this;
  /** `headers`: the 101 response's lines, before they are written; push more to add headers. */
  on(event: 'headers', listener: (this: WebSocketServer<T>, headers: string[], request: IncomingMessage) => void): this;
  /** `wsClientError`: a handshake was refused; the listener must answer on and close `socket`. */
  on(event: 'wsClientError', listener: (this: WebSocketServer<T>, error: Error, socket: Duplex, request: IncomingMessage) => void): this;
  /** `listening` once the HTTP server is bound; `close` once the server has closed. */
  on(event: 'close' | 'listening', listener: (this: WebSocketServer<T>) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  /** Any other event, as on every EventEmitter. */
  on(event: string | symbol, listener: (this: WebSocketServer<T>, ...args: any[]) => void): this;
  /** `connection`: a client connected; `ws` is its WebSocket, `request` the upgrade request. */
  once(event: 'connection', listener: (this: WebSocketServer<T>, ws: InstanceType<T>, request: IncomingMessage) => void): this;
  /** `error`: the HTTP server failed (e.g. its port is taken). */
  once(event: 'error', listener: (this: WebSocketServer<T>, error: Error) => void): this;
  /** `headers`: the 101 response's lines, before they are written; push more to add headers. */
  once(event: 'headers', listener: (this: WebSocketServer<T>, headers: string[], request: IncomingMessage) => void): this;
  /** `wsClientError`: a handshake was refused; the listener must answer on and close `socket`. */
  once(event: 'wsClientError', listener: (this: WebSocketServer<T>, error: Error, socket: Duplex, request: IncomingMessage) => void): this;
  /** `listening` once the HTTP server is bound; `close` once the server has closed. */
  once(event: 'close' | 'listening', listener: (this: WebSocketServer<T>) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  /** Any other event, as on every EventEmitter. */
  once(event: string | symbol, listener: (this: WebSocketServer<T>, ...args: any[]) => void): this;
}

function emitClose(server: WebSocketServer<typeof WebSocket>): void {
  server._state = CLOSED;
  server.emit('close');
}
