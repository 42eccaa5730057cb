/**
 * Upgrader: the server side of the opening handshake, for the `upgrade`
 * event of any Node `http.Server` (and so Express, Fastify, Hono and the
 * like; RFC 6455 §4.2) and the `connect` event of a `node:http2` server
 * that allows extended CONNECT (RFC 8441).
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Defaults } from './constants.js';
import { Conn, type ConnSettings, connSettings } from './conn.js';
import { HandshakeError } from './errors.js';
import { checkOptions, UPGRADER_RULES } from './options.js';
import { buildConnectError, buildConnectResponse, checkConnectRequest } from './protocol/connect.js';
import type { DeflateOptions } from './protocol/extensions.js';
import { buildAcceptResponse, buildErrorResponse, checkRequest, headerValue } from './protocol/handshake.js';

/**
 * UpgradeRequest is a request that may open a WebSocket: an HTTP/1.1
 * upgrade (`http.Server`'s `upgrade` event), or an HTTP/2 extended CONNECT
 * (the `connect` event of an `http2` server; `httpVersionMajor` is 2).
 */
export type UpgradeRequest = IncomingMessage | Http2ServerRequest;

const EMPTY = Buffer.alloc(0);

/** isHttp2 tells an HTTP/2 request from an HTTP/1.1 one. */
function isHttp2(req: UpgradeRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

/** isServerStream tells an HTTP/2 stream a server answers on from a socket. */
function isServerStream(socket: Duplex): socket is ServerHttp2Stream {
  return typeof (socket as Partial<ServerHttp2Stream>).respond === 'function';
}

/**
 * Options for {@link Upgrader}. Every field is optional; `undefined` means the
 * default. The constructor checks them: an unknown name or a wrong type
 * throws TypeError, a number out of range RangeError.
 */
export interface UpgraderOptions {
  /**
   * Time allowed for the handshake, in ms, 0 to 2147483647; 0 turns it off.
   * Default 10 s. Apply it to the HTTP server with
   * {@link Upgrader.configureServer} so a client that stalls mid-request is
   * dropped.
   */
  handshakeTimeout?: number;
  /**
   * Bytes of received messages queued before the socket is paused, 0 to
   * 2147483647 (0: pause while any message waits unread). Default 64 KiB.
   */
  readBufferSize?: number;
  /**
   * High-water mark of the outgoing buffer in bytes: `write` waits while more
   * is queued. From the socket's own high-water mark (16 KiB on Node 20,
   * 64 KiB from Node 22; Node signals room only past it) to 2147483647.
   * Default 64 KiB.
   */
  writeBufferSize?: number;
  /**
   * Largest message accepted, after decompression (larger: close 1009), 1 to
   * 2147483647 bytes. Default 1 MiB.
   */
  maxMessageSize?: number;
  /**
   * Most frames one message may have, its first frame and continuations,
   * empty ones included (more: close 1009), 1 to 2147483647. Default 16,384
   * (see `Defaults.maxFragments`).
   */
  maxFragments?: number;
  /**
   * Decides whether a request's Origin is allowed (false: 403). Default: a
   * request without Origin passes; one with Origin passes only when its host
   * equals the Host header (`:authority` over HTTP/2), as gorilla/websocket
   * does.
   */
  checkOrigin?(req: UpgradeRequest): boolean;
  /** Subprotocols this server speaks, in order of preference: distinct HTTP tokens. Default none. */
  subprotocols?: string[];
  /**
   * Accept permessage-deflate (true, or settings). Default false. When on, the
   * server resets its compressor after each message unless `noContextTakeover`
   * is set to false (see `Defaults.serverNoContextTakeover`).
   */
  compression?: boolean | DeflateOptions;
  /** Time the closing handshake may take, in ms, 1 to 2147483647. Default 5 s. */
  closeTimeout?: number;
  /**
   * Answers a refused handshake; `socket` is the HTTP/2 stream for an
   * HTTP/2 request. Default: {@link rejectUpgrade}, a plain-text HTTP
   * response with the status and reason, then the socket (or stream) is
   * closed.
   */
  onError?(req: UpgradeRequest, socket: Duplex, status: number, reason: string, headers: Record<string, string>): void;
}

/**
 * sameOrigin is the default origin check: no Origin, or an Origin whose
 * host equals Host (over HTTP/2, `:authority`, which takes its place: RFC
 * 9113 §8.3.1).
 */
export function sameOrigin(req: UpgradeRequest): boolean {
  const origin = headerValue(req.headers, 'origin');
  if (origin === undefined) return true;
  const host = headerValue(req.headers, 'host') ?? headerValue(req.headers, ':authority') ?? '';
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * rejectUpgrade answers an upgrade request with a plain-text HTTP error and
 * closes the socket: for routes that are not WebSocket endpoints, or limits.
 * Given the HTTP/2 stream of an extended CONNECT, it answers on the stream
 * and ends it; the session and its other streams go on.
 */
export function rejectUpgrade(socket: Duplex, status: number, reason: string, headers: Record<string, string> = {}): void {
  if (isServerStream(socket)) {
    if (!socket.headersSent && !socket.destroyed) {
      socket.respond(buildConnectError(status, headers));
      socket.end(`${reason}\n`);
    }
  } else if (socket.writable) {
    socket.end(buildErrorResponse(status, reason, headers));
  }
  // A peer that never reads must not hold the socket open.
  const timer = setTimeout(() => socket.destroy(), Defaults.closeTimeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** Upgrader turns HTTP upgrade requests into {@link Conn}s. */
export class Upgrader {
  readonly #options: UpgraderOptions;
  readonly #compression: DeflateOptions | false;
  /** Shared by every connection this upgrader makes. */
  readonly #settings: ConnSettings;

  /**
   * Make an upgrader with `options`. Throws TypeError for an unknown option
   * or a value of the wrong type, RangeError for a number out of range.
   */
  constructor(options: UpgraderOptions = {}) {
    this.#options = checkOptions('Upgrader', UPGRADER_RULES, options);
    this.#compression = options.compression
      ? { noContextTakeover: Defaults.serverNoContextTakeover, ...(options.compression === true ? {} : options.compression) }
      : false;
    this.#settings = connSettings({
      role: 'server',
      maxMessageSize: options.maxMessageSize,
      maxFragments: options.maxFragments,
      readBufferSize: options.readBufferSize,
      writeBufferSize: options.writeBufferSize,
      closeTimeout: options.closeTimeout,
      compression: this.#compression || undefined,
    });
  }

  /** The handshake timeout in ms (the option, or the default); 0 when turned off. */
  get handshakeTimeout(): number {
    return this.#options.handshakeTimeout ?? Defaults.handshakeTimeoutMs;
  }

  /**
   * configureServer applies the handshake timeout to an HTTP server: a
   * request whose head has not fully arrived in time is dropped. Node checks
   * at the server's `connectionsCheckingInterval` (a constructor option,
   * default 30 s: pass a smaller one for a prompt drop). A handshake timeout
   * of 0 sets `headersTimeout` to 0, which Node takes as no limit.
   */
  configureServer(server: { headersTimeout: number; requestTimeout: number }): void {
    const timeout = this.handshakeTimeout;
    server.headersTimeout = timeout;
    // Node requires requestTimeout (0: off) to be at least headersTimeout.
    if (server.requestTimeout !== 0 && server.requestTimeout < timeout) server.requestTimeout = timeout;
  }

  /**
   * upgrade completes the handshake for `req` and resolves to the open
   * connection. A bad request is answered (400, 403, 405 or 426, plain text,
   * through `onError`) and the promise rejects with HandshakeError carrying
   * that status. `responseHeaders` are added to the 101 response.
   *
   * Over HTTP/2 (RFC 8441), call it from the server's `connect` event with
   * the request and its stream, `upgrader.upgrade(req, req.stream)`: the
   * answer is 200 (no Sec-WebSocket-Accept), `responseHeaders` are added to
   * it, and the Conn runs over the stream. A bad extended CONNECT gets 400,
   * an unknown `:protocol` 501. The server must be made with `settings: {
   * enableConnectProtocol: true }`, or clients never send one; Node emits
   * `connect` only once the server has a `request` listener.
   */
  upgrade(
    req: UpgradeRequest,
    socket: Duplex,
    head: Buffer = EMPTY,
    responseHeaders: Record<string, string | number | readonly string[]> = {},
  ): Promise<Conn> {
    if (isHttp2(req)) return this.#upgradeStream(req, socket, responseHeaders);
    const refuse = (status: number, reason: string, headers: Record<string, string> = {}) => {
      if (this.#options.onError) this.#options.onError(req, socket, status, reason, headers);
      else rejectUpgrade(socket, status, reason, headers);
      return Promise.reject(new HandshakeError(`WebSocket handshake refused: ${reason}`, status, headers, reason));
    };
    // Node keeps only the first of several Host headers; pass them all so the check can refuse them.
    const hosts = req.headersDistinct.host;
    const headers = hosts !== undefined && hosts.length > 1 ? { ...req.headers, host: hosts } : req.headers;
    const check = checkRequest(req.method ?? '', req.httpVersion, headers, {
      subprotocols: this.#options.subprotocols ?? [],
      compression: this.#compression,
    });
    if (!check.ok) return refuse(check.status, check.reason, check.headers);
    const checkOrigin = this.#options.checkOrigin ?? sameOrigin;
    if (!checkOrigin(req)) {
      return refuse(403, `Origin ${JSON.stringify(headerValue(req.headers, 'origin') ?? '')} is not allowed`);
    }
    if (!socket.writable) {
      return Promise.reject(new HandshakeError('WebSocket handshake failed: the client went away'));
    }
    let response: string;
    try {
      response = buildAcceptResponse(check, responseHeaders);
    } catch (err) {
      return refuse(500, (err as Error).message);
    }
    socket.write(response);
    const conn = new Conn(socket as Socket, this.#settings, { deflate: check.deflate, subprotocol: check.protocol, extensions: check.deflate?.header ?? '' }, head);
    return Promise.resolve(conn);
  }

  /** The handshake of RFC 8441 §5 on the stream of an extended CONNECT: the same checks, answered 200. */
  #upgradeStream(req: Http2ServerRequest, socket: Duplex, responseHeaders: Record<string, string | number | readonly string[]>): Promise<Conn> {
    if (socket !== req.stream) {
      return Promise.reject(new TypeError('Upgrader.upgrade: an HTTP/2 request is answered on its own stream: pass req.stream as the socket'));
    }
    const stream = req.stream;
    const refuse = (status: number, reason: string, headers: Record<string, string> = {}) => {
      if (this.#options.onError) this.#options.onError(req, stream, status, reason, headers);
      else rejectUpgrade(stream, status, reason, headers);
      return Promise.reject(new HandshakeError(`WebSocket handshake refused: ${reason}`, status, headers, reason));
    };
    const check = checkConnectRequest(req.headers, {
      subprotocols: this.#options.subprotocols ?? [],
      compression: this.#compression,
    });
    if (!check.ok) return refuse(check.status, check.reason, check.headers);
    const checkOrigin = this.#options.checkOrigin ?? sameOrigin;
    if (!checkOrigin(req)) {
      return refuse(403, `Origin ${JSON.stringify(headerValue(req.headers, 'origin') ?? '')} is not allowed`);
    }
    if (stream.destroyed || stream.closed || stream.headersSent) {
      return Promise.reject(new HandshakeError('WebSocket handshake failed: the client went away'));
    }
    try {
      stream.respond(buildConnectResponse(check, responseHeaders));
    } catch (err) {
      return refuse(500, (err as Error).message);
    }
    const agreed = { deflate: check.deflate, subprotocol: check.protocol, extensions: check.deflate?.header ?? '', http2: true };
    return Promise.resolve(new Conn(stream, this.#settings, agreed));
  }
}

