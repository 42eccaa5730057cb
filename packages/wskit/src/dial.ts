/**
 * dial: the client side of the opening handshake over ws:// and wss://:
 * an HTTP/1.1 upgrade on a TCP connection of its own (RFC 6455 §4.1), or
 * with `http2` an extended CONNECT on a stream of an HTTP/2 session (RFC
 * 8441; dial-http2.ts).
 */
import http from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Defaults } from './constants.js';
import { Conn, type ConnSettings, connSettings } from './conn.js';
import { dialStream } from './dial-http2.js';
import { HandshakeError, TimeoutError } from './errors.js';
import { Http2Unavailable } from './http2-sessions.js';
import { checkOptions, DIAL_RULES } from './options.js';
import { type DeflateOptions, deflateOfferHeader } from './protocol/extensions.js';
import { checkResponse, generateKey } from './protocol/handshake.js';
import { abortReason, flattenHeaders, MAX_ERROR_BODY } from './dial-support.js';

/**
 * Options for {@link dial}. Every field is optional; `undefined` means the
 * default. `dial` checks them: an unknown name or a wrong type rejects with
 * TypeError, a number out of range with RangeError.
 */
export interface DialOptions {
  /**
   * Extra request headers (Cookie, Authorization, Origin, ...): a plain
   * object whose names are HTTP tokens and whose values are strings.
   */
  headers?: Record<string, string>;
  /** Time allowed for connecting and the handshake, in ms, 0 to 2147483647; 0 turns it off. Default 10 s. */
  handshakeTimeout?: number;
  /** Subprotocols to offer, in order of preference: distinct HTTP tokens. Default none. */
  subprotocols?: string[];
  /** Offer permessage-deflate (true, or settings). Default false. */
  compression?: boolean | DeflateOptions;
  /** Largest message accepted, after decompression, 1 to 2147483647 bytes. Default 1 MiB. */
  maxMessageSize?: number;
  /**
   * Most frames one message may have, its first frame and continuations,
   * empty ones included (more: close 1009), 1 to 2147483647. Default 16,384.
   */
  maxFragments?: number;
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
  /** Largest response head accepted, 1 to 2147483647 bytes. Default 16 KiB. */
  maxHeaderSize?: number;
  /** TLS settings for wss:// (ca, servername, rejectUnauthorized, ...), passed to Node unchecked. */
  tls?: TlsOptions;
  /**
   * Cancels the dial: connecting and the handshake stop and `dial` rejects
   * with the signal's reason (an `AbortError` by default). As with gorilla's
   * DialContext, an established connection is not affected.
   */
  signal?: AbortSignal;
  /** Time the closing handshake may take before the TCP connection is dropped, in ms, 1 to 2147483647. Default 5 s. */
  closeTimeout?: number;
  /**
   * Open the WebSocket as a stream of an HTTP/2 connection (RFC 8441)
   * rather than on a TCP connection of its own. `true`: over a session to
   * the URL's origin that every such dial with equal `tls` settings shares
   * while any of its WebSockets is open (wss: negotiates h2 by ALPN; ws:
   * speaks h2c with prior knowledge, for loopback and tests); it closes when
   * the last one ends. A session from `http2.connect`: over that one, which
   * stays the caller's to close. The server must allow extended CONNECT;
   * if it does not, or does not speak HTTP/2, `dial` rejects with
   * HandshakeError (status 0), unless `http1Fallback` is set. Default false.
   */
  http2?: boolean | ClientHttp2Session;
  /**
   * With `http2`: when the server does not speak HTTP/2 or does not allow
   * extended CONNECT, dial over HTTP/1.1 instead of rejecting. Default false.
   */
  http1Fallback?: boolean;
}

