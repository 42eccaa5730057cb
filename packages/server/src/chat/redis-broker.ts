/**
 * RedisBroker: the broker for a cluster of chat nodes sharing one Redis
 * server. The only file that imports the Redis client.
 *
 * Data in Redis (`<prefix>` defaults to `chat:`):
 * - `<prefix>room:<room>`: a stream per room. `XADD` assigns each message its
 *   id once for the whole cluster; history and `since` are `XRANGE`s of it.
 * - `<prefix>node:<nodeId>`: one key per live node, refreshed every
 *   `heartbeatMs` with a TTL of `presenceTtlMs`.
 * - presence keys and channels, described in redis-presence.ts.
 * - `<prefix>remove` (Pub/Sub channel): `{"node","room","name"}` when the
 *   server API removes a member, so every node closes that user's connections.
 *   The asking node acts on its own request at once and skips its echo.
 *
 * Fan-out: one dedicated connection runs a blocking `XREAD` over every
 * subscribed room from the last id this node delivered, so each node sees each
 * message once and in stream order, and after a reconnect resumes exactly where
 * it stopped. The publishing node receives its own messages the same way, so
 * every node shows one order. Each stream keeps historySize + 1000 entries:
 * history and resume serve the last historySize, and the rest is room for a
 * reader that fell behind. Each entry records the id before it, so a node so
 * overloaded that entries were trimmed before it read them logs the gap (and
 * counts it in `gaps`) instead of skipping it silently.
 *
 * Presence ({@link RedisPresence}): a join or leave is one script of a
 * constant number of commands; changes travel to the other nodes as changes
 * over Pub/Sub, with versions so a lost one is noticed and repaired. A node
 * killed without a goodbye stops refreshing its key; within `presenceTtlMs`
 * the key expires, and within one more `heartbeatMs` a live node removes its
 * users, announced as one change per room.
 *
 * Batching: after a read that found messages the reader waits
 * `readBatchWaitMs` before the next XREAD, so under load one read takes
 * every message that arrived meanwhile and hands them to the hub in one
 * synchronous pass; the library corks each socket until the tick ends, so a
 * connection gets the batch in one write instead of one write per message.
 * A read that found nothing is never followed by a wait, so an idle node
 * delivers a message as soon as Redis has it.
 *
 * Replicas (`replicas` > 0, redis-durability.ts): a message is acknowledged
 * and shown only after `WAIT` confirmed that many replicas have it; the
 * publish, fan-out, subscribe and history steps it changes are marked HOOK.
 *
 * Needs one Redis server (or primary) of version 6.2 or later. Redis Cluster
 * is not supported yet: the presence scripts touch node keys in other hash
 * slots. A cluster node is recognised by `INFO cluster` on every
 * (re)connection; the broker then stays degraded and says why, in the log
 * and in publish errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { compareIds, PublishRefusedError } from './broker.js';
import type { Broker, BrokerState, ChatMessage, ReadStats, MessageListener, PresenceListener, PresenceWatch, RemovalListener, UsersPage } from './broker.js';
import type { PageRequest } from './names.js';
import { RedisPresence } from './redis-presence.js';
import { DEFAULT_REPLICAS_TIMEOUT_MS, RedisDurability, checkReplicas, checkReplicasTimeout } from './redis-durability.js';

/** Options for `RedisBroker`. */
export interface RedisBrokerOptions {
  /** Redis server, e.g. `redis://127.0.0.1:6379`. */
  url: string;
  /**
   * Messages kept per room for history and resume (the resume window).
   * Unset: 100. The stream itself keeps `historySize + 1000` entries so a node
   * whose reader falls briefly behind a burst does not miss trimmed messages.
   */
  historySize?: number;
  /** How often this node refreshes its liveness key. Unset: 5000 ms. */
  heartbeatMs?: number;
  /**
   * How long a node's users stay online after its last heartbeat. Unset:
   * 15000 ms. A killed node's users disappear within presenceTtlMs + heartbeatMs.
   */
  presenceTtlMs?: number;
  /** Prefix of every Redis key and channel. Unset: `chat:`. */
  keyPrefix?: string;
  /**
   * How long the fan-out reader waits before its next XREAD after a read
   * that found messages, so that under load one read takes a batch and the
   * batch goes out as one broadcast pass (one socket write per connection,
   * not one per message). A read that found nothing is never followed by a
   * wait: a message reaching an idle node is delivered at once. 0 turns it
   * off. Unset: 2 ms; at most {@link MAX_READ_BATCH_WAIT_MS}.
   */
  readBatchWaitMs?: number;
  /**
   * Replicas that must have each message (Redis `WAIT`) before it is
   * acknowledged or shown to anyone; see redis-durability.ts for what that
   * guarantees. Every node of a cluster must use the same value. Unset: 0,
   * no waiting and no extra round trip.
   */
  replicas?: number;
  /** With `replicas`: how long WAIT waits for them before the message is refused. Unset: 1000 ms, at most 10 000. */
  replicasTimeoutMs?: number;
  /** Where state changes and errors are reported. Unset: standard error. */
  log?: (line: string) => void;
}

