/**
 * The WebSocket class of wskit/ws: ws's API (an EventEmitter with `send`,
 * `ping`, `close`, `pause`, the `message`/`close` events and the
 * EventTarget emulation) over wskit's {@link Conn}. The Conn runs in push
 * mode: each message, ping, pong and close frame is handed to this class as
 * it is parsed, with no promise per message, and frames are written with a
 * completion callback.
 *
 * The client's opening handshake is here too, written for ws's options
 * (agent, createConnection, redirects, `unexpected-response`); the server's
 * is in server.ts.
 */
import { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { closeWithoutStatus, Conn, type ConnSettings, pushTo, type PushSink, queuedBytes, sendFrame, type WriteCallback } from '../conn.js';
import { CloseCode, MAX_CONTROL_PAYLOAD, MessageType, Opcode } from '../constants.js';
import type { CloseError, ProtocolError } from '../errors.js';
import { isValidCloseCode, MAX_CLOSE_REASON } from '../protocol/close.js';
import type { DeflateParams } from '../protocol/extensions.js';
import { abortHandshake, type ClientControl, type ClientOptions, connect } from './client.js';
import { toWsError, type WsError } from './errors.js';
import type { WebSocketServer } from './server.js';
import type { createWebSocketStream } from './stream.js';
import {
  addEventListener,
  type EventListenerLike,
  getAttribute,
  removeEventListener,
  setAttribute,
  WAS_CLEAN,
  type WsCloseEvent,
  type WsErrorEvent,
  type WsEvent,
  type WsMessageEvent,
} from './event-target.js';


const EMPTY = Buffer.alloc(0);
const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const BINARY_TYPES: readonly string[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];

/** How binary messages are handed to `message` listeners: a Buffer, an ArrayBuffer, an array of Buffers, or a Blob. */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
/** What `send`, `ping` and `pong` accept: strings, numbers, buffers, typed arrays, Blobs, or what `Buffer.from` takes. */
export type Data = string | number | Buffer | ArrayBuffer | ArrayBufferView | Blob | readonly unknown[] | object;
/** A received message as `message` listeners get it: per `binaryType` for binary messages, a Buffer for text. */
export type RawData = Buffer | ArrayBuffer | Buffer[] | Blob;
/** Called once a frame is written out, or with the error that stopped it (as in ws, success may pass null). */
export type SendCallback = (err?: Error) => void;

/** Options of `send`. */
export interface SendOptions {
  /** Send as binary; default: true unless `data` is a string. */
  binary?: boolean;
  /** Compress, when permessage-deflate was agreed. Default true. */
  compress?: boolean;
  /** This is the last fragment of its message. Default true; false starts or continues a fragmented message. */
  fin?: boolean;
  /** Mask the frame. Default: true for a client, false for a server (sending otherwise breaks the protocol). */
  mask?: boolean;
}

/** @internal What a server passes to {@link WebSocket} for each connection it accepts. */
export interface ServerSide {
  autoPong?: boolean;
  closeTimeout?: number;
}

/** @internal Attach an upgraded socket: used by WebSocketServer. */
export const ATTACH = Symbol('wskit.ws.attach');
/** @internal The WebSocket's subprotocol and extension names, set by WebSocketServer before attaching. */
export const AGREED = Symbol('wskit.ws.agreed');

/** A send waiting behind a Blob being read, so frames keep their order. */
type Pending = { data: unknown; run: (data: Buffer) => void; fail: (err: Error) => void };

function isBlob(value: unknown): value is Blob {
  return typeof Blob !== 'undefined' && value instanceof Blob;
}

/** The bytes of `data` as ws sends them, without copying where it can. Throws TypeError for what Buffer.from refuses. */
function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as string);
}

function notOpen(state: number): Error {
  return new Error(`WebSocket is not open: readyState ${state} (${STATE_NAMES[state]})`);
}

/**
 * WebSocket is one connection, client or server side, with ws's API. A
 * client is made with `new WebSocket(address, protocols?, options?)`; a
 * server's come from `WebSocketServer`'s `connection` event.
 */
