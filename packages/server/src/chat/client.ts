/**
 * One chat connection, after gorilla's chat example: a reader that turns
 * the client's frames into published messages, and a writer that drains a
 * bounded send queue onto the socket. Both are driven by callbacks, not
 * loops: the reader is the connection's `onMessage` handler, and the writer
 * runs when a frame is queued, a ping falls due or a write it started is
 * taken. An idle connection so holds no suspended function.
 *
 * Liveness: the server pings every pingPeriod; each pong pushes the read
 * deadline pongWait further; a client that stays silent past it is dropped.
 * Every write must finish within writeWait. A client whose queue fills up
 * (it reads too slowly) is evicted at once: its queue is freed and it is
 * closed with 1008, so the room never waits for it.
 *
 * Sessions (servers with auth on): a connection whose token has `exp` is
 * closed with 4001 `token expired` at its `expiresAt` (exp plus the clock
 * leeway), unless the client first
 * sends `{"type":"refresh","token":"..."}` with a fresher token, answered
 * with `{"type":"refreshed","exp":...}` or an error frame. The client only
 * keeps the clock; checking tokens is the injected {@link ClientAuth}'s job.
 */
import { randomUUID } from 'node:crypto';
import { CloseCode, PreparedMessage, TimeoutError, isCloseError, type Conn, type Message } from 'wskit';
import { PublishRefusedError } from './broker.js';
import type { Hub, HubMember } from './hub.js';
import { CLOSE_TOKEN_EXPIRED, errorFrame, parseClientFrame, refreshedFrame, type Checked, type JoinRequest } from './messages.js';
import { whoFrame } from './presence-frames.js';
import type { ChatMetrics } from './metrics.js';
import type { PageRequest } from './names.js';
import { TokenBucket } from './rate-limit.js';

/** Settings of a {@link ChatClient}; the app passes its resolved options. */
export interface ChatClientOptions {
  sendQueue: number;
  pingPeriodMs: number;
  pongWaitMs: number;
  writeWaitMs: number;
  rateLimit: number;
  rateBurst: number;
  /** How long a closing handshake may take before the TCP connection is dropped. */
  closeGraceMs: number;
  log: (line: string) => void;
  /** The token behind this connection. Unset: the server checks no tokens, and a refresh frame earns an error frame. */
  auth?: ClientAuth;
}

/** What a connection opened with a token needs to keep its session. */
export interface ClientAuth {
  /** When the connection must close with 4001, in ms since the epoch; undefined: never. */
  expiresAt: number | undefined;
  /**
   * refresh checks a fresher token for this connection (same user, a room
   * it still allows). Resolves with the token's `exp` in seconds (undefined
   * when it has none) and the new `expiresAt`, or with the reason for the
   * error frame. Never rejects.
   */
  refresh(token: string): Promise<Checked<{ exp: number | undefined; expiresAt: number | undefined }>>;
}

/**
 * One clock reading per synchronous run of code: a broadcast reaches every
 * member of a room in one run, so its sends share one `Date.now()` instead
 * of reading the clock once per member.
 */
let runTime = 0;
let runTimeStale = true;
function runNow(): number {
  if (runTimeStale) {
    runTime = Date.now();
    runTimeStale = false;
    queueMicrotask(() => (runTimeStale = true));
  }
  return runTime;
}

/**
 * A write deadline is moved only once it would move by more than writeWait
 * divided by this: a member that gets many messages a second then costs no
 * deadline work per message, and each write still has between 7/8 of
 * writeWait and writeWait to reach the kernel.
 */
