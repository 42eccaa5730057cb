/**
 * WebSocket: the browser's WebSocket API (WHATWG "WebSockets" standard) on
 * top of {@link dial} and {@link Conn}, so code shared with browsers runs on
 * Node 20 without flags. Node 20 lacks `CloseEvent`, so {@link CloseEvent}
 * is defined here.
 */
import { Buffer } from 'node:buffer';
import { CloseCode, MessageType } from './constants.js';
import { closeWithoutStatus, type Conn, countUnsentPayload } from './conn.js';
import { dial, type DialOptions } from './dial.js';
import { CloseError } from './errors.js';
import { checkOptions, subprotocolProblem, WEBSOCKET_RULES } from './options.js';
import { MAX_CLOSE_REASON } from './protocol/close.js';
import type { UnsentPayload } from './unsent-payload.js';

/** What `binaryType` may be: how binary messages are handed to `message` listeners. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** Data `send` accepts. */
export type WebSocketData = string | ArrayBufferLike | ArrayBufferView | Blob;

/**
 * Node-only settings, the optional third constructor argument (browsers have
 * none). Defaults: compression offered (as browsers do), the library's
 * limits (1 MiB messages, 10 s handshake), no extra headers. Each field is
 * checked as {@link DialOptions} describes: an unknown name or a wrong type
 * throws TypeError, a number out of range RangeError.
 */
export interface WebSocketOptions
  extends Pick<DialOptions, 'headers' | 'handshakeTimeout' | 'maxMessageSize' | 'maxFragments' | 'tls' | 'readBufferSize' | 'writeBufferSize'> {
  /** Offer permessage-deflate. Default true, like browsers. */
  compression?: DialOptions['compression'];
}

/** Settings of a {@link CloseEvent}. */
export interface CloseEventInit {
  /** Whether the event bubbles (as for any Event; unused by WebSocket). Default false. */
  bubbles?: boolean;
  /** Whether the event can be cancelled (as for any Event). Default false. */
  cancelable?: boolean;
  /** Whether the event crosses shadow DOM boundaries (as for any Event). Default false. */
  composed?: boolean;
  /** The close code. Default 0. */
  code?: number;
  /** The close reason. Default ''. */
  reason?: string;
  /** Whether the closing handshake completed. Default false. */
  wasClean?: boolean;
}

/**
 * CloseEvent is the `close` event of a {@link WebSocket}: the close code and
 * reason (1006 and '' when the connection dropped or the handshake failed)
 * and whether the closing handshake completed.
 */
export class CloseEvent extends Event {
  /** The close code the peer sent (1005 if none, 1006 when no close frame arrived). */
  readonly code: number;
  /** The close reason the peer sent, possibly empty. */
  readonly reason: string;
  /** True when the closing handshake completed. */
  readonly wasClean: boolean;
  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/** An `on…` event handler property of a {@link WebSocket}: a function called with the event, or null for none. */
export type WebSocketHandler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;
type HandlerName = 'open' | 'message' | 'error' | 'close';

const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

function syntaxError(message: string): DOMException {
  return new DOMException(message, 'SyntaxError');
}

/** Parse and check the URL as the standard's constructor steps 1–5 do. */
function parseUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw syntaxError(`Invalid WebSocket URL: ${String(url)}`);
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw syntaxError(`WebSocket URL must use ws:, wss:, http: or https:, not ${parsed.protocol}`);
  }
  if (parsed.hash !== '') throw syntaxError(`WebSocket URL must not have a fragment: ${parsed.href}`);
  return parsed;
}

/**
 * Check the protocols as the standard's constructor steps 6–7 do (SyntaxError
 * for a name that is not a token or comes twice). A value that is neither a
 * string nor a list of strings is a TypeError, as WebIDL's conversion would
 * give for most; an options object here is the commonest slip.
 */
function parseProtocols(protocols: unknown): string[] {
  let list: unknown[];
  if (protocols === undefined) list = [];
  else if (typeof protocols === 'string') list = [protocols];
  else if (typeof protocols === 'object' && protocols !== null && Symbol.iterator in protocols) list = [...(protocols as Iterable<unknown>)];
  else {
    const hint = typeof protocols === 'object' && protocols !== null ? ' (options go third: new WebSocket(url, protocols, options))' : '';
    throw new TypeError(`WebSocket argument "protocols" must be a string or an array of strings, got ${protocols === null ? 'null' : typeof protocols}${hint}`);
  }
  list.forEach((name, i) => {
    if (typeof name !== 'string') throw new TypeError(`WebSocket argument "protocols[${i}]" must be a string, got ${name === null ? 'null' : typeof name}`);
  });
  const problem = subprotocolProblem(list as string[]);
  if (problem !== null) throw syntaxError(`Invalid subprotocol list: ${problem}`);
  return list as string[];
}

