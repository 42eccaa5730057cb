/**
 * createWebSocketStream: a Node.js `Duplex` over a ws-style WebSocket, as ws
 * documents it. It uses only the socket's public API (`message`, `open`,
 * `error` and `close` events; `send`, `pause`, `resume`, `isPaused`, `close`,
 * `terminate`, `readyState`), so it works on wskit/ws's WebSocket and on the
 * npm `ws` package's alike.
 */
import { Buffer } from 'node:buffer';
import { Duplex, type DuplexOptions } from 'node:stream';

/**
 * StreamableWebSocket is what {@link createWebSocketStream} needs of a
 * socket: the part of ws's `WebSocket` API it calls. wskit/ws's `WebSocket`
 * and the npm `ws` package's both have it.
 */
export interface StreamableWebSocket {
  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  readonly readyState: number;
  /** True while `pause()` holds back `message` events. */
  readonly isPaused: boolean;
  /** Sends one message: binary for a Buffer, text for a string; `cb` gets the error if it could not be sent. */
  send(data: Buffer | string, cb?: (err?: Error) => void): void;
  /** Stops delivering `message` events (and reading the socket) until `resume()`. */
  pause(): void;
  /** Delivers `message` events again after `pause()`. */
  resume(): void;
  /** Starts the closing handshake. */
  close(): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
  /** Adds an event listener; the stream listens for `message`, `error` and `close`. Listener arguments differ by event. */
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Adds a listener called once; the stream waits for `open` and `close` this way. */
  once(event: string, listener: (...args: any[]) => void): unknown;
}

// The WebSocket readyState values (WHATWG "WebSockets" standard, which ws follows).
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/**
 * createWebSocketStream wraps `ws` in a `Duplex` stream, for `pipeline()`
 * and other stream APIs:
 *
 * - Reading yields the payloads of the messages received, in order. With
 *   `readableObjectMode: true` each message is one chunk: a string for a text
 *   message, a Buffer for a binary one. Otherwise the bytes form one stream
 *   (text messages as their UTF-8 bytes, or strings with `encoding` set).
 * - Each chunk written is sent as one message: binary for a Buffer, text for
 *   a string, which needs `decodeStrings: false` (by default the stream turns
 *   strings into Buffers, so they go out as binary messages). Writes made
 *   while the socket connects wait for it to open.
 * - Backpressure both ways: the socket is paused while the readable buffer
 *   is over `readableHighWaterMark` and resumed when the stream is read, and
 *   a write completes when the socket has handed the message on.
 * - `end()` starts the closing handshake (the peer sees close code 1005) and
 *   the stream finishes when the socket has closed. The socket's `close`
 *   ends the readable side. The stream is destroyed once it has both
 *   finished and ended.
 * - `destroy()` terminates the socket and emits `close` once the socket has
 *   closed. An error of the socket destroys the stream with that error; the
 *   socket is then left to close itself, so the close frame the error calls
 *   for (1002, 1007, 1009) still reaches the peer.
 *
 * `options` are `Duplex` options, except that the writable side is always
 * a byte stream (`objectMode` and `writableObjectMode` are ignored) and
 * `autoDestroy` and `emitClose` are always on. Binary messages are read as
 * Buffers whatever the socket's `binaryType` (a Blob, which cannot be read
 * at once, destroys the stream with a TypeError). The socket is not
 * otherwise changed; do not read it by other means while the stream does.
 *
 * Unlike ws's, which reads the socket's internals, this stream uses only
 * the public API, so `finish` comes once the socket has closed rather than
 * when its TCP connection's write side has ended, a moment earlier.
 *
 * @example
 * ```ts
 * import { createReadStream } from 'node:fs';
 * import { pipeline } from 'node:stream/promises';
 * import { WebSocket, createWebSocketStream } from 'wskit/ws';
 *
 * const ws = new WebSocket('ws://127.0.0.1:8080/upload');
 * await pipeline(createReadStream('photo.jpg'), createWebSocketStream(ws));
 * ```
 *
 * @throws TypeError when `ws` has no `on` and `send` methods.
 */
