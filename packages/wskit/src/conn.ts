/**
 * Conn: one WebSocket connection, the I/O shell around the sans-I/O
 * {@link Connection}. It feeds socket bytes to the core, delivers messages
 * to readers, answers pings, runs the closing handshake, enforces deadlines
 * and applies backpressure both ways.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import { CloseCode, Defaults, MAX_CONTROL_PAYLOAD, MessageType, Opcode } from './constants.js';
import { Deadline } from './deadline.js';
import { MIN_RAW_WINDOW_BITS, MessageDeflater, MessageInflater } from './deflate.js';
import { CloseError, ProtocolError, TimeoutError } from './errors.js';
import { parseJSON } from './json.js';
import type { PreparedMessage } from './prepared-message.js';
import { encodeClosePayload, isValidCloseCode, truncateReason } from './protocol/close.js';
import { Connection, type ConnectionEvent } from './protocol/connection.js';
import type { DeflateOptions, DeflateParams } from './protocol/extensions.js';
import { encodeFrame } from './protocol/frame.js';

/** A received data message. */
export interface Message {
  /** `'text'` (UTF-8, already validated) or `'binary'`. */
  type: MessageType;
  /** The payload. For text, `data.toString()` gives the string. */
  data: Buffer;
}

/** Settings a Conn is built with; `Upgrader` and `dial` fill them in. */
export interface ConnOptions {
  role: 'server' | 'client';
  /** Largest message accepted, after decompression. Default 1 MiB. */
  maxMessageSize?: number;
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
}

/**
 * A pending read. `iterate` readers come from `for await` and get iterator
 * results straight away, so a waiting loop costs one promise, not a chain.
 */
type Reader = { resolve: (value: Message | IteratorResult<Message>) => void; reject: (err: Error) => void; iterate: boolean };
const DONE: IteratorResult<Message> = Object.freeze({ value: undefined, done: true });

const RESOLVED = Promise.resolve();
/** Where a socket keeps its Conn, so the shared listeners find it. */
const OWNER = Symbol('wskit.conn');
type OwnedSocket = Socket & { [OWNER]: Conn };
/** 'close' always follows a socket error; the connection ends there (1006 unless a close frame came). */
function ignoreError(): void {}
const NORMAL_CLOSES: ReadonlySet<number> = new Set([
  CloseCode.NormalClosure,
  CloseCode.GoingAway,
  CloseCode.NoStatusReceived,
]);

/** Conn's internal hook for its iterator; not exported from the package. */
const NEXT_RESULT = Symbol('wskit.nextResult');

/** The `for await` iterator of a Conn: one small object per loop, its methods shared. */
class MessageIterator implements AsyncIterator<Message> {
  readonly #conn: Conn;
  constructor(conn: Conn) {
    this.#conn = conn;
  }
  next(): Promise<IteratorResult<Message>> {
    return this.#conn[NEXT_RESULT]();
  }
  return(): Promise<IteratorResult<Message>> {
    return Promise.resolve(DONE);
  }
}

