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

/** @internal ConnState is the state of one connection; see the file overview. */
export class ConnState {
  /** The TCP (or TLS) socket after the opening handshake, or the HTTP/2 stream. */
  readonly socket: Transport;
  /** True when `socket` is an HTTP/2 stream (RFC 8441). */
  readonly overStream: boolean;
  /** Limits and timeouts, shared by every connection of one Upgrader. */
  readonly settings: ConnSettings;
  /** The sans-I/O protocol core: bytes in, events out. */
  readonly core: Connection;
  /** The agreed permessage-deflate parameters, or null. */
  readonly deflate: DeflateParams | null;
  /** zlib streams cost hundreds of KiB: made on first use, so idle connections stay small. */
  deflater: MessageDeflater | null = null;
  /** Made on first use, as `deflater`. */
  inflater: MessageInflater | null = null;
  /** The peer's host (in brackets for IPv6) and port, captured at open: the socket forgets them once closed. */
  readonly peerHost: string;
  /** The peer's port, 0 when unknown. */
  readonly peerPort: number;

  // Reading (conn-read.ts, conn-receive.ts).
  /** Messages received and not yet read, oldest first. */
  readonly inbox: Message[] = [];
  /** The payload bytes in `inbox`. */
  inboxBytes = 0;
  /** The socket is paused because the inbox passed the read buffer size. */
  paused = false;
  /** The first waiting reader; more than one at a time is rare, so the rest queue in an array made when needed. */
  reader: Reader | null = null;
  /** Readers waiting after `reader`, in call order. */
  moreReaders: Reader[] | null = null;
  /** The Conn this is the state of: handed to `handler` and `onEnd`, so one handler can serve every connection. */
  readonly conn: Conn;
  /** Set by `Conn.onMessage`: messages go to it instead of to readers. */
  handler: MessageHandler | null = null;
  /** Told once no more messages will go to `handler`. */
  onEnd: EndHandler | null = null;
  /** `handler` returned a promise not yet settled: later messages wait in `inbox`. */
  handling = false;
  /** A compressed message is being inflated: later events wait so messages stay in order. */
  inflating = false;
  /** What broke the protocol; the connection fails with it once earlier events are handled. */
  pendingError: Error | null = null;
  /** The failure for `pendingError` is on its way (next turn of the event loop). */
  failScheduled = false;
  /** Replaces the automatic pong when set. */
  pingHandler: ((data: Buffer) => void) | null = null;
  /** Called with each pong's data when set. */
  pongHandler: ((data: Buffer) => void) | null = null;

  // Writing (conn-write.ts).
  /** The queue of sends that must wait (a message compressing): null when nothing waits. */
  sendChain: Promise<void> | null = null;
  /** Sends in `sendChain` not yet done. */
  sendQueued = 0;
  /** The socket is corked until the end of the tick. */
  corked = false;
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

  /** wskit/ws's sink: events go there as they happen instead of to readers (conn-push.ts). Null for a pull-mode Conn. */
  sink: PushSink | null = null;
  /** Push mode: TCP closed while messages were inflating; the sink hears of the end once they are delivered. */
  endPending: CloseError | null = null;

  // Closing and the end (conn-close.ts, conn-teardown.ts).
  /** Set when reading can yield nothing more: the error reads reject with. */
  terminal: Error | null = null;
  /** A close frame was sent (or the socket closed): no data frame or pong may follow (RFC 6455 §5.5.1). */
  closeSent = false;
  /** The close code and reason the connection ends with, once known. */
  closeResult: CloseError | null = null;
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

  constructor(conn: Conn, socket: Transport, settings: ConnSettings, deflate: DeflateParams | null, overStream: boolean) {
    this.conn = conn;
    this.socket = socket;
    this.overStream = overStream;
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
}

/** remoteAddress gives the peer as `host:port`, or '' when the socket never had one. */
export function remoteAddress(c: ConnState): string {
  return c.peerHost === '' ? '' : `${c.peerHost}:${c.peerPort}`;
}