const DEADLINE_SLACK_DIVISOR = 8;

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a later deadline is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** ChatClient runs one WebSocket connection as a member of one room. */
export class ChatClient implements HubMember<PreparedMessage> {
  /** Unique per connection, also across nodes (presence is counted by it). */
  readonly id = randomUUID();
  readonly room: string;
  readonly name: string;
  readonly #conn: Conn;
  readonly #since: string | undefined;
  readonly #hub: Hub<PreparedMessage>;
  readonly #options: ChatClientOptions;
  readonly #metrics: ChatMetrics;
  readonly #bucket: TokenBucket;
  #queue: PreparedMessage[] = [];
  #pingDue = false;
  /**
   * A write the writer started has not been taken yet. While it is false,
   * the queue is empty and no ping is due: the writer empties both before
   * it rests.
   */
  #writing = false;
  #done = false;
  #pingTimer: NodeJS.Timeout | undefined;
  /** When the session's token expires (ms since the epoch); undefined: never. */
  #expiresAt: number | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** When the read deadline (pong wait) falls; a TimeoutError before it came from the write deadline. */
  #readDeadline = 0;
  /** The write deadline the fast path of `send` last set, 0 when none is set. */
  #writeDeadline = 0;
  #finished: Promise<void> | undefined;
  #resolveFinished: (() => void) | undefined;

  constructor(conn: Conn, join: JoinRequest, hub: Hub<PreparedMessage>, metrics: ChatMetrics, options: ChatClientOptions) {
    this.#conn = conn;
    this.room = join.room;
    this.name = join.name;
    this.#since = join.since;
    this.#hub = hub;
    this.#metrics = metrics;
    this.#options = options;
    this.#bucket = new TokenBucket({ rate: options.rateLimit, burst: options.rateBurst });
    this.#expiresAt = options.auth?.expiresAt;
  }