/** Default messages kept per room. */
export const DEFAULT_HISTORY_SIZE = 100;
/** Default interval between liveness refreshes. */
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Default lifetime of a liveness key. */
export const DEFAULT_PRESENCE_TTL_MS = 15_000;

/** Default wait before the next XREAD after a busy read. */
export const DEFAULT_READ_BATCH_WAIT_MS = 2;
/** Longest allowed batch wait: beyond this the wait costs more latency than batching saves. */
export const MAX_READ_BATCH_WAIT_MS = 50;
/** Entries kept in a stream beyond historySize, so a lagging reader is not overtaken by trimming. */
const STREAM_SLACK = 1_000;
/** Entries taken per room per XREAD. */
const READ_COUNT = 1_000;
/** Longest blocking XREAD; subscribing interrupts it sooner with CLIENT UNBLOCK. */
const READ_BLOCK_MS = 5_000;
/** Pause before retrying a failed XREAD when no reconnect event arrives. */
const READ_RETRY_MS = 250;
/** Reconnect backoff: doubling from the first to the last delay. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;
/**
 * Longest wait for a reply on an open connection. A Redis that stopped
 * answering (paused, swapping) without closing TCP would otherwise hold a
 * publish forever.
 */
const REPLY_TIMEOUT_MS = 5_000;

// Append a message, recording the id before it so readers can tell a gap
// (entries trimmed before they read them) from a quiet stream.
const PUBLISH_SCRIPT = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
return redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*', 'from', ARGV[2], 'text', ARGV[3], 'prev', prev)`;

type Client = ReturnType<typeof createClient>;

interface RoomStream {
  /** Last id delivered to this node's listeners. */
  lastId: string;
  /** Whether lastId is a real stream id (not a clock stand-in), so gaps can be detected. */
  exact: boolean;
  /** Each listener with the id after which it receives messages. */
  listeners: Map<MessageListener, string>;
}

const ID_PATTERN = /^\d{1,20}-\d{1,20}$/;

/** The broker of a multi-node chat cluster, backed by Redis streams, keys and Pub/Sub. */
export class RedisBroker implements Broker {
  /** This node's id in Redis (random per process). */
  readonly nodeId = randomBytes(8).toString('hex');
  readonly #url: string;
  readonly #where: string;
  readonly #historySize: number;
  readonly #heartbeatMs: number;
  readonly #ttlMs: number;
  readonly #prefix: string;
  readonly #batchWaitMs: number;
  #batches = 0;
  #batchEntries = 0;
  readonly #log: (line: string) => void;
  readonly #cmd: Client;
  readonly #reader: Client;
  readonly #sub: Client;
  #state: BrokerState = 'degraded';
  /** What `INFO cluster` said about the server of the command connection; only `standalone` is used. */
  #topology: 'unknown' | 'standalone' | 'cluster' = 'unknown';
  #lost = 0;
  #closed = false;
  #outageLogged = false;
  #stateWaiters = new Set<() => void>();
  /** HOOK (durability, --redis-replicas): set when replicas > 0; every use below is marked HOOK. */
  readonly #durability: RedisDurability | undefined;