/** `for await` ends quietly after a normal close; any other end is thrown. */
function endsIteration(err: Error): boolean {
  return err instanceof CloseError && NORMAL_CLOSES.has(err.closeCode);
}

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
  readonly #socket: Socket;
  readonly #settings: ConnSettings;
  readonly #core: Connection;
  readonly #deflate: DeflateParams | null;
  /** zlib streams cost hundreds of KiB: made on first use, so idle connections stay small. */
  #deflater: MessageDeflater | null = null;
  #inflater: MessageInflater | null = null;

  readonly #inbox: Message[] = [];
  #inboxBytes = 0;
  #paused = false;
  /** The first waiting reader; more than one at a time is rare, so the rest queue in an array made when needed. */
  #reader: Reader | null = null;
  #moreReaders: Reader[] | null = null;
  #inflating = false;
  #pendingError: Error | null = null;
  #failScheduled = false;

  /** Set when reading can yield nothing more: the error reads reject with. */
  #terminal: Error | null = null;
  #closeSent = false;
  #closeResult: CloseError | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  /** Made when first asked for: most connections never need it before they end. */
  #closed: Promise<CloseError> | null = null;
  #resolveClosed: ((result: CloseError) => void) | null = null;
  /** How the connection ended, once it has. */
  #ended: CloseError | null = null;

  #sendChain: Promise<void> | null = null;
  #corked = false;
  #sendQueued = 0;
  #drain: Promise<void> | null = null;
  #resolveDrain: (() => void) | null = null;
  #rejectDrain: ((err: Error) => void) | null = null;

  /** Deadlines are made on first use, so an idle connection without one carries no timers. */
  #readDeadline: Deadline | null = null;
  #writeDeadline: Deadline | null = null;
  #pingHandler: ((data: Buffer) => void) | null = null;
  #pongHandler: ((data: Buffer) => void) | null = null;

  /** The agreed subprotocol, or '' when none. */
  readonly subprotocol: string;
  /** The agreed `Sec-WebSocket-Extensions` value, or '' when none. */
  readonly extensions: string;
  /** The peer's host (in brackets for IPv6) and port, captured at open: the socket forgets them once closed. */
  readonly #peerHost: string;
  readonly #peerPort: number;

  /** @internal Built by `Upgrader` and `dial`; `head` holds bytes read past the handshake. */
  constructor(socket: Socket, settings: ConnSettings, agreed: Agreement, head?: Buffer) {
    this.#socket = socket;
    this.#settings = settings;
    const deflate = agreed.deflate;
    this.#deflate = deflate;
    this.#core = new Connection({ role: settings.role, maxMessageSize: settings.maxMessageSize, compression: deflate !== null });
    this.subprotocol = agreed.subprotocol;
    this.extensions = agreed.extensions;
    const host = socket.remoteAddress;
    this.#peerHost = host === undefined ? '' : socket.remoteFamily === 'IPv6' ? `[${host}]` : host;
    this.#peerPort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    // One set of listeners shared by every connection, finding its Conn through the socket.
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('data', Conn.#onSocketData);
    socket.on('end', Conn.#onSocketEnd);
    socket.on('close', Conn.#onSocketClosed);
    socket.on('error', ignoreError);
    if (head && head.length > 0) this.#onData(head);
  }

  static #onSocketData(this: Socket, chunk: Buffer): void {
    (this as OwnedSocket)[OWNER].#onData(chunk);
  }

  static #onSocketEnd(this: Socket): void {
    (this as OwnedSocket)[OWNER].#onEnd();
  }

  static #onSocketClosed(this: Socket): void {
    (this as OwnedSocket)[OWNER].#onSocketClose();
  }

  static #uncorkSocket(conn: Conn): void {
    conn.#corked = false;
    conn.#socket.uncork();
  }

  #readDeadlineTimer(): Deadline {
    this.#readDeadline ??= new Deadline(() =>
      this.#abort(new TimeoutError(`Read deadline passed on connection from ${this.remoteAddress}`)),
    );
    return this.#readDeadline;
  }

  #writeDeadlineTimer(): Deadline {
    this.#writeDeadline ??= new Deadline(() => {
      if (this.#socket.writableLength > 0 || this.#sendChain !== null) {
        this.#abort(new TimeoutError(`Write deadline passed with ${this.bufferedAmount} bytes unsent`));
      }
    });
    return this.#writeDeadline;
  }

  /**
   * The peer's address, e.g. `127.0.0.1:53412` or `[::1]:53412`; readable
   * after close too. Built when asked: most connections are never asked.
   */
  get remoteAddress(): string {
    return this.#peerHost === '' ? '' : `${this.#peerHost}:${this.#peerPort}`;
  }

  /** Bytes written but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /**
   * True while a write would be taken: the connection is open, no close
   * frame has been sent and the write deadline has not passed. A write made
   * while it is true never rejects at once, so a broadcast loop can skip the
   * promise it returns.
   */
  get writable(): boolean {
    return this.#terminal === null && !this.#closeSent && this.#socket.writable && !this.#writeDeadline?.passed;
  }

  /**
   * True while more than the write buffer size waits to be sent: a write
   * made now would return a promise that waits for the peer to catch up.
   */
  get needsDrain(): boolean {
    return this.#socket.writableLength > this.#settings.writeBufferSize;
  }

  /**
   * Settles (never rejects) once the connection has ended, with the close
   * code and reason: those of the peer's close frame; ours when we failed the
   * connection for a protocol error; 1006 when TCP closed without either.
   */
  get closed(): Promise<CloseError> {
    if (this.#closed === null) {
      if (this.#ended !== null) this.#closed = Promise.resolve(this.#ended);
      else this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    }
    return this.#closed;
  }

  // ---- reading ----

  /**
   * read resolves with the next message. Rejects with CloseError once the
   * connection is closed (1006 if it dropped), ProtocolError if the peer broke
   * the protocol, or TimeoutError once the read deadline passed.
   */
  read(): Promise<Message> {
    return this.#read(false) as Promise<Message>;
  }

  #read(iterate: boolean): Promise<Message | IteratorResult<Message>> {
    const message = this.#inbox.shift();
    if (message !== undefined) {
      if (this.#inbox.length === 0) this.#inbox.length = 0; // Spare room back, as in #drainEvents.
      this.#inboxBytes -= message.data.length;
      if (this.#paused && this.#inboxBytes <= this.#settings.readBufferSize / 2) {
        this.#paused = false;
        this.#socket.resume();
      }
      return Promise.resolve(iterate ? { value: message, done: false } : message);
    }
    if (this.#terminal) {
      return iterate && endsIteration(this.#terminal) ? Promise.resolve(DONE) : Promise.reject(this.#terminal);
    }
    return new Promise((resolve, reject) => {
      const reader: Reader = { resolve, reject, iterate };
      if (this.#reader === null) this.#reader = reader;
      else (this.#moreReaders ??= []).push(reader);
    });
  }

  #takeReader(): Reader | null {
    const reader = this.#reader;
    this.#reader = this.#moreReaders?.shift() ?? null;
    return reader;
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
   * Iterate over messages. Ends after a normal close (1000, 1001 or no code);
   * throws the CloseError, ProtocolError or TimeoutError otherwise.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return new MessageIterator(this);
  }

  /** @internal The next iterator result, for {@link MessageIterator}. */
  [NEXT_RESULT](): Promise<IteratorResult<Message>> {
    return this.#read(true) as Promise<IteratorResult<Message>>;
  }

  #onData(chunk: Buffer): void {
    if (this.#pendingError) return;
    try {
      this.#core.receive(chunk);
    } catch (err) {
      this.#pendingError = err as Error;
    }
    this.#drainEvents();
  }

  #drainEvents(): void {
    const events = this.#core.events;
    while (events.length > 0 && !this.#inflating) this.#handle(events.shift()!);
    // V8 keeps an array's spare room after shift() empties it; setting the length to 0 gives it back,
    // so a connection that has gone quiet does not hold it (about 140 B per array).
    if (events.length === 0) events.length = 0;
    if (events.length === 0 && !this.#inflating && this.#pendingError && !this.#failScheduled) {
      this.#failScheduled = true;
      const err = this.#pendingError;
      // Fail after the current microtasks: readers woken by messages that came before the error
      // act on them first, so an echo of earlier data leaves before the close frame (Autobahn 3.2, 4.1.3, 5.15).
      setImmediate(() =>
        this.#fail(err instanceof ProtocolError ? err : new ProtocolError('ERR_INTERNAL', String(err), CloseCode.InternalServerError)),
      );
    }
  }

  #handle(event: ConnectionEvent): void {
    switch (event.kind) {
      case 'message':
        if (event.compressed) return this.#inflate(event.type, event.data);
        return this.#deliver({ type: event.type, data: event.data });
      case 'ping':
        if (this.#pingHandler) this.#pingHandler(event.data);
        else if (!this.#closeSent) this.#writeControl(Opcode.Pong, event.data);
        return;
      case 'pong':
        this.#pongHandler?.(event.data);
        return;
      case 'close':
        return this.#onCloseFrame(event.code, event.reason);
    }
  }

  #inflate(type: MessageType, data: Buffer): void {
    this.#inflater ??= new MessageInflater(this.#deflate?.peerNoContextTakeover ?? false);
    let now: Buffer | null;
    try {
      now = this.#inflater.inflateNow(data, this.#settings.maxMessageSize);
    } catch (err) {
      return this.#inflateFailed(err as Error);
    }
    if (now !== null) return this.#inflated(type, now);
    this.#inflating = true;
    this.#inflater.decompress(data, this.#settings.maxMessageSize).then(
      (inflated) => {
        this.#inflating = false;
        this.#inflated(type, inflated);
        this.#drainEvents();
      },
      (err: Error) => {
        this.#inflating = false;
        this.#inflateFailed(err);
        this.#drainEvents();
      },
    );
  }

  #inflated(type: MessageType, data: Buffer): void {
    if (type === MessageType.Text && !isUtf8(data)) {
      this.#inflateFailed(new ProtocolError('ERR_INVALID_UTF8', 'Invalid text message: not valid UTF-8', CloseCode.InvalidPayloadData));
    } else {
      this.#deliver({ type, data });
    }
  }

  /** Nothing after a message that cannot be inflated is delivered: the connection fails with its code. */
  #inflateFailed(err: Error): void {
    this.#core.events.length = 0;
    this.#pendingError = err;
  }

  #deliver(message: Message): void {
    if (this.#closeSent && this.#terminal) return;
    const reader = this.#takeReader();
    if (reader) return reader.resolve(reader.iterate ? { value: message, done: false } : message);
    this.#inbox.push(message);
    this.#inboxBytes += message.data.length;
    if (!this.#paused && this.#inboxBytes > this.#settings.readBufferSize) {
      // Nobody is reading fast enough: stop reading so TCP pushes back on the sender.
      this.#paused = true;
      this.#socket.pause();
    }
  }

  // ---- writing ----

  /**
   * write sends a message: `'text'` (a string, or bytes that must be UTF-8)
   * or `'binary'`. Resolves once the outgoing buffer is below the write
   * buffer's high-water mark. Rejects with CloseError after close, or
   * TimeoutError past the write deadline.
   */
  write(type: MessageType, data: string | Uint8Array): Promise<void> {
    const opcode = type === MessageType.Text ? Opcode.Text : type === MessageType.Binary ? Opcode.Binary : -1;
    if (opcode < 0) return Promise.reject(new TypeError(`Message type must be 'text' or 'binary', not ${String(type)}`));
    const blocked = this.#writeBlocked();
    if (blocked) return Promise.reject(blocked);
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    // An agreed 8-bit window is honoured by not compressing: zlib's smallest is 9 (RFC 7692 lets each message choose).
    if (this.#deflate !== null && this.#deflate.windowBits >= MIN_RAW_WINDOW_BITS && payload.length >= this.#settings.threshold) {
      this.#deflater ??= new MessageDeflater(this.#deflate.windowBits, this.#deflate.noContextTakeover, this.#settings.level);
      const deflater = this.#deflater;
      const input = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
      // A small message that stands alone is compressed here and now, unless earlier sends are still queued.
      const now = this.#sendChain === null ? deflater.compressNow(input) : null;
      if (now !== null) {
        this.#writeFrame(opcode, now, true);
        return this.#flushed();
      }
      return this.#enqueue(() =>
        deflater.compress(input).then((compressed) => {
          this.#writeFrame(opcode, compressed, true);
        }),
      );
    }
    if (this.#sendChain !== null) return this.#enqueue(() => this.#writeFrame(opcode, payload, false));
    this.#writeFrame(opcode, payload, false);
    return this.#flushed();
  }

  /** writeJSON sends `value` as a JSON text message. */
  writeJSON(value: unknown): Promise<void> {
    return this.write(MessageType.Text, JSON.stringify(value));
  }

  /**
   * writePrepared sends a {@link PreparedMessage}. A server writes the cached
   * frame as is (uncompressed: RFC 7692 lets each message choose); a client
   * masks a fresh copy.
   */
  writePrepared(prepared: PreparedMessage): Promise<void> {
    if (this.#settings.role === 'client') return this.write(prepared.type, prepared.data);
    const blocked = this.#writeBlocked();
    if (blocked) return Promise.reject(blocked);
    if (this.#sendChain !== null) return this.#enqueue(() => this.#writeRaw(prepared.frame));
    this.#writeRaw(prepared.frame);
    return this.#flushed();
  }

  /** ping sends a ping with up to 125 bytes of data; the peer answers with a pong. */
  ping(data: string | Uint8Array = ''): Promise<void> {
    return this.#sendControl(Opcode.Ping, 'Ping', data);
  }

  /** pong sends an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3). */
  pong(data: string | Uint8Array = ''): Promise<void> {
    return this.#sendControl(Opcode.Pong, 'Pong', data);
  }

  #sendControl(opcode: number, name: string, data: string | Uint8Array): Promise<void> {
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      return Promise.reject(new RangeError(`${name} data is ${payload.length} bytes, over the limit of ${MAX_CONTROL_PAYLOAD}`));
    }
    const blocked = this.#writeBlocked();
    if (blocked) return Promise.reject(blocked);
    this.#writeControl(opcode, payload);
    return this.#flushed();
  }

  /**
   * setPingHandler replaces what happens when a ping arrives. The default
   * answers with a pong carrying the same data; a handler that replaces it
   * should call `pong(data)` itself. Pass null to restore the default.
   */
  setPingHandler(handler: ((data: Buffer) => void) | null): void {
    this.#pingHandler = handler;
  }

  /** setPongHandler sets what happens when a pong arrives (default: nothing). */
  setPongHandler(handler: ((data: Buffer) => void) | null): void {
    this.#pongHandler = handler;
  }

  /**
   * setReadDeadline sets when a read must have completed (a Date or epoch
   * milliseconds; null clears it). Once it passes with no message, pending and
   * later reads reject with TimeoutError and the connection is dropped, as in
   * gorilla/websocket. Extending it on every message is cheap.
   */
  setReadDeadline(deadline: Date | number | null): void {
    if (deadline === null && this.#readDeadline === null) return;
    this.#readDeadlineTimer().set(deadline);
  }

  /**
   * setWriteDeadline sets when queued writes must have reached the kernel.
   * If it passes with bytes still queued, the connection is dropped and
   * writes reject with TimeoutError; a write started after it passed fails.
   */
  setWriteDeadline(deadline: Date | number | null): void {
    if (deadline === null && this.#writeDeadline === null) return;
    this.#writeDeadlineTimer().set(deadline);
  }

  #writeBlocked(): Error | null {
    if (this.#terminal && !this.#closeSent) return this.#terminal;
    if (this.#closeSent || this.#terminal) {
      return new CloseError(this.#closeResult?.closeCode ?? CloseCode.AbnormalClosure, this.#closeResult?.reason ?? '', 'Cannot write: the connection is closing or closed');
    }
    if (this.#writeDeadline?.passed) {
      const err = new TimeoutError('Cannot write: the write deadline has passed');
      this.#abort(err);
      return err;
    }
    return null;
  }

  #writeFrame(opcode: number, payload: Uint8Array, compressed: boolean): void {
    if (!this.#socket.writable) return;
    const parts = encodeFrame(opcode, payload, { rsv1: compressed, mask: this.#settings.role === 'client' });
    this.#batch();
    for (const part of parts) this.#socket.write(part);
  }

  /** Write an encoded frame. Both write paths skip a socket already ended or dropped (its 'close' still to come): Node would only make an error of the write. */
  #writeRaw(frame: Buffer): void {
    if (!this.#socket.writable) return;
    this.#batch();
    this.#socket.write(frame);
  }

  /**
   * Cork the socket until the current tick's work is done, so every frame
   * written meanwhile (echoes of one read, a broadcast) leaves in one writev.
   */
  #batch(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#socket.cork();
    process.nextTick(Conn.#uncorkSocket, this);
  }

  #writeControl(opcode: number, payload: Uint8Array): void {
    this.#writeFrame(opcode, payload, false);
  }

  /** Run `task` after every earlier queued send; keeps frames in call order while compressing. */
  #enqueue(task: () => void | Promise<void>): Promise<void> {
    this.#sendQueued++;
    const chain = (this.#sendChain ?? RESOLVED).then(task).finally(() => {
      if (--this.#sendQueued === 0 && this.#sendChain === chain) this.#sendChain = null;
    });
    this.#sendChain = chain;
    return chain.then(() => this.#flushed());
  }

  #flushed(): Promise<void> {
    if (this.#socket.writableLength <= this.#settings.writeBufferSize) return RESOLVED;
    if (this.#drain === null) {
      this.#drain = new Promise((resolve, reject) => {
        this.#resolveDrain = resolve;
        this.#rejectDrain = reject;
      });
      // Callers that do not await a write must not turn a dropped connection into a crash.
      this.#drain.catch(() => {});
      this.#socket.once('drain', () => {
        this.#drain = null;
        this.#resolveDrain?.();
      });
    }
    return this.#drain;
  }

  // ---- closing ----

  /**
   * close starts the closing handshake (RFC 6455 §7.1.2): sends a close frame
   * with `code` and `reason` (at most 123 bytes), waits for the peer's close
   * frame, and closes TCP (the server first). Resolves when the TCP
   * connection is closed; after the close timeout the socket is dropped.
   */
  close(code: number = CloseCode.NormalClosure, reason = ''): Promise<void> {
    if (code !== CloseCode.NoStatusReceived && !isValidCloseCode(code)) {
      return Promise.reject(new RangeError(`Close code ${code} may not be sent (RFC 6455 §7.4)`));
    }
    let payload: Buffer;
    try {
      payload = encodeClosePayload(code, reason);
    } catch (err) {
      // A reason over 123 bytes: reject like the other argument errors, never throw from a Promise API.
      return Promise.reject(err);
    }
    const done = this.closed.then(() => undefined);
    if (this.#closeSent || this.#socket.destroyed) return done;
    this.#closeSent = true;
    const send = () => {
      this.#writeControl(Opcode.Close, payload);
      this.#armCloseTimer();
    };
    if (this.#sendChain !== null) this.#enqueue(send).catch(() => {});
    else send();
    return done;
  }

  /** terminate drops the TCP connection at once, without a closing handshake. */
  terminate(): void {
    this.#terminal ??= new CloseError(CloseCode.AbnormalClosure, '', 'Connection terminated');
    this.#socket.destroy();
  }

  #onCloseFrame(code: number, reason: string): void {
    this.#closeResult = new CloseError(code, reason);
    this.#terminal ??= this.#closeResult;
    this.#rejectReaders();
    if (!this.#closeSent) {
      // RFC 6455 §5.5.1: answer with a close frame, echoing the code.
      this.#closeSent = true;
      this.#writeControl(Opcode.Close, code === CloseCode.NoStatusReceived ? Buffer.alloc(0) : encodeClosePayload(code));
    }
    // RFC 6455 §7.1.1: the server closes TCP first; a client waits for it.
    if (this.#settings.role === 'server') this.#socket.end();
    this.#armCloseTimer();
  }

  /** Fail the connection (RFC 6455 §7.1.7): close frame with the error's code, then close TCP. */
  #fail(err: ProtocolError): void {
    this.#core.stop();
    this.#terminal ??= err;
    this.#closeResult ??= new CloseError(err.closeCode, err.message);
    this.#rejectReaders();
    const sendClose = !this.#closeSent;
    this.#closeSent = true;
    const finish = () => {
      if (sendClose) this.#writeControl(Opcode.Close, encodeClosePayload(err.closeCode, truncateReason(err.message)));
      this.#socket.end();
      this.#armCloseTimer();
    };
    // Writes queued before the failure (a message still compressing) go out before the close frame.
    if (this.#sendChain !== null) this.#enqueue(finish).catch(() => {});
    else finish();
  }

  /** Drop the connection for a timeout or other local reason. */
  #abort(err: Error): void {
    this.#terminal ??= err;
    this.#closeResult ??= new CloseError(CloseCode.AbnormalClosure, err.message);
    this.#rejectReaders();
    this.#rejectDrain?.(err);
    this.#socket.destroy();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== null) return;
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#settings.closeTimeout);
    this.#closeTimer.unref();
  }

  #onEnd(): void {
    // The peer closed its side of TCP: finish ours once queued bytes are out.
    this.#socket.end();
  }

  #onSocketClose(): void {
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#readDeadline?.clear();
    this.#writeDeadline?.clear();
    const result = this.#closeResult ?? new CloseError(CloseCode.AbnormalClosure, '');
    this.#terminal ??= result;
    this.#closeSent = true;
    this.#rejectReaders();
    this.#rejectDrain?.(this.#terminal);
    this.#deflater?.close();
    this.#inflater?.close();
    this.#ended = result;
    this.#resolveClosed?.(result);
  }

  #rejectReaders(): void {
    if (this.#inbox.length > 0) return;
    const err = this.#terminal!;
    const done = endsIteration(err);
    for (let reader = this.#takeReader(); reader !== null; reader = this.#takeReader()) {
      if (reader.iterate && done) reader.resolve(DONE);
      else reader.reject(err);
    }
  }
}