export function createWebSocketStream(ws: StreamableWebSocket, options?: DuplexOptions): Duplex {
  if (typeof ws?.on !== 'function' || typeof ws.send !== 'function') {
    throw new TypeError(`Cannot create a WebSocket stream: expected a ws-style WebSocket, got ${describe(ws)}`);
  }
  return new WebSocketDuplex(ws, options);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return `an object without ${typeof (value as { on?: unknown }).on === 'function' ? 'send' : 'on'}()`;
}

class WebSocketDuplex extends Duplex {
  readonly #ws: StreamableWebSocket;
  /**
   * Set when the socket reported an error. A ws-style socket closes itself
   * after one, sending the close frame the error calls for; terminating it
   * then could drop that frame, so destroying the stream only waits.
   */
  #socketFailed = false;
  /** An error the socket reported while the stream was being destroyed, passed on by `_destroy`. */
  #errorWhileDestroying: Error | undefined;

  constructor(ws: StreamableWebSocket, options: DuplexOptions | undefined) {
    super({ ...options, objectMode: false, writableObjectMode: false, autoDestroy: true, emitClose: true });
    this.#ws = ws;
    ws.on('message', (data: unknown, isBinary: unknown) => this.#onMessage(data, isBinary));
    ws.on('error', (err: Error) => this.#onError(err));
    ws.on('close', () => {
      if (!this.destroyed) this.push(null);
    });
  }

  #onMessage(data: unknown, isBinary: unknown): void {
    if (this.destroyed) return;
    // ws v8 says whether a message is binary; older sockets give text as strings.
    const binary = typeof isBinary === 'boolean' ? isBinary : typeof data !== 'string';
    let chunk: Buffer | string;
    if (typeof data === 'string') {
      chunk = this.readableObjectMode ? data : Buffer.from(data);
    } else {
      const bytes = toBuffer(data);
      if (bytes === undefined) {
        this.destroy(new TypeError(`Cannot stream a message received as ${describeData(data)}: set the socket's binaryType to 'nodebuffer', 'arraybuffer' or 'fragments'`));
        return;
      }
      chunk = !binary && this.readableObjectMode ? bytes.toString('utf8') : bytes;
    }
    if (!this.push(chunk)) this.#ws.pause();
  }

  #onError(err: Error): void {
    if (this.destroyed) {
      this.#errorWhileDestroying ??= err;
      return;
    }
    this.#socketFailed = true;
    this.destroy(err);
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.#ws.readyState === CONNECTING) {
      this.#ws.once('open', () => this._write(chunk, _encoding, callback));
      return;
    }
    // A socket that is closing or closed reports that through the callback, which destroys the stream.
    this.#ws.send(chunk, (err) => callback(err));
  }

  override _final(callback: (err?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === CONNECTING) {
      // A failed handshake emits error then close; the error destroys the stream instead.
      ws.once('open', () => this._final(callback));
      return;
    }
    if (ws.readyState === CLOSED) {
      callback();
      return;
    }
    ws.once('close', () => {
      if (!this.destroyed) callback();
    });
    if (ws.readyState === OPEN) ws.close();
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === CLOSED) {
      callback(err);
      return;
    }
    // `close` is emitted, and the callback called, only once the socket has closed.
    ws.once('close', () => callback(err ?? this.#errorWhileDestroying ?? null));
    if (!this.#socketFailed) ws.terminate();
  }
}

/** toBuffer reads a binary message as ws delivers it for each binaryType; undefined for a Blob. */
function toBuffer(data: unknown): Buffer | undefined {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((part) => Buffer.isBuffer(part))) return Buffer.concat(data);
  return undefined;
}

function describeData(data: unknown): string {
  if (typeof Blob !== 'undefined' && data instanceof Blob) return 'a Blob';
  return data === null ? 'null' : typeof data === 'object' ? `an instance of ${data.constructor?.name ?? 'Object'}` : typeof data;
}
