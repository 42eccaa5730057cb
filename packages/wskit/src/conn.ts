/**
 * Conn: one WebSocket connection, the I/O shell around the sans-I/O
 * {@link Connection}, over a transport: a TCP or TLS socket, or an HTTP/2
 * stream (RFC 8441; see `Transport` in conn-state.ts). It feeds socket bytes to the core, delivers messages
 * to readers, answers pings, runs the closing handshake, enforces deadlines
 * and applies backpressure both ways.
 *
 * This file is the public face; the work is split by concern over one
 * internal {@link ConnState}: conn-read.ts (inbox, readers, `for await`),
 * conn-receive.ts (socket bytes to events, inflate), conn-write.ts (frames,
 * batching, backpressure, the send queue), conn-close.ts (the closing
 * handshake) and conn-teardown.ts (terminate, deadlines, the end of TCP).
 */
import type { Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { CloseCode, Defaults, MessageType, Opcode } from './constants.js';
import { closePayload, onSocketEnd, startClose } from './conn-close.js';
import { listen, MessageIterator, read } from './conn-read.js';
import { onSocketData, receive } from './conn-receive.js';
import { ConnState, OWNER, type OwnedSocket, remoteAddress, type Transport } from './conn-state.js';
import { closedPromise, ignoreError, onSocketClosed, readDeadline, terminate, writeDeadline } from './conn-teardown.js';
import { isWritable, sendControl, sendFrame as sendStateFrame, writeMessage, writePrepared } from './conn-write.js';
import type { PushSink, WriteCallback } from './conn-push.js';
import type { CloseError } from './errors.js';
import { parseJSON } from './json.js';
import type { PreparedMessage } from './prepared-message.js';
import type { Connection } from './protocol/connection.js';
import type { DeflateOptions, DeflateParams } from './protocol/extensions.js';
import { UnsentPayload } from './unsent-payload.js';

/** A received data message. */
export interface Message {
  /** `'text'` (UTF-8, already validated) or `'binary'`. */
  type: MessageType;
  /** The payload. For text, `data.toString()` gives the string. */
  data: Buffer;
}

/**
 * MessageHandler is what {@link Conn.onMessage} calls with each message, in
 * order, and the Conn it came on (so one function can serve every
 * connection). Return nothing to take the next message as soon as it
 * arrives, or a promise to hold later messages back until it settles, as an
 * `await` in a `for await` loop does: they queue up to the read buffer, then
 * the socket is paused.
 */
export type MessageHandler = (message: Message, conn: Conn) => void | PromiseLike<void>;

/**
 * EndHandler is told, once, that no more messages will reach the handler:
 * `error` is null after a normal close (1000, 1001 or no code), where a
 * `for await` loop ends; otherwise it is what that loop would throw
 * (CloseError, ProtocolError, TimeoutError), or what the handler threw or
 * its promise rejected with.
 */
export type EndHandler = (error: Error | null, conn: Conn) => void;

/** Settings a Conn is built with; `Upgrader` and `dial` fill them in. */
export interface ConnOptions {
  /** Which end this is: a server expects masked frames and sends unmasked ones, a client the reverse. */
  role: 'server' | 'client';
  /** Largest message accepted, after decompression. Default 1 MiB. */
  maxMessageSize?: number;
  /** Most frames one message may have, empty ones included (more: close 1009). Default 16,384. */
  maxFragments?: number;
  /** Received bytes queued for readers before the socket is paused. Default 64 KiB. */
  readBufferSize?: number;
  /** Outgoing bytes queued before `write` waits. Default 64 KiB. */
  writeBufferSize?: number;
  /** Compression settings (threshold, level). */
  compression?: DeflateOptions;
  /** Time the closing handshake may take. Default 5 s. */
  closeTimeout?: number;
}

/**
 * @internal ConnOptions with every default filled in. `Upgrader` makes one
 * and all its connections share it, so an idle connection holds one
 * reference instead of a field per setting.
 */
export interface ConnSettings {
  readonly role: 'server' | 'client';
  readonly maxMessageSize: number;
  readonly maxFragments: number;
  readonly readBufferSize: number;
  readonly writeBufferSize: number;
  readonly closeTimeout: number;
  /** Messages at least this long are compressed, when permessage-deflate was agreed. */
  readonly threshold: number;
  readonly level: number;
}

/** @internal connSettings fills in the defaults of `options`. */
export function connSettings(options: ConnOptions): ConnSettings {
  return Object.freeze({
    role: options.role,
    maxMessageSize: options.maxMessageSize ?? Defaults.maxMessageSize,
    maxFragments: options.maxFragments ?? Defaults.maxFragments,
    readBufferSize: options.readBufferSize ?? Defaults.readBufferSize,
    writeBufferSize: options.writeBufferSize ?? Defaults.writeBufferSize,
    closeTimeout: options.closeTimeout ?? Defaults.closeTimeoutMs,
    threshold: options.compression?.threshold ?? Defaults.compressionThreshold,
    level: options.compression?.level ?? 1,
  });
}

/** @internal What the opening handshake agreed for one connection. */
export interface Agreement {
  /** permessage-deflate parameters, or null. */
  deflate: DeflateParams | null;
  /** The subprotocol, or ''. */
  subprotocol: string;
  /** The `Sec-WebSocket-Extensions` value, or ''. */
  extensions: string;
  /** True when the transport is an HTTP/2 stream (RFC 8441); absent or false for a socket. */
  http2?: boolean;
}

/** The state of a Conn, for {@link closeWithoutStatus} and {@link countUnsentPayload}; set by Conn's static block. */
let stateOf: (conn: Conn) => ConnState;

/**
 * Conn is an open WebSocket connection. Create one with `Upgrader.upgrade`
 * or `dial`.
 *
 * Reading: one `read()` (or `for await`) at a time is the intended use;
 * messages are queued in order up to the read buffer, then the socket is
 * paused until they are consumed, so a fast sender meets TCP backpressure.
 *
 * Writing: `write` may be called without awaiting; frames go out in call
 * order. The returned promise resolves once the outgoing buffer is below its
 * high-water mark, which is how a writer slows down for a slow peer.
 */
export class Conn {
  readonly #state: ConnState;
  /** The agreed subprotocol, or '' when none. */
  readonly subprotocol: string;
  /** The agreed `Sec-WebSocket-Extensions` value, or '' when none. */
  readonly extensions: string;

  static {
    stateOf = (conn) => conn.#state;
  }

  /**
   * @internal Built by `Upgrader` and `dial` over a socket or an HTTP/2
   * stream; `head` holds bytes read past the handshake.
   */
  constructor(socket: Transport, settings: ConnSettings, agreed: Agreement, head?: Buffer) {
    const overStream = agreed.http2 === true;
    const state = new ConnState(this, socket, settings, agreed.deflate, overStream);
    this.#state = state;
    this.subprotocol = agreed.subprotocol;
    this.extensions = agreed.extensions;
    if (overStream) {
      // The session's socket is shared and its own: only the stream's idle timeout is ours to turn off.
      (socket as Http2Stream).setTimeout(0);
    } else {
      // A Duplex that is not a net.Socket (wskit/ws's handleUpgrade takes any) has neither.
      const tcp = socket as Socket;
      if (typeof tcp.setNoDelay === 'function') tcp.setNoDelay(true);
      if (typeof tcp.setTimeout === 'function') tcp.setTimeout(0);
    }
    // One set of listeners shared by every connection, finding its state through the socket.
    (socket as OwnedSocket)[OWNER] = state;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClosed);
    socket.on('error', ignoreError);
    if (head && head.length > 0) receive(state, head);
  }

  /**
   * The peer's address, e.g. `127.0.0.1:53412` or `[::1]:53412`; readable
   * after close too. Built when asked: most connections are never asked.
   */
  get remoteAddress(): string {
    return remoteAddress(this.#state);
  }

  /**
   * The HTTP version the connection was opened with: `'1.1'` for an
   * upgraded TCP connection of its own, `'2'` for a stream of an HTTP/2
   * connection (RFC 8441), which shares its TCP connection with others.
   */
  get httpVersion(): '1.1' | '2' {
    return this.#state.overStream ? '2' : '1.1';
  }

  /** Bytes written but not yet handed to the kernel (for HTTP/2, to the session). */
  get bufferedAmount(): number {
    return this.#state.socket.writableLength;
  }

  /**
   * True while a write would be taken: the connection is open, no close
   * frame has been sent and the write deadline has not passed. A write made
   * while it is true never rejects at once, so a broadcast loop can skip the
   * promise it returns.
   */
  get writable(): boolean {
    return isWritable(this.#state);
  }

  /**
   * True while more than the write buffer size waits to be sent: a write
   * made now would return a promise that waits for the peer to catch up.
   */
  get needsDrain(): boolean {
    return this.#state.socket.writableLength > this.#state.settings.writeBufferSize;
  }

  /**
   * Settles (never rejects) once the connection has ended, with the close
   * code and reason: those of the peer's close frame; ours when we failed the
   * connection for a protocol error; 1006 when TCP closed without either.
   */
  get closed(): Promise<CloseError> {
    return closedPromise(this.#state);
  }

  // ---- reading ----

  /**
   * read resolves with the next message. Rejects with CloseError once the
   * connection is closed (1006 if it dropped), ProtocolError if the peer broke
   * the protocol, or TimeoutError once the read deadline passed.
   */
  read(): Promise<Message> {
    return read(this.#state, false) as Promise<Message>;
  }

  /**
   * readJSON reads a message and parses it as JSON. Invalid JSON rejects with
   * a WebSocketError of code `ERR_INVALID_JSON`; the connection stays open.
   */
  async readJSON<T = unknown>(): Promise<T> {
    const message = await this.read();
    return parseJSON<T>(message.data.toString('utf8'));
  }

  /**
   * onMessage hands every message to `handler` as it arrives, instead of to
   * `read()` and `for await`: messages already queued first, never inside
   * this call. It reads as a `for await` loop does (same messages, same
   * order, same backpressure when `handler` returns a promise) but keeps
   * nothing suspended while the connection is idle, so it costs less memory
   * per connection. `onEnd` is told, once, when no more messages will come
   * (see {@link EndHandler}); if `handler` throws or its promise rejects, it
   * gets no more messages and `onEnd` gets the error (with no `onEnd`, the
   * error is thrown as an uncaught exception, as an unhandled rejection
   * would be). Throws TypeError when `handler` or `onEnd` is not a
   * function, and Error when a handler is already set or a read waits;
   * `read()` rejects while a handler is set.
   *
   * @example
   * ```ts
   * const echo = (message: Message, conn: Conn) => conn.write(message.type, message.data);
   * conn.onMessage(echo, (err) => err && console.error(err.message));
   * ```
   */
  onMessage(handler: MessageHandler, onEnd?: EndHandler): void {
    if (typeof handler !== 'function') throw new TypeError(`Invalid handler: expected a function, got ${typeof handler}`);
    if (onEnd !== undefined && typeof onEnd !== 'function') throw new TypeError(`Invalid onEnd: expected a function, got ${typeof onEnd}`);
    listen(this.#state, handler, onEnd ?? null);
  }

  /**
   * Iterate over messages. Ends after a normal close (1000, 1001 or no code);
   * throws the CloseError, ProtocolError or TimeoutError otherwise.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return new MessageIterator(this.#state);
  }

  // ---- writing ----

  /**
   * write sends a message: `'text'` (a string, or bytes that must be UTF-8)
   * or `'binary'`. Resolves once the outgoing buffer is below the write
   * buffer's high-water mark. Rejects with CloseError after close, or
   * TimeoutError past the write deadline.
   */
  write(type: MessageType, data: string | Uint8Array): Promise<void> {
    return writeMessage(this.#state, type, data);
  }

  /** writeJSON sends `value` as a JSON text message. */
  writeJSON(value: unknown): Promise<void> {
    return writeMessage(this.#state, MessageType.Text, JSON.stringify(value));
  }

  /**
   * writePrepared sends a {@link PreparedMessage}. A server writes the cached
   * frame as is (uncompressed: RFC 7692 lets each message choose); a client
   * masks a fresh copy.
   */
  writePrepared(prepared: PreparedMessage): Promise<void> {
    return writePrepared(this.#state, prepared);
  }

  /** ping sends a ping with up to 125 bytes of data; the peer answers with a pong. */
  ping(data: string | Uint8Array = ''): Promise<void> {
    return sendControl(this.#state, Opcode.Ping, 'Ping', data);
  }

  /** pong sends an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3). */
  pong(data: string | Uint8Array = ''): Promise<void> {
    return sendControl(this.#state, Opcode.Pong, 'Pong', data);
  }

  /**
   * setPingHandler replaces what happens when a ping arrives. The default
   * answers with a pong carrying the same data; a handler that replaces it
   * should call `pong(data)` itself. Pass null to restore the default.
   */
  setPingHandler(handler: ((data: Buffer) => void) | null): void {
    this.#state.pingHandler = handler;
  }

  /** setPongHandler sets what happens when a pong arrives (default: nothing). */
  setPongHandler(handler: ((data: Buffer) => void) | null): void {
    this.#state.pongHandler = handler;
  }

  /**
   * setReadDeadline sets when a read must have completed (a Date or epoch
   * milliseconds; null clears it). Once it passes with no message, pending and
   * later reads reject with TimeoutError and the connection is dropped, as in
   * gorilla/websocket. Extending it on every message is cheap.
   */
  setReadDeadline(deadline: Date | number | null): void {
    if (deadline === null && this.#state.readDeadline === null) return;
    readDeadline(this.#state).set(deadline);
  }

  /**
   * setWriteDeadline sets when queued writes must have reached the kernel.
   * If it passes with bytes still queued, the connection is dropped and
   * writes reject with TimeoutError; a write started after it passed fails.
   */
  setWriteDeadline(deadline: Date | number | null): void {
    if (deadline === null && this.#state.writeDeadline === null) return;
    writeDeadline(this.#state).set(deadline);
  }

  // ---- closing ----

  /**
   * close starts the closing handshake (RFC 6455 §7.1.2): sends a close frame
   * with `code` and `reason`, waits for the peer's close frame, and closes
   * TCP (the server first). Resolves when the TCP connection is closed; after
   * the close timeout the socket is dropped. Throws RangeError, before
   * sending anything, for a code that may not be sent (1005, 1006 and 1015
   * never are; only 1000–1003, 1007–1014 and 3000–4999 may be) or a reason
   * over 123 bytes of UTF-8.
   */
  close(code: number = CloseCode.NormalClosure, reason = ''): Promise<void> {
    return startClose(this.#state, closePayload(code, reason));
  }

  /** terminate drops the TCP connection at once, without a closing handshake. */
  terminate(): void {
    terminate(this.#state);
  }
}

/**
 * @internal closeWithoutStatus starts the closing handshake with a close
 * frame that carries no code, which `close` cannot send: the browser-style
 * WebSocket's `close()` without arguments does this, and the peer reads 1005.
 */
export function closeWithoutStatus(conn: Conn): Promise<void> {
  return startClose(stateOf(conn), Buffer.alloc(0));
}

/**
 * @internal countUnsentPayload makes `conn` count the payload bytes it has
 * taken and not yet handed to the kernel, from its next `write` on: the
 * browser-style WebSocket's `bufferedAmount`. Returns the same counter if
 * called again.
 */
export function countUnsentPayload(conn: Conn): UnsentPayload {
  const state = stateOf(conn);
  state.unsent ??= new UnsentPayload();
  return state.unsent;
}

export type { PushSink, WriteCallback } from './conn-push.js';

/**
 * @internal pushTo puts `conn` in push mode for wskit/ws (conn-push.ts):
 * from now on every message, close frame, protocol error and the end go to
 * `sink` as they happen, and nothing is queued for `read()`.
 */
export function pushTo(conn: Conn, sink: PushSink): void {
  const state = stateOf(conn);
  state.sink = sink;
  const queued = state.inbox;
  state.inbox = null;
  state.inboxBytes = 0;
  for (const message of queued ?? []) sink.message(message.type, message.data);
}

/** @internal sendFrame writes one frame for wskit/ws; see conn-write.ts. */
export function sendFrame(conn: Conn, opcode: number, payload: Uint8Array, fin: boolean, compress: boolean, mask: boolean | Uint8Array, cb?: WriteCallback): void {
  sendStateFrame(stateOf(conn), opcode, payload, fin, compress, mask, cb);
}

/** @internal queuedBytes is the payload of wskit/ws sends waiting behind a message being compressed. */
export function queuedBytes(conn: Conn): number {
  return stateOf(conn).queued;
}
