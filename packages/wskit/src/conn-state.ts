/**
 * ConnState: what one connection keeps, in one object shared by the files
 * that make up {@link Conn}: reading (conn-read.ts), receiving
 * (conn-receive.ts), writing (conn-write.ts), the closing handshake
 * (conn-close.ts) and teardown (conn-teardown.ts). Conn holds it in a private
 * field, so none of it is public.
 *
 * One object with module functions over it, rather than a class per concern:
 * private fields cannot be shared between classes, and helper objects would
 * each cost a header and back-references on every idle connection and a hop
 * on every message. Here each hot call is one direct, monomorphic function.
 */
import type { Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Conn, ConnSettings, EndHandler, Message, MessageHandler } from './conn.js';
import type { Reader } from './conn-read.js';
import type { Deadline } from './deadline.js';
import type { MessageDeflater, MessageInflater } from './deflate.js';
import type { CloseError } from './errors.js';
import { Connection } from './protocol/connection.js';
import type { DeflateParams } from './protocol/extensions.js';
import type { UnsentPayload } from './unsent-payload.js';
import type { PushSink } from './conn-push.js';

/**
 * Transport is the byte stream a connection runs over: a TCP or TLS socket
 * after an HTTP/1.1 upgrade, or an HTTP/2 stream opened by an extended
 * CONNECT (RFC 8441). Both are Node Duplex streams with the same reads,
 * writes, pause and resume, cork, end and 'drain', and HTTP/2's flow
 * control shows through them as TCP's does (a paused stream stops granting
 * window; writes queue while the peer grants none). They differ in three
 * places only, each a branch on {@link ConnState.overStream}: the peer's
 * address, TCP_NODELAY, and how a connection is dropped (conn-teardown.ts
 * `drop`). No wrapper object stands between: the socket path keeps its
 * direct calls, as fast as before.
 */
export type Transport = Socket | Http2Stream;
/** OWNER is where a socket keeps its ConnState, so the listeners every connection shares find it. */
export const OWNER = Symbol('wskit.conn');
/** OwnedSocket is a socket (or HTTP/2 stream) that belongs to a connection. */
export type OwnedSocket = Transport & { [OWNER]: ConnState };

/** Bits of {@link ConnState.flags}: the yes/no state of a connection in one number instead of a field each. */
const PAUSED = 1;
const INFLATING = 2;
const FAIL_SCHEDULED = 4;
const CORKED = 8;
const CLOSE_SENT = 16;
const HANDLING = 32;
const OVER_STREAM = 64;
const WROTE = 128;

/**
 * @internal What most connections never need, or need only near their end:
 * made on the first write of any of its fields, so an idle connection
 * carries one null instead of some twenty fields (8 bytes each).
 */
export class RareState {
  /** Readers waiting after `reader`, in call order. */
  moreReaders: Reader[] | null = null;
  /** Replaces the automatic pong when set. */
  pingHandler: ((data: Buffer) => void) | null = null;
  /** Called with each pong's data when set. */
  pongHandler: ((data: Buffer) => void) | null = null;
  /** zlib streams cost hundreds of KiB: made on first use. */
  deflater: MessageDeflater | null = null;
  /** Made on first use, as `deflater`. */
  inflater: MessageInflater | null = null;
  /** The queue of sends that must wait (a message compressing): null when nothing waits. */
  sendChain: Promise<void> | null = null;
  /** Sends in `sendChain` not yet done. */
  sendQueued = 0;
  /** What writes wait on while the socket holds more than the write buffer size; null otherwise. */
  drain: Promise<void> | null = null;
  /** Settle `drain`: on the socket's 'drain', or when the connection ends. */
  resolveDrain: (() => void) | null = null;
  /** As `resolveDrain`. */
  rejectDrain: ((err: Error) => void) | null = null;
  /** Payload bytes not yet sent, counted only for the browser-style WebSocket's `bufferedAmount`. */
  unsent: UnsentPayload | null = null;
  /** Payload bytes of wskit/ws sends waiting in the send queue (a message compressing): part of ws's `bufferedAmount`. */
  queued = 0;
  /** Push mode: TCP closed while messages were inflating; the sink hears of the end once they are delivered. */
  endPending: CloseError | null = null;
  /** Drops the socket if the closing handshake takes longer than the close timeout. */
  closeTimer: NodeJS.Timeout | null = null;
  /** Made when first asked for: most connections never need it before they end. */
  closed: Promise<CloseError> | null = null;
  /** Settles `closed`, when it was made before the end. */
  resolveClosed: ((result: CloseError) => void) | null = null;
  /** How the connection ended, once it has. */
  ended: CloseError | null = null;
  /** Deadlines are made on first use, so an idle connection without one carries no timers. */
  readDeadline: Deadline | null = null;
  /** As `readDeadline`. */
  writeDeadline: Deadline | null = null;
}