  readonly #streams = new Map<string, RoomStream>();
  #roomsVersion = 0;
  #readingVersion = -1;
  #reading = false;
  #readerId: string | undefined;
  #wakeReader: (() => void) | undefined;
  #readLoop: Promise<void>;

  readonly #presence: RedisPresence;
  readonly #removals = new Set<RemovalListener>();
  #heartbeat: NodeJS.Timeout;

  /** Connects in the background right away; `state` is `degraded` until Redis answers. */
  constructor(options: RedisBrokerOptions) {
    this.#url = options.url;
    this.#where = describeUrl(options.url);
    this.#historySize = positive('historySize', options.historySize ?? DEFAULT_HISTORY_SIZE);
    this.#heartbeatMs = positive('heartbeatMs', options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.#ttlMs = positive('presenceTtlMs', options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS);
    if (this.#ttlMs <= this.#heartbeatMs) {
      throw new RangeError(`presenceTtlMs (${this.#ttlMs}) must exceed heartbeatMs (${this.#heartbeatMs}), or live nodes would expire`);
    }
    this.#prefix = options.keyPrefix ?? 'chat:';
    this.#batchWaitMs = options.readBatchWaitMs ?? DEFAULT_READ_BATCH_WAIT_MS;
    if (!Number.isInteger(this.#batchWaitMs) || this.#batchWaitMs < 0 || this.#batchWaitMs > MAX_READ_BATCH_WAIT_MS) {
      throw new RangeError(`readBatchWaitMs must be a whole number of ms from 0 to ${MAX_READ_BATCH_WAIT_MS}, got ${this.#batchWaitMs}`);
    }
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    // HOOK (durability): bad replica settings fail before anything connects.
    if (checkReplicas(options.replicas ?? 0) > 0) checkReplicasTimeout(options.replicasTimeoutMs ?? DEFAULT_REPLICAS_TIMEOUT_MS);

    // Commands fail at once while disconnected instead of queueing: a publish
    // must be answered, not held until some later reconnect.
    const base = {
      url: this.#url,
      disableOfflineQueue: true,
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: backoff },
    };
    this.#cmd = createClient(base);
    this.#reader = createClient(base);
    // Subscriptions are re-sent by the client after each reconnect.
    this.#sub = createClient({ ...base, disableOfflineQueue: false });
    for (const client of [this.#cmd, this.#reader, this.#sub]) {
      client.on('error', (err: Error) => this.#onError(err));
      client.on('ready', () => this.#updateState());
      client.on('end', () => this.#updateState());
      client.on('reconnecting', () => this.#updateState());
    }
    // Each (re)connection may reach another server: find out what it is before using it.
    this.#cmd.on('ready', () => void this.#checkTopology());
    this.#cmd.on('reconnecting', () => {
      this.#topology = 'unknown';
    });
    this.#reader.on('reconnecting', () => {
      this.#readerId = undefined;
      // HOOK (durability): messages still held are read again from whichever server the reader reaches next.
      for (const [room, stream] of this.#durability ? this.#streams : []) {
        const from = this.#durability!.rewind(room);
        if (from !== undefined && compareIds(from, stream.lastId) < 0) stream.lastId = from;
      }
    });
    this.#log(`redis broker: node ${this.nodeId} connecting to ${this.#where}`);
    for (const client of [this.#cmd, this.#reader, this.#sub]) {
      // connect() keeps retrying through reconnectStrategy; it only rejects once closed.
      client.connect().catch(() => undefined);
    }
    this.#presence = new RedisPresence({
      prefix: this.#prefix,
      nodeId: this.nodeId,
      ttlMs: this.#ttlMs,
      ready: () => this.#state === 'ready',
      call: (command) => withTimeout(this.#cmd.sendCommand(command), `Redis at ${this.#where} did not answer ${command[0]} within ${REPLY_TIMEOUT_MS} ms`),
      script: (source, keys, args) => withTimeout(this.#script(source, keys, args), `Redis at ${this.#where} did not answer a presence script within ${REPLY_TIMEOUT_MS} ms`),
      subscribe: (channel, listener) => withTimeout(this.#sub.subscribe(channel, listener), `Redis at ${this.#where} did not confirm a subscription within ${REPLY_TIMEOUT_MS} ms`),
      unsubscribe: (channel, listener) => this.#sub.unsubscribe(channel, listener),
      log: this.#log,
    });
    this.#sub
      .subscribe(`${this.#prefix}remove`, (payload: string) => this.#onRemoval(payload))
      .catch((err: Error) => {
        if (!this.#closed) this.#log(`redis broker: cannot subscribe to member removals: ${err.message}`);
      });

    this.#heartbeat = setInterval(() => void this.#beat(false), this.#heartbeatMs);
    // HOOK (durability): publishes WAIT on a connection of their own; streams keep room for the markers.
    const waitClient = options.replicas ? createClient(base) : undefined;
    this.#durability = !waitClient ? undefined : new RedisDurability({
      replicas: options.replicas!,
      ...(options.replicasTimeoutMs !== undefined ? { timeoutMs: options.replicasTimeoutMs } : {}),
      client: waitClient,
      waitScript: (source, keys, args) => this.#script(source, keys, args, waitClient),
      readScript: (source, keys, args) => this.#script(source, keys, args),
      streamKey: (room) => this.#streamKey(room),
      commitKey: (room) => `${this.#prefix}commit:${room}`,
      maxLen: 2 * (this.#historySize + STREAM_SLACK),
      where: this.#where,
      log: this.#log,
    });
    this.#readLoop = this.#runReader();
  }

  /** Times this node found messages trimmed before it could deliver them (an overloaded reader); 0 normally. */
  get gaps(): number {
    return this.#lost;
  }

  /** XREAD replies that carried messages, since start. */
  get readBatches(): number {
    return this.#batches;
  }

  /** Messages those replies carried in all; divided by `readBatches`, the mean batch size. */
  get readBatchEntries(): number {
    return this.#batchEntries;
  }

  /** The fan-out reads' counts, for `/metrics`. */
  readStats(): ReadStats {
    return { batches: this.#batches, messages: this.#batchEntries };
  }

  /** HOOK (durability): replica waits (`WAIT`) that timed out, since start; 0 without `replicas`. */
  replicaWaitTimeouts(): number {
    return this.#durability?.waitTimeouts ?? 0;
  }

  /** `ready` while all three Redis connections are up, `degraded` otherwise, `closed` after close(). */
  get state(): BrokerState {
    return this.#state;
  }

  /**
   * Resolves once the broker is `ready`; rejects after `timeoutMs` (unset:
   * 10000 ms) with the reason Redis is unreachable. Optional: the broker works
   * without it, answering publishes with errors until Redis is reached.
   */
  whenReady(timeoutMs = 10_000): Promise<void> {
    if (this.#state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#state === 'ready') done();
        else if (this.#state === 'closed') done(new Error('Redis broker closed before it was ready'));
      };
      const timer = setTimeout(
        () => done(new Error(`Redis at ${this.#where} not reachable after ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.#stateWaiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#stateWaiters.add(check);
    });
  }

  async publish(room: string, from: string, text: string): Promise<ChatMessage> {
    if (this.#closed) throw new Error(`Cannot publish to room "${room}": the Redis broker is closed`);
    if (this.#state !== 'ready') {
      throw new Error(`Cannot publish to room "${room}": ${this.#topology === 'cluster' ? clusterRefusal(this.#where) : `Redis at ${this.#where} is unreachable`}; the message was not stored`);
    }
    let id: unknown;
    try {
      // HOOK (durability): with replicas, the id comes after WAIT and the commit.
      if (this.#durability) return toMessage(room, await this.#durability.publish(room, from, text), from, text);
      id = await withTimeout(
        this.#script(PUBLISH_SCRIPT, [this.#streamKey(room)], [String(this.#historySize + STREAM_SLACK), from, text]),
        `Redis at ${this.#where} did not answer within ${REPLY_TIMEOUT_MS} ms; the message may or may not be stored`,
      );
    } catch (err) {
      if (err instanceof PublishRefusedError) throw err; // HOOK (durability): its reason goes to the sender as is
      throw new Error(`Cannot publish to room "${room}": ${errorText(err)}; the message was not acknowledged`, { cause: err });
    }
    return toMessage(room, String(id), from, text);
  }

  async subscribe(room: string, listener: MessageListener): Promise<() => void> {
    if (this.#closed) throw new Error(`Cannot subscribe to room "${room}": the Redis broker is closed`);
    // The listener gets exactly the messages after the stream's current top.
    // While Redis is unreachable the local clock stands in for it.
    // HOOK (durability): a new reader starts before the room's first undecided message.
    const exactTop = this.#durability ? await this.#durability.startId(room).catch(() => undefined) : await this.#topId(room);
    const top = exactTop ?? this.#streams.get(room)?.lastId ?? `${Date.now()}-0`;
    let stream = this.#streams.get(room);
    if (!stream) {
      stream = { lastId: top, exact: exactTop !== undefined, listeners: new Map() };
      this.#streams.set(room, stream);
      this.#roomsVersion++;
      this.#interruptRead();
    }
    const after = compareIds(top, stream.lastId) > 0 ? top : stream.lastId;
    // HOOK (durability): a new listener also gets the messages this node still holds.
    stream.listeners.set(listener, this.#durability ? this.#durability.listenFrom(room, after) : after);
    return () => {
      const current = this.#streams.get(room);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      // The blocked XREAD may still name this room; its entries are then ignored.
      this.#streams.delete(room);
      this.#durability?.forget(room); // HOOK (durability)
      this.#roomsVersion++;
    };
  }

  async history(room: string, options: { since?: string; limit: number }): Promise<ChatMessage[]> {
    const limit = Math.min(Math.max(0, Math.floor(options.limit)), this.#historySize);
    if (options.since !== undefined && !ID_PATTERN.test(options.since)) {
      throw new RangeError(`Cannot read history of room "${room}": since "${options.since}" is not an id of the form <ms>-<seq>`);
    }
    if (limit === 0) return [];
    if (this.#state !== 'ready') {
      throw new Error(`Cannot read history of room "${room}": Redis at ${this.#where} is unreachable`);
    }
    const key = this.#streamKey(room);
    const reply = await withTimeout(
      // HOOK (durability): only confirmed messages, never markers.
      this.#durability ? this.#durability.range(room, options.since, limit) : options.since === undefined
        ? this.#cmd.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', String(limit)])
        : this.#cmd.sendCommand(['XRANGE', key, `(${options.since}`, '+', 'COUNT', String(limit)]),
      `Cannot read history of room "${room}": Redis at ${this.#where} did not answer within ${REPLY_TIMEOUT_MS} ms`,
    );
    const messages = parseEntries(reply).map(([id, fields]) => entryMessage(room, id, fields));
    return options.since === undefined ? messages.reverse() : messages;
  }

  async join(room: string, name: string, memberId: string): Promise<void> {
    await this.#presence.join(room, name, memberId);
  }

  async leave(room: string, _name: string, memberId: string): Promise<void> {
    await this.#presence.leave(room, memberId);
  }

  async watchPresence(room: string, listener: PresenceListener): Promise<PresenceWatch> {
    if (this.#closed) throw new Error(`Cannot watch the presence of room "${room}": the Redis broker is closed`);
    return this.#presence.watch(room, listener);
  }

  async users(room: string, request: PageRequest): Promise<UsersPage> {
    if (this.#closed) throw new Error(`Cannot list the users of room "${room}": the Redis broker is closed`);
    return withTimeout(
      this.#presence.users(room, request),
      `Cannot list the users of room "${room}": Redis at ${this.#where} did not answer within ${REPLY_TIMEOUT_MS} ms`,
    );
  }

  async isOnline(room: string, name: string): Promise<boolean> {
    if (this.#closed) throw new Error(`Cannot look up ${JSON.stringify(name)} in room "${room}": the Redis broker is closed`);
    return withTimeout(
      this.#presence.isOnline(room, name),
      `Cannot look up ${JSON.stringify(name)} in room "${room}": Redis at ${this.#where} did not answer within ${REPLY_TIMEOUT_MS} ms`,
    );
  }

  async removeMember(room: string, name: string): Promise<void> {
    if (this.#closed) throw new Error(`Cannot remove ${JSON.stringify(name)} from room "${room}": the Redis broker is closed`);
    if (this.#state !== 'ready') {
      throw new Error(`Cannot remove ${JSON.stringify(name)} from room "${room}": Redis at ${this.#where} is unreachable`);
    }
    const payload = JSON.stringify({ node: this.nodeId, room, name });
    await withTimeout(
      this.#cmd.sendCommand(['PUBLISH', `${this.#prefix}remove`, payload]),
      `Cannot remove ${JSON.stringify(name)} from room "${room}": Redis at ${this.#where} did not answer within ${REPLY_TIMEOUT_MS} ms`,
    );
    this.#callRemovals(room, name);
  }

  watchRemovals(listener: RemovalListener): () => void {
    this.#removals.add(listener);
    return () => void this.#removals.delete(listener);
  }

  /** Removes this node's presence, then disconnects; other nodes see its users leave at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    const wasReady = this.#state === 'ready';
    this.#setState('closed');
    this.#reader.destroy();
    this.#wakeReader?.();
    if (wasReady) {
      try {
        await this.#presence.close();
      } catch (err) {
        this.#log(`redis broker: presence not removed on close (${errorText(err)}); it expires within ${this.#ttlMs} ms`);
      }
    }
    this.#streams.clear();
    this.#removals.clear();
    await this.#durability?.close(); // HOOK (durability)
    await this.#readLoop;
    await Promise.all([quit(this.#cmd), quit(this.#sub)]);
  }

  // --- connection state -----------------------------------------------------

  #onError(err: Error): void {
    if (this.#closed) return;
    if (!this.#outageLogged) {
      this.#outageLogged = true;
      this.#log(`redis broker: Redis at ${this.#where} unreachable (${errorText(err)}); retrying every ${BACKOFF_FIRST_MS}-${BACKOFF_MAX_MS} ms, publishes fail until then`);
    }
    this.#updateState();
  }

  /**
   * Asks the server whether it is a Redis Cluster node. The broker's keys of
   * one room do not share a hash slot yet, so a cluster node keeps the
   * broker degraded, with a reason in the log and in publish errors, instead
   * of failing command by command with MOVED and CROSSSLOT.
   */
  async #checkTopology(): Promise<void> {
    let info: string;
    try {
      info = String(await withTimeout(this.#cmd.sendCommand(['INFO', 'cluster']), `Redis at ${this.#where} did not answer INFO within ${REPLY_TIMEOUT_MS} ms`));
    } catch (err) {
      if (this.#closed) return;
      this.#log(`redis broker: cannot tell whether ${this.#where} is a Redis Cluster node (${errorText(err)}); asking again in ${BACKOFF_MAX_MS} ms`);
      setTimeout(() => {
        if (!this.#closed && this.#cmd.isReady && this.#topology === 'unknown') void this.#checkTopology();
      }, BACKOFF_MAX_MS).unref();
      return;
    }
    this.#topology = /^cluster_enabled:1\b/m.test(info) ? 'cluster' : 'standalone';
    if (this.#topology === 'cluster') this.#log(`redis broker: ${clusterRefusal(this.#where)}; staying degraded`);
    this.#updateState();
  }

  #updateState(): void {
    if (this.#closed) return;
    const ready = this.#cmd.isReady && this.#reader.isReady && this.#sub.isReady && this.#topology === 'standalone';
    this.#setState(ready ? 'ready' : 'degraded');
  }

  #setState(next: BrokerState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    if (next === 'ready') {
      this.#outageLogged = false;
      this.#log(`redis broker: connected to ${this.#where} as node ${this.nodeId}; resuming ${this.#streams.size} rooms`);
      void this.#beat(true);
      this.#wakeReader?.();
    } else if (next === 'degraded') {
      this.#log(`redis broker: lost Redis at ${this.#where}; degraded, reconnecting`);
    }
    for (const waiter of [...this.#stateWaiters]) waiter();
  }

  // --- fan-out ----------------------------------------------------------------

  async #runReader(): Promise<void> {
    while (!this.#closed) {
      if (this.#streams.size === 0 || !this.#reader.isReady) {
        await this.#sleep(READ_RETRY_MS * 4);
        continue;
      }
      try {
        this.#readerId ??= String(await this.#reader.sendCommand(['CLIENT', 'ID']));
        const rooms = [...this.#streams.keys()];
        const ids = rooms.map((room) => this.#streams.get(room)!.lastId);
        this.#readingVersion = this.#roomsVersion;
        this.#reading = true;
        const reply = await this.#reader.sendCommand([
          'XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(READ_BLOCK_MS),
          'STREAMS', ...rooms.map((room) => this.#streamKey(room)), ...ids,
        ]);
        this.#reading = false;
        const delivered = this.#deliver(reply);
        // Busy: let the next messages gather so one read takes them all.
        if (delivered > 0 && this.#batchWaitMs > 0) await this.#sleep(this.#batchWaitMs);
      } catch (err) {
        this.#reading = false;
        if (this.#closed) break;
        this.#readerId = undefined;
        await this.#sleep(READ_RETRY_MS);
      }
    }
  }

  /**
   * Hands every entry of one XREAD reply to the listeners in one synchronous
   * pass: the library corks each socket until the tick ends, so a connection
   * gets the whole batch in one write. Returns the entries read.
   */
  #deliver(reply: unknown): number {
    if (!Array.isArray(reply)) return 0;
    let count = 0;
    const roomStart = `${this.#prefix}room:`.length;
    for (const [key, entries] of reply as [string, unknown][]) {
      const room = String(key).slice(roomStart);
      for (const [id, fields] of parseEntries(entries)) {
        count++;
        const stream = this.#streams.get(room);
        if (!stream || compareIds(id, stream.lastId) <= 0) continue;
        const prev = fieldValue(fields, 'prev');
        if (stream.exact && prev !== undefined && compareIds(prev, stream.lastId) > 0) this.#reportGap(room, stream.lastId, prev);
        stream.lastId = id;
        stream.exact = true;
        const message = entryMessage(room, id, fields);
        // HOOK (durability): held messages wait for their commit; markers deliver nothing.
        if (this.#durability) {
          for (const released of this.#durability.accept(room, id, fields, message)) this.#toListeners(stream, released);
        } else {
          this.#toListeners(stream, message);
        }
      }
    }
    if (count > 0) {
      this.#batches++;
      this.#batchEntries += count;
    }
    return count;
  }

  #toListeners(stream: RoomStream, message: ChatMessage): void {
    for (const [listener, after] of stream.listeners) {
      if (compareIds(message.id, after) <= 0) continue;
      try {
        listener(message);
      } catch (err) {
        this.#log(`redis broker: message listener of room "${message.room}" threw: ${errorText(err)}`);
      }
    }
  }

  /**
   * This node read too slowly: Redis trimmed messages of `room` (after
   * `after`, up to `upTo`) before it read them. They cannot be delivered any
   * more, so say so loudly instead of dropping them silently.
   */
  #reportGap(room: string, after: string, upTo: string): void {
    this.#lost++;
    this.#log(`redis broker: node ${this.nodeId} fell more than ${this.#historySize + STREAM_SLACK} messages behind in room "${room}"; messages after ${after} up to ${upTo} were trimmed before delivery (${this.#lost} gaps so far)`);
  }

  /** Make the reader pick up a changed set of rooms now instead of after its BLOCK timeout. */
  #interruptRead(): void {
    this.#wakeReader?.();
    void (async () => {
      // CLIENT UNBLOCK can overtake an XREAD still on its way; retry a few times.
      for (let attempt = 0; attempt < 20; attempt++) {
        if (!this.#reading || this.#readingVersion === this.#roomsVersion) return;
        const id = this.#readerId;
        if (id === undefined || this.#state !== 'ready') return;
        const unblocked = await this.#cmd.sendCommand(['CLIENT', 'UNBLOCK', id]).catch(() => 0);
        if (Number(unblocked) === 1) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeReader = done;
    });
  }

  async #topId(room: string): Promise<string | undefined> {
    if (this.#state !== 'ready') return undefined;
    try {
      const reply = await this.#cmd.sendCommand(['XREVRANGE', this.#streamKey(room), '+', '-', 'COUNT', '1']);
      return parseEntries(reply)[0]?.[0] ?? '0-0';
    } catch {
      return undefined;
    }
  }

  // --- presence ---------------------------------------------------------------

  /** Refresh the liveness key and everything presence does each heartbeat (see RedisPresence.beat). */
  async #beat(afterReconnect: boolean): Promise<void> {
    if (this.#closed || this.#state !== 'ready') return;
    try {
      await this.#presence.beat(afterReconnect);
    } catch (err) {
      this.#log(`redis broker: heartbeat failed (${errorText(err)})`);
    }
  }

  // --- member removal -------------------------------------------------------

  #onRemoval(payload: string): void {
    let request: { node?: unknown; room?: unknown; name?: unknown };
    try {
      request = JSON.parse(payload) as typeof request;
    } catch {
      this.#log(`redis broker: ignored a malformed removal request on ${this.#prefix}remove`);
      return;
    }
    // The asking node has already acted on its own request.
    if (request.node === this.nodeId) return;
    if (typeof request.room !== 'string' || typeof request.name !== 'string') {
      this.#log(`redis broker: ignored a removal request without room and name on ${this.#prefix}remove`);
      return;
    }
    this.#callRemovals(request.room, request.name);
  }

  #callRemovals(room: string, name: string): void {
    for (const listener of [...this.#removals]) {
      try {
        listener(room, name);
      } catch (err) {
        this.#log(`redis broker: removal listener threw: ${errorText(err)}`);
      }
    }
  }

  /**
   * Run a Lua script by its hash, loading it on first use and after a Redis
   * restart emptied the cache; on the command connection unless `client` is
   * given (HOOK (durability): its WAIT connection).
   */
  async #script(script: string, keys: string[], args: string[], client: Client = this.#cmd): Promise<unknown> {
    const sha = scriptHash(script);
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await client.sendCommand(['EVALSHA', sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await client.sendCommand(['EVAL', script, ...tail]);
    }
  }

  #streamKey(room: string): string {
    return `${this.#prefix}room:${room}`;
  }
}

/** Why a Redis Cluster node is not used, for logs and errors. */
function clusterRefusal(where: string): string {
  return `Redis at ${where} is a node of a Redis Cluster, which the Redis broker does not support yet (the keys of one room do not share a hash slot); point --redis at a standalone Redis or primary`;
}

/** Reconnect delay: doubling from 100 ms to 2 s, with jitter so nodes do not retry in lockstep. */
function backoff(retries: number): number {
  const base = Math.min(BACKOFF_FIRST_MS * 2 ** retries, BACKOFF_MAX_MS);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** Rejects with `message` when `promise` has not settled within REPLY_TIMEOUT_MS. */
function withTimeout<T>(promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), REPLY_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function quit(client: Client): Promise<void> {
  try {
    if (client.isReady) await client.close();
    else client.destroy();
  } catch {
    client.destroy();
  }
}

function parseEntries(reply: unknown): [string, unknown[]][] {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry) => {
    const [id, fields] = entry as [unknown, unknown];
    return [String(id), Array.isArray(fields) ? fields : []];
  });
}

function entryMessage(room: string, id: string, fields: unknown[]): ChatMessage {
  return toMessage(room, id, fieldValue(fields, 'from') ?? '', fieldValue(fields, 'text') ?? '');
}

function fieldValue(fields: unknown[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (String(fields[i]) === name) return String(fields[i + 1]);
  }
  return undefined;
}

const scriptHashes = new Map<string, string>();
function scriptHash(script: string): string {
  let sha = scriptHashes.get(script);
  if (sha === undefined) scriptHashes.set(script, (sha = createHash('sha1').update(script).digest('hex')));
  return sha;
}

/** The id's millisecond part is Redis's clock at XADD: the same timestamp on every node. */
function toMessage(room: string, id: string, from: string, text: string): ChatMessage {
  return { type: 'message', id, room, from, text, ts: Number(id.split('-')[0]) };
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** The URL without credentials, for logs and errors. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    throw new TypeError(`Invalid Redis URL "${url}": expected redis://HOST:PORT`);
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message || err.name;
  }
  return String(err);
}