/** Bytes of `data` as sent, without copying where possible. */
function toBytes(data: ArrayBufferLike | ArrayBufferView): Uint8Array {
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * WebSocket is the browser's WebSocket for Node: `new WebSocket(url,
 * protocols?)` connects at once; listen with `addEventListener` or the
 * `onopen`/`onmessage`/`onerror`/`onclose` properties; `send` and `close`
 * behave as in browsers, including their exceptions (`InvalidStateError`
 * while connecting, `InvalidAccessError` for a close code other than 1000
 * or 3000–4999, `SyntaxError` for a reason over 123 bytes or a bad URL).
 *
 * Binary messages arrive as `Blob` by default, as in browsers; set
 * `binaryType` to `'arraybuffer'` for an ArrayBuffer or `'nodebuffer'` for a
 * Buffer. A failed or refused handshake fires `error`, then `close` with code
 * 1006. Unlike {@link Conn}, reading never pauses: every message is
 * dispatched as it arrives.
 */
export class WebSocket extends EventTarget {
  /** The connection is being opened. */
  static readonly CONNECTING = ReadyState.CONNECTING;
  /** The connection is open: messages flow. */
  static readonly OPEN = ReadyState.OPEN;
  /** The closing handshake has started. */
  static readonly CLOSING = ReadyState.CLOSING;
  /** The connection is closed or could not be opened. */
  static readonly CLOSED = ReadyState.CLOSED;
  /** The connection is being opened. */
  readonly CONNECTING = ReadyState.CONNECTING;
  /** The connection is open: messages flow. */
  readonly OPEN = ReadyState.OPEN;
  /** The closing handshake has started. */
  readonly CLOSING = ReadyState.CLOSING;
  /** The connection is closed or could not be opened. */
  readonly CLOSED = ReadyState.CLOSED;

  readonly #url: URL;
  #readyState: number = ReadyState.CONNECTING;
  #binaryType: BinaryType = 'blob';
  #protocol = '';
  #extensions = '';
  #conn: Conn | null = null;
  /** Bytes waiting before they reach the Conn (Blobs being read) or sent after close. */
  #pendingBytes = 0;
  /** Payload bytes the Conn has taken and not yet handed to the kernel; counted from the first send. */
  #unsent: UnsentPayload | null = null;
  /** Set while a Blob is being read: later sends wait behind it to keep their order. */
  #sendTail: Promise<void> | null = null;
  /** Aborts the dial when close() comes while connecting. */
  readonly #dialing = new AbortController();
  /** The connection was failed (protocol error, timeout): close reports 1006. */
  #failed = false;
  readonly #handlers = new Map<HandlerName, { handler: WebSocketHandler<Event>; listener: (event: Event) => void }>();

  /**
   * Open a connection to `url` (ws:, wss:, or http:/https:, which map to
   * them), offering `protocols` in order of preference. Throws a
   * `SyntaxError` DOMException for a bad URL, a fragment, or an invalid or
   * repeated protocol. `options` holds Node-only settings: an unknown one
   * or one of the wrong type throws TypeError, a number out of range
   * RangeError. `protocols` other than a string or a list of strings (such
   * as an options object in its place) throws TypeError.
   */
  constructor(url: string | URL, protocols?: string | string[], options: WebSocketOptions = {}) {
    super();
    this.#url = parseUrl(url);
    const subprotocols = parseProtocols(protocols);
    checkOptions('WebSocket', WEBSOCKET_RULES, options);
    dial(this.#url, {
      headers: options.headers,
      handshakeTimeout: options.handshakeTimeout,
      maxMessageSize: options.maxMessageSize,
      maxFragments: options.maxFragments,
      readBufferSize: options.readBufferSize,
      writeBufferSize: options.writeBufferSize,
      tls: options.tls,
      subprotocols,
      compression: options.compression ?? true,
      signal: this.#dialing.signal,
    }).then(
      ({ conn }) => this.#onOpen(conn),
      () => this.#failBeforeOpen(),
    );
  }

  /** The URL connected to, with http(s): mapped to ws(s):. */
  get url(): string {
    return this.#url.href;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    return this.#readyState;
  }

  /** The subprotocol the server chose, '' until open or when none. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions the server accepted (`Sec-WebSocket-Extensions`), '' until open or when none. */
  get extensions(): string {
    return this.#extensions;
  }

  /**
   * How binary messages are delivered: `'blob'` (default, as in browsers),
   * `'arraybuffer'`, or `'nodebuffer'` (a Buffer). Other values are ignored,
   * as browsers do.
   */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  /** Sets the form of binary messages from now on; see the getter. */
  set binaryType(value: BinaryType) {
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /**
   * Bytes of data passed to `send` that have not been handed to the network
   * yet: payload only (text as UTF-8, before compression), no frame headers,
   * as browsers and undici count. It falls as frames reach the kernel and is
   * 0 once all have. As the standard says, it keeps growing for data sent
   * after the connection closed.
   */
  get bufferedAmount(): number {
    return this.#pendingBytes + (this.#unsent?.bytes ?? 0);
  }

  /**
   * send queues `data` for sending: a string as a text message; an
   * ArrayBuffer, typed array, DataView or Blob as a binary message. Throws an
   * `InvalidStateError` DOMException while connecting; after `close()` the
   * data is discarded (and counted in `bufferedAmount`).
   */
  send(data: WebSocketData): void {
    if (this.#readyState === ReadyState.CONNECTING) {
      throw new DOMException('Cannot send: the WebSocket is still connecting', 'InvalidStateError');
    }
    let type: MessageType;
    let payload: string | Uint8Array | Blob;
    let size: number;
    if (typeof data === 'string') {
      type = MessageType.Text;
      payload = data;
      size = Buffer.byteLength(data);
    } else if (data instanceof Blob) {
      type = MessageType.Binary;
      payload = data;
      size = data.size;
    } else if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
      type = MessageType.Binary;
      payload = toBytes(data);
      size = payload.length;
    } else {
      type = MessageType.Text;
      payload = String(data);
      size = Buffer.byteLength(payload);
    }
    if (this.#readyState !== ReadyState.OPEN || this.#conn === null) {
      this.#pendingBytes += size;
      return;
    }
    const conn = this.#conn;
    this.#unsent ??= countUnsentPayload(conn);
    const write = (bytes: string | Uint8Array) => {
      conn.write(type, bytes).catch(() => {
        // The connection ended: the close event reports it.
      });
    };
    if (payload instanceof Blob) {
      this.#pendingBytes += size;
      const blob = payload;
      this.#chain(async () => {
        const bytes = new Uint8Array(await blob.arrayBuffer());
        this.#pendingBytes -= size;
        write(bytes);
      });
    } else if (this.#sendTail !== null) {
      this.#pendingBytes += size;
      const bytes = payload;
      this.#chain(() => {
        this.#pendingBytes -= size;
        write(bytes);
      });
    } else {
      write(payload);
    }
  }

  /**
   * close starts the closing handshake with `code` (1000 or 3000–4999) and
   * `reason` (at most 123 bytes of UTF-8). Throws an `InvalidAccessError`
   * DOMException for another code and a `SyntaxError` for a longer reason.
   * Without a code the close frame carries none (a reason alone is sent with
   * 1000). While connecting, the attempt is abandoned (error, then close
   * 1006). Does nothing once closing or closed.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== CloseCode.NormalClosure && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(`Invalid close code ${code}: use 1000 or 3000–4999`, 'InvalidAccessError');
    }
    const reasonText = reason ?? '';
    const reasonBytes = Buffer.byteLength(reasonText);
    if (reasonBytes > MAX_CLOSE_REASON) {
      throw syntaxError(`Close reason is ${reasonBytes} bytes, over the limit of ${MAX_CLOSE_REASON}`);
    }
    if (this.#readyState === ReadyState.CLOSING || this.#readyState === ReadyState.CLOSED) return;
    if (this.#readyState === ReadyState.CONNECTING) {
      // "Fail the WebSocket connection": report it now and stop the dial, socket and all.
      this.#dialing.abort();
      this.#readyState = ReadyState.CLOSING;
      setImmediate(() => this.#failBeforeOpen());
      return;
    }
    this.#readyState = ReadyState.CLOSING;
    const sendCode = code ?? (reasonText === '' ? null : CloseCode.NormalClosure);
    const conn = this.#conn!;
    const start = () => {
      // No code: a close frame without one (the peer reads 1005, which RFC 6455 §7.4.1 forbids sending).
      const closing = sendCode === null ? closeWithoutStatus(conn) : conn.close(sendCode, reasonText);
      closing.catch(() => conn.terminate());
    };
    // Data sent before close goes out before the close frame.
    if (this.#sendTail !== null) this.#chain(start);
    else start();
  }

  /** Called on `open`: the connection is established. */
  get onopen(): WebSocketHandler<Event> {
    return this.#getHandler('open');
  }
  /** Replaces the handler (null removes it); listeners added with addEventListener stay. */
  set onopen(handler: WebSocketHandler<Event>) {
    this.#setHandler('open', handler);
  }

  /** Called on `message`: `event.data` is a string, or per `binaryType` for binary messages. */
  get onmessage(): WebSocketHandler<MessageEvent> {
    return this.#getHandler('message') as WebSocketHandler<MessageEvent>;
  }
  /** Replaces the handler (null removes it); listeners added with addEventListener stay. */
  set onmessage(handler: WebSocketHandler<MessageEvent>) {
    this.#setHandler('message', handler as WebSocketHandler<Event>);
  }

  /** Called on `error`: the handshake failed or the connection was failed; `close` follows. */
  get onerror(): WebSocketHandler<Event> {
    return this.#getHandler('error');
  }
  /** Replaces the handler (null removes it); listeners added with addEventListener stay. */
  set onerror(handler: WebSocketHandler<Event>) {
    this.#setHandler('error', handler);
  }

  /** Called on `close`, a {@link CloseEvent} with `code`, `reason` and `wasClean`. */
  get onclose(): WebSocketHandler<CloseEvent> {
    return this.#getHandler('close') as WebSocketHandler<CloseEvent>;
  }
  /** Replaces the handler (null removes it); listeners added with addEventListener stay. */
  set onclose(handler: WebSocketHandler<CloseEvent>) {
    this.#setHandler('close', handler as WebSocketHandler<Event>);
  }

  #getHandler(name: HandlerName): WebSocketHandler<Event> {
    return this.#handlers.get(name)?.handler ?? null;
  }

  #setHandler(name: HandlerName, handler: WebSocketHandler<Event>): void {
    const old = this.#handlers.get(name);
    if (old) this.removeEventListener(name, old.listener);
    this.#handlers.delete(name);
    if (typeof handler !== 'function') return;
    const listener = (event: Event) => handler.call(this, event);
    this.#handlers.set(name, { handler, listener });
    this.addEventListener(name, listener);
  }

  #chain(task: () => void | Promise<void>): void {
    const tail: Promise<void> = (this.#sendTail ?? Promise.resolve())
      .then(task)
      .catch(() => {})
      .finally(() => {
        if (this.#sendTail === tail) this.#sendTail = null;
      });
    this.#sendTail = tail;
  }

  #onOpen(conn: Conn): void {
    if (this.#dialing.signal.aborted) {
      conn.terminate();
      return;
    }
    this.#conn = conn;
    this.#protocol = conn.subprotocol;
    this.#extensions = conn.extensions;
    this.#readyState = ReadyState.OPEN;
    this.dispatchEvent(new Event('open'));
    const reading = this.#readLoop(conn);
    Promise.all([conn.closed, reading]).then(([result]) => this.#onClosed(result));
  }

  async #readLoop(conn: Conn): Promise<void> {
    for (;;) {
      let message;
      try {
        message = await conn.read();
      } catch (err) {
        if (err instanceof CloseError) {
          // A close frame arrived (or TCP dropped): the closing handshake has started.
          if (this.#readyState === ReadyState.OPEN) this.#readyState = ReadyState.CLOSING;
        } else {
          // ProtocolError or TimeoutError: the connection was failed (WHATWG "fail the WebSocket connection").
          this.#failed = true;
          this.#readyState = ReadyState.CLOSING;
        }
        return;
      }
      // The standard drops messages that arrive once close() was called.
      if (this.#readyState !== ReadyState.OPEN) continue;
      this.dispatchEvent(new MessageEvent('message', { data: this.#messageData(message.type, message.data), origin: this.#url.origin }));
    }
  }

  #messageData(type: MessageType, data: Buffer): string | Blob | ArrayBuffer | Buffer {
    if (type === MessageType.Text) return data.toString('utf8');
    if (this.#binaryType === 'nodebuffer') return data;
    if (this.#binaryType === 'blob') return new Blob([data]);
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.length) as ArrayBuffer;
  }

  #onClosed(result: CloseError): void {
    this.#readyState = ReadyState.CLOSED;
    const abnormal = this.#failed || result.closeCode === CloseCode.AbnormalClosure;
    if (this.#failed) this.dispatchEvent(new Event('error'));
    this.dispatchEvent(
      new CloseEvent('close', {
        code: abnormal ? CloseCode.AbnormalClosure : result.closeCode,
        reason: abnormal ? '' : result.reason,
        wasClean: !abnormal,
      }),
    );
  }

  #failBeforeOpen(): void {
    if (this.#readyState === ReadyState.CLOSED) return;
    this.#readyState = ReadyState.CLOSED;
    this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new CloseEvent('close', { code: CloseCode.AbnormalClosure, reason: '', wasClean: false }));
  }
}