/**
 * @internal ConnState is the state of one connection; see the file overview.
 * What an idle connection needs is a field here; the rest is in
 * {@link RareState}, made when first set, and yes/no state is bits of
 * `flags`. Accessors with the old field names keep every use a plain
 * property access (V8 inlines them), so the files over this one read as if
 * every field were its own.
 */
export class ConnState {
  /** The TCP (or TLS) socket after the opening handshake, or the HTTP/2 stream. */
  readonly socket: Transport;
  /** Limits and timeouts, shared by every connection of one Upgrader. */
  readonly settings: ConnSettings;
  /** The sans-I/O protocol core: bytes in, events out. */
  readonly core: Connection;
  /** The agreed permessage-deflate parameters, or null. */
  readonly deflate: DeflateParams | null;
  /** The peer's host (in brackets for IPv6) and port, captured at open: the socket forgets them once closed. */
  readonly peerHost: string;
  /** The peer's port, 0 when unknown. */
  readonly peerPort: number;
  /** The Conn this is the state of: handed to `handler` and `onEnd`, so one handler can serve every connection. */
  readonly conn: Conn;
  /** The PAUSED, INFLATING, ... bits above. */
  flags = 0;
  /** The rarely needed fields, made on first write. */
  rare: RareState | null = null;

  // Reading (conn-read.ts, conn-receive.ts).
  /** Messages received and not yet read, oldest first; null while there are none (most of the time), so an idle connection holds no array. */
  inbox: Message[] | null = null;
  /** The payload bytes in `inbox`. */
  inboxBytes = 0;
  /** The first waiting reader; more than one at a time is rare, so the rest queue in `moreReaders`. */
  reader: Reader | null = null;
  /** Set by `Conn.onMessage`: messages go to it instead of to readers. */
  handler: MessageHandler | null = null;
  /** Told once no more messages will go to `handler`. */
  onEnd: EndHandler | null = null;
  /** What broke the protocol; the connection fails with it once earlier events are handled. */
  pendingError: Error | null = null;
  /** wskit/ws's sink: events go there as they happen instead of to readers (conn-push.ts). Null for a pull-mode Conn. */
  sink: PushSink | null = null;

  // Closing and the end (conn-close.ts, conn-teardown.ts).
  /** Set when reading can yield nothing more: the error reads reject with. */
  terminal: Error | null = null;
  /** The close code and reason the connection ends with, once known. */
  closeResult: CloseError | null = null;

  constructor(conn: Conn, socket: Transport, settings: ConnSettings, deflate: DeflateParams | null, overStream: boolean) {
    this.conn = conn;
    this.socket = socket;
    if (overStream) this.flags = OVER_STREAM;
    this.settings = settings;
    this.deflate = deflate;
    this.core = new Connection({
      role: settings.role,
      maxMessageSize: settings.maxMessageSize,
      maxFragments: settings.maxFragments,
      compression: deflate !== null,
    });
    // A stream's peer is its session's: the TCP connection that carries it.
    const peer: Partial<Socket> | undefined = overStream ? (socket as Http2Stream).session?.socket : (socket as Socket);
    const host = peer?.remoteAddress;
    this.peerHost = host === undefined ? '' : peer!.remoteFamily === 'IPv6' ? `[${host}]` : host;
    this.peerPort = peer?.remotePort ?? 0;
  }