export class WebSocket extends EventEmitter {
  /** The class itself, as ws has it (`require('wskit/ws').WebSocket`). */
  declare static WebSocket: typeof WebSocket;
  /** The server class. */
  declare static WebSocketServer: typeof WebSocketServer;
  /** The server class, by its older name. */
  declare static Server: typeof WebSocketServer;
  /** A Duplex stream over a WebSocket. */
  declare static createWebSocketStream: typeof createWebSocketStream;
  /** readyState 0: the opening handshake is under way. */
  declare static readonly CONNECTING: 0;
  /** readyState 1: messages flow. */
  declare static readonly OPEN: 1;
  /** readyState 2: the closing handshake has started. */
  declare static readonly CLOSING: 2;
  /** readyState 3: the connection is closed or could not be opened. */
  declare static readonly CLOSED: 3;
  /** readyState 0: the opening handshake is under way. */
  declare readonly CONNECTING: 0;
  /** readyState 1: messages flow. */
  declare readonly OPEN: 1;
  /** readyState 2: the closing handshake has started. */
  declare readonly CLOSING: 2;
  /** readyState 3: the connection is closed or could not be opened. */
  declare readonly CLOSED: 3;

  #readyState: number = CONNECTING;
  #binaryType: BinaryType = 'nodebuffer';
  #protocol = '';
  #extensions = '';
  #url: string | undefined = undefined;
  #isServer: boolean;
  #socket: Duplex | null = null;
  #conn: Conn | null = null;
  #paused = false;
  #autoPong = true;
  #generateMask: ((mask: Buffer) => void) | undefined = undefined;
  #closeFrameReceived = false;
  #closeFrameSent = false;
  #closeCode: number = CloseCode.AbnormalClosure;
  #closeReason: Buffer = EMPTY;
  #errorEmitted = false;
  /** Bytes passed to send/ping/pong once the connection was closing or closed (ws counts them). */
  #lateBytes = 0;
  /** A fragmented message is being sent: later frames are continuations. */
  #continuing = false;
  /** Sends waiting behind a Blob being read, or null when none is. */
  #pending: Pending[] | null = null;

  /** The client's handshake control (client.ts); null on a server's WebSocket. */
  #clientControl: ClientControl | null = null;

  /** @internal The handshake request while connecting (ws's `_req`). */
  _req: ClientRequest | null = null;
  /** @internal Redirects followed so far (ws's `_redirects`). */
  _redirects = 0;