/** The server's handshake response. */
export interface HandshakeResponse {
  /** HTTP status: 101. */
  status: number;
  /** Response headers, lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
}

/** What {@link dial} resolves to. */
export interface DialResult {
  /** The open connection. */
  conn: Conn;
  /** The server's response: 101 over HTTP/1.1, 200 over HTTP/2; status and headers. */
  response: HandshakeResponse;
}

/** @internal What both kinds of dial share: the checked options and what they make of them. */
export interface DialPlan {
  target: URL;
  options: DialOptions;
  compression: DeflateOptions | false;
  subprotocols: string[];
  /** The handshake timeout in ms; 0: none. */
  timeout: number;
  settings: ConnSettings;
}

/**
 * dial opens a WebSocket connection to `url` (ws:// or wss://). It rejects
 * with HandshakeError when the server answers anything but a valid 101 (the
 * error carries status, headers and body; the TCP connection is closed), with
 * TimeoutError when the handshake takes longer than `handshakeTimeout`, and
 * with the socket's error when the server cannot be reached. A bad URL, an
 * unknown option or a value of the wrong type rejects with TypeError, a
 * number out of range with RangeError, before anything is sent. With
 * `http2` the handshake is an extended CONNECT answered by 200 (see
 * {@link DialOptions.http2}).
 */
export function dial(url: string | URL, options: DialOptions = {}): Promise<DialResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new TypeError(`Invalid WebSocket URL: ${String(url)}`));
  }
  if (target.protocol !== 'ws:' && target.protocol !== 'wss:') {
    return Promise.reject(new TypeError(`WebSocket URL must use ws: or wss:, not ${target.protocol}`));
  }
  if (target.hash) return Promise.reject(new TypeError('WebSocket URL must not have a fragment'));
  try {
    checkOptions('dial', DIAL_RULES, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  const compression: DeflateOptions | false =
    options.compression === true ? {} : options.compression ? options.compression : false;
  const plan: DialPlan = {
    target,
    options,
    compression,
    subprotocols: options.subprotocols ?? [],
    timeout: options.handshakeTimeout ?? Defaults.handshakeTimeoutMs,
    settings: connSettings({
      role: 'client',
      maxMessageSize: options.maxMessageSize,
      maxFragments: options.maxFragments,
      readBufferSize: options.readBufferSize,
      writeBufferSize: options.writeBufferSize,
      compression: compression || undefined,
      closeTimeout: options.closeTimeout,
    }),
  };
  if (options.http2 === undefined || options.http2 === false) return dialUpgrade(plan);
  const overStream = dialStream(plan);
  if (options.http1Fallback !== true) return overStream;
  return overStream.catch((err: unknown) => (err instanceof Http2Unavailable ? dialUpgrade(plan) : Promise.reject(err)));
}

/** dialUpgrade is the HTTP/1.1 dial: a GET with Upgrade on a connection of its own, answered by 101 (RFC 6455 §4.1). */
function dialUpgrade({ target, options, compression, subprotocols, timeout, settings }: DialPlan): Promise<DialResult> {
  const signal = options.signal;
  const secure = target.protocol === 'wss:';
  const key = generateKey();
  const headers: Record<string, string> = {
    ...options.headers,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  if (subprotocols.length > 0) headers['Sec-WebSocket-Protocol'] = subprotocols.join(', ');
  if (compression) headers['Sec-WebSocket-Extensions'] = deflateOfferHeader(compression);

  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request({
      ...(secure ? options.tls : {}),
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || (secure ? 443 : 80),
      path: `${target.pathname}${target.search}`,
      method: 'GET',
      headers,
      agent: false,
      maxHeaderSize: options.maxHeaderSize ?? Defaults.maxHeaderSize,
    });
    let settled = false;
    const settle = (err: Error | null, result?: DialResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(result!);
    };
    // handshakeTimeout 0: no timer, as Node's timeouts take 0.
    const timer =
      timeout === 0
        ? undefined
        : setTimeout(() => {
            settle(new TimeoutError(`WebSocket handshake with ${target.host} took longer than ${timeout} ms`));
            request.destroy();
          }, timeout);
    const onAbort = () => {
      settle(abortReason(signal!));
      request.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (err) => settle(err));
    request.on('response', (res) => {
      // Anything but 101: keep a bounded part of the body for the error.
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ERROR_BODY) chunks.push(chunk.subarray(0, MAX_ERROR_BODY - size));
        size += chunk.length;
        if (size >= MAX_ERROR_BODY) res.destroy();
      });
      const finish = () => {
        const body = Buffer.concat(chunks).toString('utf8');
        settle(
          new HandshakeError(
            `WebSocket handshake failed: server answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim(),
            res.statusCode ?? 0,
            flattenHeaders(res.headers),
            body,
          ),
        );
        request.destroy();
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    });
    request.on('upgrade', (res, socket: Socket, head: Buffer) => {
      const responseHeaders = flattenHeaders(res.headers);
      const check = checkResponse(res.headers, key, subprotocols, compression);
      if (!check.ok) {
        socket.destroy();
        settle(new HandshakeError(`WebSocket handshake failed: ${check.reason}`, res.statusCode ?? 101, responseHeaders));
        return;
      }
      const conn = new Conn(socket, settings, { deflate: check.deflate, subprotocol: check.protocol, extensions: check.extensions }, head);
      if (settled) {
        conn.terminate();
        return;
      }
      settle(null, { conn, response: { status: res.statusCode ?? 101, headers: responseHeaders } });
    });
    request.end();
  });
}