  #flag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }
  /** The rare fields, made now if they were not. */
  get made(): RareState {
    return (this.rare ??= new RareState());
  }

  /** True when `socket` is an HTTP/2 stream (RFC 8441). */
  get overStream(): boolean {
    return (this.flags & OVER_STREAM) !== 0;
  }
  /** The socket is paused because the inbox passed the read buffer size. */
  get paused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }
  set paused(on: boolean) {
    this.#flag(PAUSED, on);
  }
  /** A compressed message is being inflated: later events wait so messages stay in order. */
  get inflating(): boolean {
    return (this.flags & INFLATING) !== 0;
  }
  set inflating(on: boolean) {
    this.#flag(INFLATING, on);
  }
  /** The failure for `pendingError` is on its way (next turn of the event loop). */
  get failScheduled(): boolean {
    return (this.flags & FAIL_SCHEDULED) !== 0;
  }
  set failScheduled(on: boolean) {
    this.#flag(FAIL_SCHEDULED, on);
  }
  /** A frame went to the socket in this tick (see conn-write.ts `batch`); cleared when the tick ends. */
  get wrote(): boolean {
    return (this.flags & WROTE) !== 0;
  }
  set wrote(on: boolean) {
    this.#flag(WROTE, on);
  }
  /** The socket is corked until the end of the tick. */
  get corked(): boolean {
    return (this.flags & CORKED) !== 0;
  }
  set corked(on: boolean) {
    this.#flag(CORKED, on);
  }
  /** A close frame was sent (or the socket closed): no data frame or pong may follow (RFC 6455 §5.5.1). */
  get closeSent(): boolean {
    return (this.flags & CLOSE_SENT) !== 0;
  }
  set closeSent(on: boolean) {
    this.#flag(CLOSE_SENT, on);
  }
  /** `handler` returned a promise not yet settled: later messages wait in `inbox`. */
  get handling(): boolean {
    return (this.flags & HANDLING) !== 0;
  }
  set handling(on: boolean) {
    this.#flag(HANDLING, on);
  }

  // The rare fields by name: reading one not yet made gives its empty value; setting one to that value makes nothing.
  /** See {@link RareState.moreReaders}. */
  get moreReaders(): Reader[] | null {
    return this.rare === null ? null : this.rare.moreReaders;
  }
  set moreReaders(value: Reader[] | null) {
    if (value === null && this.rare === null) return;
    this.made.moreReaders = value;
  }
  /** See {@link RareState.pingHandler}. */
  get pingHandler(): ((data: Buffer) => void) | null {
    return this.rare === null ? null : this.rare.pingHandler;
  }
  set pingHandler(value: ((data: Buffer) => void) | null) {
    if (value === null && this.rare === null) return;
    this.made.pingHandler = value;
  }
  /** See {@link RareState.pongHandler}. */
  get pongHandler(): ((data: Buffer) => void) | null {
    return this.rare === null ? null : this.rare.pongHandler;
  }
  set pongHandler(value: ((data: Buffer) => void) | null) {
    if (value === null && this.rare === null) return;
    this.made.pongHandler = value;
  }
  /** See {@link RareState.deflater}. */
  get deflater(): MessageDeflater | null {
    return this.rare === null ? null : this.rare.deflater;
  }
  set deflater(value: MessageDeflater | null) {
    if (value === null && this.rare === null) return;
    this.made.deflater = value;
  }
  /** See {@link RareState.inflater}. */
  get inflater(): MessageInflater | null {
    return this.rare === null ? null : this.rare.inflater;
  }
  set inflater(value: MessageInflater | null) {
    if (value === null && this.rare === null) return;
    this.made.inflater = value;
  }
  /** See {@link RareState.sendChain}. */
  get sendChain(): Promise<void> | null {
    return this.rare === null ? null : this.rare.sendChain;
  }
  set sendChain(value: Promise<void> | null) {
    if (value === null && this.rare === null) return;
    this.made.sendChain = value;
  }
  /** See {@link RareState.sendQueued}. */
  get sendQueued(): number {
    return this.rare === null ? 0 : this.rare.sendQueued;
  }
  set sendQueued(value: number) {
    if (value === 0 && this.rare === null) return;
    this.made.sendQueued = value;
  }
  /** See {@link RareState.drain}. */
  get drain(): Promise<void> | null {
    return this.rare === null ? null : this.rare.drain;
  }
  set drain(value: Promise<void> | null) {
    if (value === null && this.rare === null) return;
    this.made.drain = value;
  }
  /** See {@link RareState.resolveDrain}. */
  get resolveDrain(): (() => void) | null {
    return this.rare === null ? null : this.rare.resolveDrain;
  }
  set resolveDrain(value: (() => void) | null) {
    if (value === null && this.rare === null) return;
    this.made.resolveDrain = value;
  }
  /** See {@link RareState.rejectDrain}. */
  get rejectDrain(): ((err: Error) => void) | null {
    return this.rare === null ? null : this.rare.rejectDrain;
  }
  set rejectDrain(value: ((err: Error) => void) | null) {
    if (value === null && this.rare === null) return;
    this.made.rejectDrain = value;
  }
  /** See {@link RareState.unsent}. */
  get unsent(): UnsentPayload | null {
    return this.rare === null ? null : this.rare.unsent;
  }
  set unsent(value: UnsentPayload | null) {
    if (value === null && this.rare === null) return;
    this.made.unsent = value;
  }
  /** See {@link RareState.queued}. */
  get queued(): number {
    return this.rare === null ? 0 : this.rare.queued;
  }
  set queued(value: number) {
    if (value === 0 && this.rare === null) return;
    this.made.queued = value;
  }
  /** See {@link RareState.endPending}. */
  get endPending(): CloseError | null {
    return this.rare === null ? null : this.rare.endPending;
  }
  set endPending(value: CloseError | null) {
    if (value === null && this.rare === null) return;
    this.made.endPending = value;
  }
  /** See {@link RareState.closeTimer}. */
  get closeTimer(): NodeJS.Timeout | null {
    return this.rare === null ? null : this.rare.closeTimer;
  }
  set closeTimer(value: NodeJS.Timeout | null) {
    if (value === null && this.rare === null) return;
    this.made.closeTimer = value;
  }
  /** See {@link RareState.closed}. */
  get closed(): Promise<CloseError> | null {
    return this.rare === null ? null : this.rare.closed;
  }
  set closed(value: Promise<CloseError> | null) {
    if (value === null && this.rare === null) return;
    this.made.closed = value;
  }
  /** See {@link RareState.resolveClosed}. */
  get resolveClosed(): ((result: CloseError) => void) | null {
    return this.rare === null ? null : this.rare.resolveClosed;
  }
  set resolveClosed(value: ((result: CloseError) => void) | null) {
    if (value === null && this.rare === null) return;
    this.made.resolveClosed = value;
  }
  /** See {@link RareState.ended}. */
  get ended(): CloseError | null {
    return this.rare === null ? null : this.rare.ended;
  }
  set ended(value: CloseError | null) {
    if (value === null && this.rare === null) return;
    this.made.ended = value;
  }
  /** See {@link RareState.readDeadline}. */
  get readDeadline(): Deadline | null {
    return this.rare === null ? null : this.rare.readDeadline;
  }
  set readDeadline(value: Deadline | null) {
    if (value === null && this.rare === null) return;
    this.made.readDeadline = value;
  }
  /** See {@link RareState.writeDeadline}. */
  get writeDeadline(): Deadline | null {
    return this.rare === null ? null : this.rare.writeDeadline;
  }
  set writeDeadline(value: Deadline | null) {
    if (value === null && this.rare === null) return;
    this.made.writeDeadline = value;
  }
}

/** remoteAddress gives the peer as `host:port`, or '' when the socket never had one. */
export function remoteAddress(c: ConnState): string {
  return c.peerHost === '' ? '' : `${c.peerHost}:${c.peerPort}`;
}