  /** Frames waiting in the send queue. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * send queues a frame for the writer. A full queue evicts the client
   * instead of waiting, so a slow reader never slows the room.
   */
  send(frame: PreparedMessage): void {
    if (this.#done) return;
    const conn = this.#conn;
    if (!this.#writing && conn.writable && !conn.needsDrain) {
      // The writer rests and the socket keeps up: write now, with no
      // queue entry or promise to wait for (a broadcast does this
      // once per member). The deadline still bounds how long it may take;
      // it moves only once it lags by a slack (DEADLINE_SLACK_DIVISOR).
      this.#metrics.countOut(frame.data.length);
      const { writeWaitMs } = this.#options;
      const due = runNow() + writeWaitMs;
      if (due - this.#writeDeadline > writeWaitMs / DEADLINE_SLACK_DIVISOR) {
        this.#writeDeadline = due;
        conn.setWriteDeadline(due);
      }
      void conn.writePrepared(frame);
      return;
    }
    if (this.#queue.length >= this.#options.sendQueue) {
      this.#metrics.evictions.inc();
      this.#options.log(`chat: evicting ${this.#describe()}: send queue full (${this.#options.sendQueue} messages)`);
      void this.close(CloseCode.PolicyViolation, `Evicted: send queue full (${this.#options.sendQueue} messages); reading too slowly`);
      return;
    }
    this.#queue.push(frame);
    this.#metrics.countOut(frame.data.length);
    this.#write();
  }

  /**
   * run joins the room and serves the connection until it ends; resolves
   * after the client has left the room. Never rejects.
   */
  run(): Promise<void> {
    if (this.#finished === undefined) {
      this.#finished = new Promise<void>((resolve) => (this.#resolveFinished = resolve));
      this.#start();
    }
    return this.#finished;
  }

  /**
   * close ends the connection with `code` and `reason` (the queue is
   * dropped) and resolves once the client has left the room. The TCP
   * connection is dropped if the closing handshake takes longer than the
   * close grace.
   */
  async close(code: number, reason: string): Promise<void> {
    if (!this.#done) {
      this.#stop();
      const grace = setTimeout(() => this.#conn.terminate(), this.#options.closeGraceMs);
      grace.unref();
      void this.#conn.close(code, reason).catch(() => this.#conn.terminate()).finally(() => clearTimeout(grace));
      // Leave now, not when the peer acknowledges: the room sees the
      // departure at once even if the peer never reads the close frame.
      void this.#hub.leave(this);
    }
    await this.run();
  }

  /**
   * Starts the connection: deadlines, timers, then the join. Messages that
   * arrive during the join wait in the connection's inbox (the socket is
   * paused once they pass its read buffer) until the handler is set.
   */
  #start(): void {
    this.#options.log(`chat: open ${this.#describe()}`);
    const { pongWaitMs, pingPeriodMs } = this.#options;
    const extend = () => {
      this.#readDeadline = Date.now() + pongWaitMs;
      this.#conn.setReadDeadline(this.#readDeadline);
    };
    extend();
    this.#conn.setPongHandler(extend);
    this.#armExpiry();
    this.#pingTimer = setInterval(() => {
      this.#pingDue = true;
      this.#write();
    }, pingPeriodMs);
    this.#hub.join(this, this.#since).then(
      () => {
        if (this.#done) return void this.#finish();
        this.#conn.onMessage(
          (message) => this.#handle(message),
          (err) => this.#readEnded(err),
        );
      },
      (err: unknown) => {
        if (!this.#done) {
          this.#options.log(`chat: cannot join ${this.#describe()}: ${errorText(err)}`);
          void this.close(CloseCode.TryAgainLater, 'Cannot join the room right now; try again later');
        }
        void this.#finish();
      },
    );
  }

  /** No more messages will come: say why when it is worth a line, then leave. */
  #readEnded(err: Error | null): void {
    if (err instanceof TimeoutError) {
      // A passed write deadline fails reads too; the writer reports that one.
      if (Date.now() >= this.#readDeadline) {
        this.#options.log(`chat: dropping ${this.#describe()}: no pong within ${this.#options.pongWaitMs} ms`);
      }
      this.#conn.terminate();
    } else if (err !== null && !isCloseError(err)) {
      // The library has already answered a protocol error with its close code.
      this.#options.log(`chat: read from ${this.#describe()} failed: ${errorText(err)}`);
    }
    void this.#finish();
  }

  /** Leaves the room once the connection has ended, logs its close and settles run(). Runs once. */
  async #finish(): Promise<void> {
    this.#stop();
    try {
      await this.#hub.leave(this);
      const closed = await this.#conn.closed;
      this.#options.log(`chat: close ${this.#describe()} code=${closed.closeCode}${closed.reason ? ` reason=${JSON.stringify(closed.reason)}` : ''}`);
    } finally {
      this.#resolveFinished!();
    }
  }

  /**
   * The message handler: one client frame. A frame that waits for the
   * broker or the token check returns its promise, which holds the next
   * frame back, so frames are handled strictly in order; the others return
   * nothing. Frames that arrive after close() are ignored.
   */
  #handle(message: Message): Promise<void> | void {
    if (this.#done) return;
    this.#metrics.bytesIn.inc(message.data.length);
    if (message.type !== 'text') return this.#reject('invalid', 'Binary messages are not supported; send JSON text frames');
    if (!this.#bucket.take()) {
      const { rateLimit, rateBurst } = this.#options;
      return this.#reject('rate_limit', `Rate limit: more than ${rateLimit} messages/s (burst ${rateBurst}); message dropped`);
    }
    const parsed = parseClientFrame(message.data.toString('utf8'));
    if (!parsed.ok) return this.#reject('invalid', parsed.error);
    if (parsed.value.type === 'refresh') return this.#refresh(parsed.value.token);
    if (parsed.value.type === 'who') return this.#who(parsed.value);
    return this.#publish(parsed.value.text);
  }

  async #publish(text: string): Promise<void> {
    try {
      await this.#hub.publish(this, text);
      this.#metrics.messagesIn.inc();
    } catch (err) {
      this.#options.log(`chat: publish from ${this.#describe()} failed: ${errorText(err)}`);
      if (err instanceof PublishRefusedError) this.#reject('broker', `Message not sent: ${err.reason}; try again`);
      else this.#reject('broker', 'Message not sent: the chat store is unavailable; try again');
    }
  }

  async #refresh(token: string): Promise<void> {
    const auth = this.#options.auth;
    if (auth === undefined) return this.#reject('invalid', 'Refresh refused: this server does not check tokens');
    let result: Awaited<ReturnType<ClientAuth['refresh']>>;
    try {
      result = await auth.refresh(token);
    } catch (err) {
      result = { ok: false, error: `the token cannot be checked (${errorText(err)})` };
    }
    if (this.#done) return;
    if (!result.ok) return this.#reject('invalid', `Refresh refused: ${result.error}`);
    this.#expiresAt = result.value.expiresAt;
    this.#armExpiry();
    this.send(new PreparedMessage('text', JSON.stringify(refreshedFrame(result.value.exp))));
  }

  /**
   * (Re)starts the expiry timer for #expiresAt. Always through a timer, even
   * when the deadline has passed, so close() never runs inside #start.
   */
  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const expiresAt = this.#expiresAt;
    if (expiresAt === undefined || this.#done) return;
    const left = Math.max(0, expiresAt - Date.now());
    this.#expiryTimer = setTimeout(() => {
      if (this.#done || this.#expiresAt !== expiresAt) return;
      // A deadline beyond setTimeout's range is reached in steps.
      if (Date.now() < expiresAt) return this.#armExpiry();
      this.#options.log(`chat: closing ${this.#describe()}: token expired`);
      void this.close(CLOSE_TOKEN_EXPIRED, 'token expired');
    }, Math.min(left, MAX_TIMER_MS));
  }

  /** Answers a `who` request with one page of the room's names. */
  async #who(request: PageRequest): Promise<void> {
    try {
      const page = await this.#hub.users(this.room, request);
      this.send(new PreparedMessage('text', JSON.stringify(whoFrame(page))));
    } catch (err) {
      this.#options.log(`chat: who from ${this.#describe()} failed: ${errorText(err)}`);
      this.#reject('broker', 'Names not listed: the chat store is unavailable; try again');
    }
  }

  #reject(reason: 'invalid' | 'rate_limit' | 'broker', error: string): void {
    this.#metrics.dropped.inc({ reason });
    this.send(new PreparedMessage('text', JSON.stringify(errorFrame(error))));
  }

  /**
   * The writer: writes the due ping, else the oldest queued frame, each
   * within writeWait, one at a time; once a write is taken it runs again,
   * until nothing is left. A write that fails drops the connection.
   */
  #write(): void {
    if (this.#writing || this.#done || (this.#queue.length === 0 && !this.#pingDue)) return;
    this.#writing = true;
    this.#conn.setWriteDeadline(Date.now() + this.#options.writeWaitMs);
    let written: Promise<void>;
    if (this.#pingDue) {
      this.#pingDue = false;
      written = this.#conn.ping();
    } else {
      written = this.#conn.writePrepared(this.#queue.shift()!);
    }
    written.then(
      () => {
        this.#writing = false;
        this.#conn.setWriteDeadline(null);
        this.#writeDeadline = 0;
        this.#write();
      },
      (err: unknown) => {
        this.#writing = false;
        if (this.#done) return;
        if (err instanceof TimeoutError) this.#options.log(`chat: dropping ${this.#describe()}: a write took over ${this.#options.writeWaitMs} ms`);
        this.#stop();
        this.#conn.terminate();
      },
    );
  }

  /** Stops the reader and the writer and frees the queue; the connection itself is closed by the caller. */
  #stop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue = [];
    clearInterval(this.#pingTimer);
    clearTimeout(this.#expiryTimer);
  }

  #describe(): string {
    return `${JSON.stringify(this.name)} in ${JSON.stringify(this.room)} from ${this.#conn.remoteAddress}`;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
