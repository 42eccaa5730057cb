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
 *   ends the readable side. The stream is destroyed as soon as it has both
 *   finished and ended: before the listeners of the later of `finish` and
 *   `end` run, as with ws (Node's `autoDestroy` would wait until after them).
 * - `destroy()` terminates the socket and emits `close` once the socket has
 *   closed. An error of the socket destroys the stream with that error; the
 *   socket is then left to close itself, so the close frame the error calls
 *   for (1002, 1007, 1009) still reaches the peer.
 *
 * `options` are `Duplex` options, except that the writable side is always
 * a byte stream (`objectMode` and `writableObjectMode` are ignored),
 * `autoDestroy` and `emitClose` are always on, and `read`, `write`, `final`
 * and `destroy` are the stream's own. Binary messages are read as Buffers
 * whatever the socket's `binaryType` (a Blob, which cannot be read at once,
 * destroys the stream with a TypeError). The socket is not otherwise changed;
 * do not read it by other means while the stream does.
 *
 * Like ws's, it accepts any event emitter: only `on` and `once` are needed to
 * create the stream, and each other member of {@link StreamableWebSocket} is
 * used only when the stream needs it (a write, `end()`, `destroy()`), so a
 * socket that lacks it fails that operation with a TypeError.
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
 * @throws TypeError when `ws` is not an object with `on` and `once` methods.
 */
export function createWebSocketStream(ws: StreamableWebSocket, options?: DuplexOptions): Duplex {
  if (!isEventEmitter(ws)) {
    throw new TypeError(`Cannot create a WebSocket stream: expected a ws-style WebSocket (an event emitter with on() and once()), got ${describe(ws)}`);
  }
  /**
   * Set when the socket reported an error. A ws-style socket closes itself
   * after one, sending the close frame the error calls for; terminating it
   * then could drop that frame, so destroying the stream only waits.
   */
  let socketFailed = false;
  /** An error the socket reported while the stream was being destroyed, passed on by `destroy`. */
  let errorWhileDestroying: Error | undefined;

  // The hooks are closures over `ws` and `duplex` given to the constructor
  // (Node's "simplified construction"), not methods reading `this`: they work
  // even when called detached from the stream, as ws's `_final` does.
  const write = (chunk: Buffer | string, encoding: BufferEncoding, callback: (err?: Error | null) => void): void => {
    if (ws.readyState === CONNECTING) {
      ws.once('open', () => write(chunk, encoding, callback));
      return;
    }
    // A socket that is closing or closed reports that through the callback,
    // which destroys the stream; one whose send() throws fails the write too.
    try {
      ws.send(chunk, (err) => callback(err));
    } catch (err) {
      callback(err as Error);
    }
  };

  const final = (callback: (err?: Error | null) => void): void => {
    if (ws.readyState === CONNECTING) {
      // A failed handshake emits error then close; the error destroys the stream instead.
      ws.once('open', () => final(callback));
      return;
    }
    if (ws.readyState === CLOSED) {
      callback();
      return;
    }
    // CLOSING with no connection (a handshake that failed after the upgrade)
    // lands here too: the socket's error destroys the stream before its close.
    ws.once('close', () => {
      if (!duplex.destroyed) callback();
    });
    if (ws.readyState === OPEN) ws.close();
  };

  const duplex: Duplex = new Duplex({
    ...options,
    objectMode: false,
    writableObjectMode: false,
    autoDestroy: true,
    emitClose: true,
    read() {
      if (ws.isPaused) ws.resume();
    },
    write,
    final,
    destroy(err, callback) {
      if (ws.readyState === CLOSED) {
        callback(err);
        return;
      }
      // `close` is emitted, and the callback called, only once the socket has closed.
      ws.once('close', () => callback(err ?? errorWhileDestroying ?? null));
      if (!socketFailed) ws.terminate();
    },
  });

  // Registered before any listener of the caller's, so that the stream is
  // already destroyed when the caller's listeners of the later event run.
  duplex.on('end', () => {
    if (duplex.writableFinished) duplex.destroy();
  });
  duplex.on('finish', () => {
    if (duplex.readableEnded) duplex.destroy();
  });

  ws.on('message', (data: unknown, isBinary: unknown) => {
    if (duplex.destroyed) return;
    const chunk = toChunk(data, isBinary, duplex.readableObjectMode);
    if (chunk instanceof TypeError) {
      duplex.destroy(chunk);
      return;
    }
    if (!duplex.push(chunk)) ws.pause();
  });
  ws.on('error', (err: Error) => {
    if (duplex.destroyed) {
      errorWhileDestroying ??= err;
      return;
    }
    socketFailed = true;
    duplex.destroy(err);
  });
  ws.on('close', () => {
    if (!duplex.destroyed) duplex.push(null);
  });
  return duplex;
}

function isEventEmitter(value: unknown): value is StreamableWebSocket {
  const candidate = value as { on?: unknown; once?: unknown } | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.on === 'function' && typeof candidate.once === 'function';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return `an object without ${typeof (value as { on?: unknown }).on === 'function' ? 'once' : 'on'}()`;
}

/**
 * toChunk turns a message event's arguments into the chunk to push: text as
 * a string in readable object mode, as bytes otherwise; binary as a Buffer.
 * A TypeError for a message that cannot be read at once.
 */
function toChunk(data: unknown, isBinary: unknown, objectMode: boolean): Buffer | string | TypeError {
  // ws v8 says whether a message is binary; older sockets give text as strings.
  const binary = typeof isBinary === 'boolean' ? isBinary : typeof data !== 'string';
  if (typeof data === 'string') return objectMode ? data : Buffer.from(data);
  const bytes = toBuffer(data);
  if (bytes === undefined) {
    return new TypeError(`Cannot stream a message received as ${describeData(data)}: set the socket's binaryType to 'nodebuffer', 'arraybuffer' or 'fragments'`);
  }
  return !binary && objectMode ? bytes.toString('utf8') : bytes;
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