  /**
   * Open a connection to `address` (ws:, wss:, http:, https: or
   * ws+unix:/path/to/socket:/path), offering `protocols`. Throws a
   * SyntaxError for a bad URL or subprotocol, a RangeError for an
   * unsupported `protocolVersion`.
   */
  constructor(address: string | URL, protocols?: string | string[] | ClientOptions, options?: ClientOptions);
  /** @internal A server-side WebSocket, made by WebSocketServer (address null). */
  constructor(address: null, protocols: undefined, options: ServerSide);
  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions | ServerSide) {
    super();
    if (address === null) {
      this.#isServer = true;
      const server = (options ?? {}) as ServerSide;
      this.#autoPong = server.autoPong ?? true;
      return;
    }
    this.#isServer = false;
    let list: string[];
    if (protocols === undefined) list = [];
    else if (Array.isArray(protocols)) list = protocols;
    else if (typeof protocols === 'object' && protocols !== null) {
      options = protocols as ClientOptions;
      list = [];
    } else list = [protocols as string];
    this.#clientControl = this.#makeControl();
    connect(this.#clientControl, address, list, (options ?? {}) as ClientOptions);
  }

  /** How binary messages are delivered: 'nodebuffer' (default), 'arraybuffer', 'fragments' or 'blob'. Other values are ignored. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  /** Set how binary messages are delivered; other values are ignored, as in ws. */
  set binaryType(type: BinaryType) {
    if (BINARY_TYPES.includes(type)) this.#binaryType = type;
  }

  /** Bytes queued by send/ping/pong and not yet handed to the kernel, frame headers included. */
  get bufferedAmount(): number {
    if (this.#socket === null) return this.#lateBytes;
    return this.#socket.writableLength + (this.#conn === null ? 0 : queuedBytes(this.#conn)) + this.#lateBytes;
  }

  /** The names of the agreed extensions: 'permessage-deflate' or ''. */
  get extensions(): string {
    return this.#extensions;
  }

  /** True while `pause()` holds the connection. */
  get isPaused(): boolean {
    return this.#paused;
  }

  /** The subprotocol the server chose, or ''. */
  get protocol(): string {
    return this.#protocol;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    return this.#readyState;
  }

  /** The URL connected to (clients only), with http(s): as ws(s):. */
  get url(): string | undefined {
    return this.#url;
  }

  /** @internal The TCP or TLS socket, once open (ws's `_socket`; many programs read its address). */
  get _socket(): Duplex | null {
    return this.#socket;
  }

  /** @internal For the `close` event of the EventTarget emulation: both close frames were exchanged. */
  get [WAS_CLEAN](): boolean {
    return this.#closeFrameReceived && this.#closeFrameSent;
  }

  /** @internal Set the agreed subprotocol and extension names (server side, before attaching). */
  [AGREED](protocol: string, extensions: string): void {
    this.#protocol = protocol;
    this.#extensions = extensions;
  }

  /** @internal Take over an upgraded socket: make its Conn in push mode and emit `open`. */
  [ATTACH](socket: Duplex, settings: ConnSettings, deflate: DeflateParams | null, head: Buffer, generateMask?: (mask: Buffer) => void): void {
    this.#socket = socket;
    this.#generateMask = generateMask;
    // Bytes that came with the handshake are read back like any others, after `open` and `connection` listeners run.
    if (head.length > 0) socket.unshift(head);
    const conn = new Conn(socket as net.Socket, settings, { deflate, subprotocol: this.#protocol, extensions: deflate?.header ?? '' });
    this.#conn = conn;
    pushTo(conn, this.#makeSink());
    conn.setPingHandler((data) => {
      if (this.#autoPong && this.#readyState === OPEN) this.#control(Opcode.Pong, data, !this.#isServer, undefined);
      this.emit('ping', data);
    });
    conn.setPongHandler((data) => this.emit('pong', data));
    this.#readyState = OPEN;
    this.emit('open');
  }

  #makeSink(): PushSink {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const ws = this;
    return {
      message(type: MessageType, data: Buffer): void {
        if (type === MessageType.Text) ws.emit('message', data, false);
        else ws.emit('message', ws.#binary(data), true);
      },
      closeFrame(code: number, reason: string): void {
        ws.#closeFrameReceived = true;
        ws.#closeFrameSent = true; // The Conn answers it at once, or has already sent ours.
        ws.#closeCode = code;
        ws.#closeReason = reason === '' ? EMPTY : Buffer.from(reason);
        if (ws.#readyState === OPEN) ws.#readyState = CLOSING;
        ws.#resumeSocket();
      },
      closeCodeFor(err: ProtocolError): number {
        return (toWsError(err) as Partial<WsError>).closeCode ?? err.closeCode;
      },
      error(err: ProtocolError): void {
        ws.#closeFrameSent = true;
        if (ws.#readyState === OPEN) ws.#readyState = CLOSING;
        ws.#resumeSocket();
        ws.#emitError(toWsError(err));
      },
      closed(_result: CloseError): void {
        ws.#emitClose();
      },
    };
  }

  /** After a close frame or an error nothing more is read, but TCP's end must be: a paused socket would never see it. */
  #resumeSocket(): void {
    if (this.#paused) this.#socket?.resume();
  }

  #binary(data: Buffer): unknown {
    switch (this.#binaryType) {
      case 'nodebuffer':
        return data;
      case 'arraybuffer':
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
      case 'fragments':
        return [data];
      case 'blob':
        return new Blob([data]);
    }
  }

  #emitError(err: Error): void {
    if (this.#errorEmitted || this.#readyState === CLOSED) return;
    this.#errorEmitted = true;
    this.emit('error', err);
  }

  #emitClose(): void {
    if (this.#readyState === CLOSED) return;
    this.#readyState = CLOSED;
    this.emit('close', this.#closeCode, this.#closeReason);
  }

  /**
   * close starts the closing handshake with `code` (1000–1003, 1007–1014,
   * 3000–4999, or none) and `reason` (at most 123 bytes). Called while
   * connecting, it abandons the attempt (`error`, then `close` with 1006).
   * Throws TypeError for a code that may not be sent, RangeError for a long reason.
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      abortHandshake(this.#clientControl!, this._req, 'WebSocket was closed before the connection was established');
      return;
    }
    if (this.#readyState === CLOSING) return;
    if (code !== undefined && (typeof code !== 'number' || !isValidCloseCode(code))) {
      throw new TypeError('First argument must be a valid error code number');
    }
    const text = code === undefined || reason === undefined ? '' : typeof reason === 'string' ? reason : reason.toString();
    if (Buffer.byteLength(text) > MAX_CLOSE_REASON) {
      throw new RangeError('The message must not be greater than 123 bytes');
    }
    this.#readyState = CLOSING;
    this.#closeFrameSent = true;
    const conn = this.#conn!;
    const start = () => {
      const closing = code === undefined ? closeWithoutStatus(conn) : conn.close(code, text);
      closing.catch(() => {});
    };
    // Sends waiting behind a Blob go out before the close frame.
    if (this.#pending !== null) this.#pending.push({ data: EMPTY, run: start, fail: () => {} });
    else start();
  }

  /** pause stops reading: no more events until `resume()`, except for data already read. */
  pause(): void {
    if (this.#readyState === CONNECTING || this.#readyState === CLOSED) return;
    this.#paused = true;
    this.#socket!.pause();
  }

  /** resume starts reading again after `pause()`. */
  resume(): void {
    if (this.#readyState === CONNECTING || this.#readyState === CLOSED) return;
    this.#paused = false;
    this.#socket!.resume();
  }

  /** ping sends a ping (at most 125 bytes); `cb` is called once it is written. Throws while connecting. */
  ping(data?: Data | SendCallback, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#controlCall(Opcode.Ping, data, mask, cb);
  }

  /** pong sends a pong (at most 125 bytes), e.g. as a one-way heartbeat. Throws while connecting. */
  pong(data?: Data | SendCallback, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#controlCall(Opcode.Pong, data, mask, cb);
  }

  #controlCall(opcode: number, data: unknown, mask: unknown, cb: SendCallback | undefined): void {
    if (this.#readyState === CONNECTING) throw notOpen(CONNECTING);
    if (typeof data === 'function') {
      cb = data as SendCallback;
      data = mask = undefined;
    } else if (typeof mask === 'function') {
      cb = mask as SendCallback;
      mask = undefined;
    }
    if (typeof data === 'number') data = String(data);
    if (this.#readyState !== OPEN) return this.#sendAfterClose(data, cb);
    const masked = (mask as boolean | undefined) ?? !this.#isServer;
    if (isBlob(data) || this.#pending !== null) {
      this.#enqueue(data || EMPTY, (bytes) => this.#control(opcode, bytes, masked, cb), cb);
      return;
    }
    this.#control(opcode, data ? toBuffer(data) : EMPTY, masked, cb);
  }

  #control(opcode: number, payload: Buffer, mask: boolean, cb: SendCallback | undefined): void {
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new RangeError(`The data size must not be greater than ${MAX_CONTROL_PAYLOAD} bytes`);
    }
    sendFrame(this.#conn!, opcode, payload, true, false, this.#maskFor(mask), cb as WriteCallback | undefined);
  }

  #maskFor(mask: boolean): boolean | Uint8Array {
    if (!mask || this.#generateMask === undefined) return mask;
    const key = Buffer.alloc(4);
    this.#generateMask(key);
    return key;
  }

  /**
   * send sends `data`: a string as text, anything else as binary unless
   * `options.binary` says otherwise. `cb` is called once the data is written
   * out, or with the error that stopped it. Throws while connecting; after
   * close, `cb` gets an error and the bytes count in `bufferedAmount`.
   */
  send(data: Data, cb?: SendCallback): void;
  send(data: Data, options: SendOptions, cb?: SendCallback): void;
  send(data: Data, options?: SendOptions | SendCallback, cb?: SendCallback): void {
    if (this.#readyState === CONNECTING) throw notOpen(CONNECTING);
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    if (typeof data === 'number') data = String(data);
    if (this.#readyState !== OPEN) return this.#sendAfterClose(data, cb);
    const binary = options?.binary ?? typeof data !== 'string';
    const mask = options?.mask ?? !this.#isServer;
    const compress = options?.compress ?? true;
    const fin = options?.fin ?? true;
    if (isBlob(data) || this.#pending !== null) {
      this.#enqueue(data || EMPTY, (bytes) => this.#sendNow(bytes, binary, fin, compress, mask, cb), cb);
      return;
    }
    this.#sendNow(data ? toBuffer(data) : EMPTY, binary, fin, compress, mask, cb);
  }

  #sendNow(payload: Buffer, binary: boolean, fin: boolean, compress: boolean, mask: boolean, cb: SendCallback | undefined): void {
    const first = !this.#continuing;
    const opcode = first ? (binary ? Opcode.Binary : Opcode.Text) : Opcode.Continuation;
    this.#continuing = !fin;
    // A fragmented message goes out uncompressed: RFC 7692 lets each message choose.
    sendFrame(this.#conn!, opcode, payload, fin, compress && first && fin, this.#maskFor(mask), cb as WriteCallback | undefined);
  }

  /** Queue a send behind Blobs being read, so frames leave in call order. */
  #enqueue(data: unknown, run: (data: Buffer) => void, cb: SendCallback | undefined): void {
    const item: Pending = { data, run, fail: (err) => cb?.(err) };
    if (this.#pending !== null) {
      this.#pending.push(item);
      return;
    }
    this.#pending = [item];
    this.#drainPending();
  }

  /** Run queued sends in order; a Blob is read first, and the rest wait for it. */
  #drainPending(): void {
    const pending = this.#pending!;
    while (pending.length > 0) {
      const item = pending[0]!;
      if (isBlob(item.data)) {
        item.data.arrayBuffer().then(
          (buffer) => {
            if (this.#socket === null || this.#socket.destroyed) {
              return this.#failPending(new Error('The socket was closed while the blob was being read'));
            }
            pending.shift();
            this.#runPending(item, Buffer.from(buffer));
            this.#drainPending();
          },
          (err: Error) => {
            process.nextTick(() => this.#blobFailed(err));
          },
        );
        return;
      }
      pending.shift();
      this.#runPending(item, toBuffer(item.data));
    }
    this.#pending = null;
  }

  #runPending(item: Pending, bytes: Buffer): void {
    try {
      item.run(bytes);
    } catch (err) {
      item.fail(err as Error);
    }
  }

  /** Every queued send (the Blob first) fails with `err`. */
  #failPending(err: Error): void {
    const pending = this.#pending ?? [];
    this.#pending = null;
    for (const item of pending) item.fail(err);
  }

  /** A Blob could not be read: as in ws, the queued callbacks and `error` get the reason and the connection ends. */
  #blobFailed(err: Error): void {
    this.#failPending(err);
    if (this.#readyState === CLOSED) return;
    if (this.#readyState === OPEN) this.#readyState = CLOSING;
    this.#socket?.end();
    this.#emitError(err);
  }

  #sendAfterClose(data: unknown, cb: SendCallback | undefined): void {
    if (data) this.#lateBytes += isBlob(data) ? data.size : toBuffer(data).length;
    if (cb) {
      const err = notOpen(this.#readyState);
      process.nextTick(cb, err);
    }
  }

  /** terminate drops the connection at once (socket.destroy()); while connecting it abandons the attempt. */
  terminate(): void {
    if (this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      abortHandshake(this.#clientControl!, this._req, 'WebSocket was closed before the connection was established');
      return;
    }
    if (this.#socket !== null) {
      this.#readyState = CLOSING;
      this.#conn!.terminate();
    }
  }

  // ---- the EventTarget emulation ----

  /** Listen as in browsers: 'open', 'message', 'error' or 'close' (other types are ignored). */
  addEventListener(type: 'message', listener: EventListenerLike<WsMessageEvent>, options?: { once?: boolean }): void;
  addEventListener(type: 'close', listener: EventListenerLike<WsCloseEvent>, options?: { once?: boolean }): void;
  addEventListener(type: 'error', listener: EventListenerLike<WsErrorEvent>, options?: { once?: boolean }): void;
  addEventListener(type: string, listener: EventListenerLike<WsEvent>, options?: { once?: boolean }): void;
  addEventListener(type: string, listener: EventListenerLike<never>, options?: { once?: boolean }): void {
    addEventListener(this, type, listener as EventListenerLike<WsEvent>, options);
  }

  /** Remove a listener added with addEventListener. */
  removeEventListener(type: string, listener: unknown): void {
    removeEventListener(this, type, listener);
  }

  /** The control the client's handshake (client.ts) acts through: the private state it may touch. */
  #makeControl(): ClientControl {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const ws = this;
    return {
      ws,
      redirect: null,
      readyState: () => ws.#readyState,
      setUrl(url: string): void {
        ws.#url = url;
      },
      setAutoPong(on: boolean): void {
        ws.#autoPong = on;
      },
      closing(): void {
        ws.#readyState = CLOSING;
      },
      errorAndClose(err: Error): void {
        ws.#readyState = CLOSING;
        ws.#errorEmitted = true;
        ws.emit('error', err);
        ws.#emitClose();
      },
      emitError(err: Error): void {
        ws.#errorEmitted = true;
        ws.emit('error', err);
      },
      emitClose(): void {
        ws.#emitClose();
      },
      open(socket: Duplex, settings: ConnSettings, deflate: DeflateParams | null, head: Buffer, protocol: string, generateMask?: (mask: Buffer) => void): void {
        ws[AGREED](protocol, deflate ? 'permessage-deflate' : '');
        ws[ATTACH](socket, settings, deflate, head, generateMask);
      },
    };
  }
}

// The ready states, on the class and on every instance, enumerable and read-only as in ws.
for (const [index, name] of STATE_NAMES.entries()) {
  Object.defineProperty(WebSocket, name, { enumerable: true, value: index });
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value: index });
}
// Accessors are enumerable in ws (class accessors are not by default).
for (const name of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url']) {
  const descriptor = Object.getOwnPropertyDescriptor(WebSocket.prototype, name)!;
  Object.defineProperty(WebSocket.prototype, name, { ...descriptor, enumerable: true });
}
for (const type of ['open', 'error', 'close', 'message'] as const) {
  Object.defineProperty(WebSocket.prototype, `on${type}`, {
    enumerable: true,
    configurable: true,
    get(this: WebSocket) {
      return getAttribute(this, type);
    },
    set(this: WebSocket, handler: unknown) {
      setAttribute(this, type, handler);
    },
  });
}

// The on<event> attributes (defined above on the prototype) and the events, for TypeScript.
export interface WebSocket {
  /** `message`: `data` per `binaryType` for a binary message, a Buffer for text; `isBinary` tells which. */
  on(event: 'message', listener: (this: WebSocket, data: RawData, isBinary: boolean) => void): this;
  /** `close`: the close code (1005 when none came, 1006 when no close frame came) and the reason as a Buffer. */
  on(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  /** `error`: a protocol error (with a `WS_ERR_*` code), a failed handshake or a socket error; `close` follows. */
  on(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  /** `open`: the connection is established. */
  on(event: 'open', listener: (this: WebSocket) => void): this;
  /** `ping` and `pong`: a control frame arrived, with its data. Pings are answered unless `autoPong` is false. */
  on(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  /** `upgrade`: the server's 101 response, before it is checked (for its headers, e.g. Set-Cookie). */
  on(event: 'upgrade', listener: (this: WebSocket, response: IncomingMessage) => void): this;
  /** `unexpected-response`: the server answered the handshake with another status; read or abort the response. */
  on(event: 'unexpected-response', listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void): this;
  /** `redirect`: a redirect is about to be followed; the request may still have headers removed. */
  on(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  /** Any other event, as on every EventEmitter. */
  on(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  /** `message`: `data` per `binaryType` for a binary message, a Buffer for text; `isBinary` tells which. */
  once(event: 'message', listener: (this: WebSocket, data: RawData, isBinary: boolean) => void): this;
  /** `close`: the close code (1005 when none came, 1006 when no close frame came) and the reason as a Buffer. */
  once(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  /** `error`: a protocol error (with a `WS_ERR_*` code), a failed handshake or a socket error; `close` follows. */
  once(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  /** `open`: the connection is established. */
  once(event: 'open', listener: (this: WebSocket) => void): this;
  /** `ping` and `pong`: a control frame arrived, with its data. Pings are answered unless `autoPong` is false. */
  once(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  /** `upgrade`: the server's 101 response, before it is checked (for its headers, e.g. Set-Cookie). */
  once(event: 'upgrade', listener: (this: WebSocket, response: IncomingMessage) => void): this;
  /** `unexpected-response`: the server answered the handshake with another status; read or abort the response. */
  once(event: 'unexpected-response', listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void): this;
  /** `redirect`: a redirect is about to be followed; the request may still have headers removed. */
  once(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  /** Any other event, as on every EventEmitter. */
  once(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;
  /** Called with a WsEvent when the connection opens. */
  onopen: ((this: WebSocket, event: WsEvent) => void) | null;
  /** Called with a MessageEvent-like object: `data` is a string for text, else per `binaryType`. */
  onmessage: ((this: WebSocket, event: WsMessageEvent) => void) | null;
  /** Called with an ErrorEvent-like object: `error` and `message`. */
  onerror: ((this: WebSocket, event: WsErrorEvent) => void) | null;
  /** Called with a CloseEvent-like object: `code`, `reason`, `wasClean`. */
  onclose: ((this: WebSocket, event: WsCloseEvent) => void) | null;
}
