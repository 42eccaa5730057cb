/**
 * RedisBroker: the broker for a cluster of chat nodes sharing one Redis
 * server or one Redis Cluster; the facade over the connections and the
 * topology ({@link RedisConnection}), the fan-out ({@link FanoutReader}),
 * presence ({@link RedisPresence}), the key names ({@link RedisKeys}) and the
 * scripts (redis-scripts.ts).
 *
 * Data in Redis (names in redis-keys.ts; every key of a room carries the
 * room as its hash tag, so on a cluster a room lives on one master):
 * - `<prefix>{<room>}:stream`: a stream per room. `XADD` assigns each message
 *   its id once for the whole cluster; history and `since` are `XRANGE`s of it.
 * - presence keys and channels, and node liveness, described in redis-presence.ts.
 * - `<prefix>remove` (Pub/Sub channel): `{"node","room","name"}` when the
 *   server API removes a member, so every node closes that user's connections.
 *   The asking node acts on its own request at once and skips its echo.
 *
 * Fan-out ({@link FanoutReader}): every node reads every subscribed room
 * from the last id it delivered, so each node sees each message once and in
 * stream order. Each stream keeps historySize + 1000 entries: history and
 * resume serve the last historySize, and the rest is room for a reader that
 * fell behind.
 *
 * Presence ({@link RedisPresence}): a join or leave is one script of a
 * constant number of commands; changes travel to the other nodes as changes
 * over Pub/Sub, with versions so a lost one is noticed and repaired. A node
 * killed without a goodbye stops its heartbeats; within `presenceTtlMs` plus
 * one `heartbeatMs` a live node removes its users, announced as one change
 * per room.
 *
 * Replicas (`replicas` > 0, {@link RedisDurability}): a message is
 * acknowledged and shown only after `WAIT` confirmed that many replicas have
 * it; it is appended, WAITed on and committed over a wait lane of its own to
 * the room's master (one per master on a Redis Cluster), and the fan-out
 * holds it until the commit.
 *
 * Needs a Redis server (or primary) of version 6.2 or later, or a Redis
 * Cluster of version 7.0 or later (sharded Pub/Sub). Which one it is is
 * found by `INFO cluster` on every (re)connection; a cluster that does not
 * serve every slot keeps the broker degraded, saying why in the log, in
 * publish errors and in {@link RedisBroker.topology}.
 */
import { randomBytes } from 'node:crypto';
import { PublishRefusedError } from './broker.js';
import type { Broker, BrokerState, ChatMessage, ReadStats, MessageListener, PresenceListener, PresenceWatch, RemovalListener, UsersPage } from './broker.js';
import type { PageRequest } from './names.js';
import { RedisConnection, REPLY_TIMEOUT_MS, errorText, withTimeout, type TopologyReport } from './redis-connection.js';
import { entryMessage, parseEntries, toMessage } from './redis-entries.js';
import { FanoutReader } from './redis-fanout.js';
import { RedisKeys } from './redis-keys.js';
import { keySlot } from './redis-slots.js';
import { RedisPresence } from './redis-presence.js';
import { PUBLISH_SCRIPT } from './redis-scripts.js';
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

const ID_PATTERN = /^\d{1,20}-\d{1,20}$/;

/** The broker of a multi-node chat cluster, backed by Redis streams, keys and Pub/Sub. */
export class RedisBroker implements Broker {
  /** This node's id in Redis (random per process). */
  readonly nodeId = randomBytes(8).toString('hex');
  readonly #where: string;
  readonly #historySize: number;
  readonly #heartbeatMs: number;
  readonly #ttlMs: number;
  readonly #keys: RedisKeys;
  readonly #log: (line: string) => void;
  readonly #redis: RedisConnection;
  readonly #fanout: FanoutReader;
  /** With `replicas` > 0: the publishing and reading rules of replica-confirmed messages. */
  readonly #durability: RedisDurability | undefined;
  #closed = false;
  #removalsWatched = false;
  #stateWaiters = new Set<() => void>();

  readonly #presence: RedisPresence;
  readonly #removals = new Set<RemovalListener>();
  #heartbeat: NodeJS.Timeout;

  /** Connects in the background right away; `state` is `degraded` until Redis answers. */
  constructor(options: RedisBrokerOptions) {
    this.#historySize = positive('historySize', options.historySize ?? DEFAULT_HISTORY_SIZE);
    this.#heartbeatMs = positive('heartbeatMs', options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.#ttlMs = positive('presenceTtlMs', options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS);
    if (this.#ttlMs <= this.#heartbeatMs) {
      throw new RangeError(`presenceTtlMs (${this.#ttlMs}) must exceed heartbeatMs (${this.#heartbeatMs}), or live nodes would expire`);
    }
    this.#keys = new RedisKeys(options.keyPrefix ?? 'chat:');
    const batchWaitMs = options.readBatchWaitMs ?? DEFAULT_READ_BATCH_WAIT_MS;
    if (!Number.isInteger(batchWaitMs) || batchWaitMs < 0 || batchWaitMs > MAX_READ_BATCH_WAIT_MS) {
      throw new RangeError(`readBatchWaitMs must be a whole number of ms from 0 to ${MAX_READ_BATCH_WAIT_MS}, got ${batchWaitMs}`);
    }
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    // Bad replica settings fail before anything connects.
    const replicas = checkReplicas(options.replicas ?? 0);
    if (replicas > 0) checkReplicasTimeout(options.replicasTimeoutMs ?? DEFAULT_REPLICAS_TIMEOUT_MS);

    this.#redis = new RedisConnection({
      url: options.url,
      log: this.#log,
      onState: () => this.#onState(),
      onSlots: () => this.#fanout.regroup(),
      waitLanes: replicas > 0,
    });
    this.#where = this.#redis.where;
    this.#durability = replicas === 0 ? undefined : new RedisDurability({
      replicas,
      ...(options.replicasTimeoutMs !== undefined ? { timeoutMs: options.replicasTimeoutMs } : {}),
      lane: (room) => this.#redis.waitLane(this.#keys.stream(room)),
      readScript: (source, keys, args) => withTimeout(this.#redis.script(source, keys, args), `Redis at ${this.#where} did not answer a history read within ${REPLY_TIMEOUT_MS} ms`),
      streamKey: (room) => this.#keys.stream(room),
      commitKey: (room) => this.#keys.commit(room),
      doorbell: (room) => (this.#redis.clustered ? this.#keys.doorbell(room) : undefined),
      maxLen: 2 * (this.#historySize + STREAM_SLACK),
      where: this.#where,
      log: this.#log,
    });
    this.#log(`redis broker: node ${this.nodeId} connecting to ${this.#where}`);
    this.#fanout = new FanoutReader({
      shardOf: (key) => this.#redis.shardOf(key),
      reader: (shard) => this.#redis.reader(shard),
      ready: () => this.state === 'ready',
      slotOf: (key) => (this.#redis.clustered ? keySlot(key) : undefined),
      doorbell: async (room, ring) => {
        const channel = this.#keys.doorbell(room);
        await this.#redis.sSubscribe(channel, ring);
        return () => void this.#redis.sUnsubscribe(channel, ring).catch(() => {});
      },
      unblock: (shard, id) => this.#redis.unblock(shard, id),
      streamKey: (room) => this.#keys.stream(room),
      roomOf: (key) => this.#keys.roomOfStream(key),
      streamLength: this.#historySize + STREAM_SLACK,
      batchWaitMs,
      log: this.#log,
      nodeId: this.nodeId,
      ...(this.#durability ? { hold: this.#durability } : {}),
    });
    this.#presence = new RedisPresence({
      keys: this.#keys,
      nodeId: this.nodeId,
      ttlMs: this.#ttlMs,
      ready: () => this.state === 'ready',
      call: (key, command) => this.#redis.call(key, command, `Redis at ${this.#where} did not answer ${command[0]} within ${REPLY_TIMEOUT_MS} ms`),
      script: (source, keys, args) => withTimeout(this.#redis.script(source, keys, args), `Redis at ${this.#where} did not answer a presence script within ${REPLY_TIMEOUT_MS} ms`),
      subscribe: (channel, listener) => withTimeout(this.#redis.subscribe(channel, listener), `Redis at ${this.#where} did not confirm a subscription within ${REPLY_TIMEOUT_MS} ms`),
      unsubscribe: (channel, listener) => this.#redis.unsubscribe(channel, listener),
      log: this.#log,
    });

    this.#heartbeat = setInterval(() => void this.#beat(false), this.#heartbeatMs);
  }

  /** Times this node found messages trimmed before it could deliver them (an overloaded reader); 0 normally. */
  get gaps(): number {
    return this.#fanout.gaps;
  }

  /** XREAD replies that carried messages, since start. */
  get readBatches(): number {
    return this.#fanout.readStats().batches;
  }

  /** Messages those replies carried in all; divided by `readBatches`, the mean batch size. */
  get readBatchEntries(): number {
    return this.#fanout.readStats().messages;
  }

  /** The fan-out reads' counts, for `/metrics`. */
  readStats(): ReadStats {
    return this.#fanout.readStats();
  }

  /** Replica waits (`WAIT`) that timed out, since start; 0 without `replicas`. */
  replicaWaitTimeouts(): number {
    return this.#durability?.waitTimeouts ?? 0;
  }

  /** `ready` while every Redis connection is up on a usable server or cluster, `degraded` otherwise, `closed` after close(). */
  get state(): BrokerState {
    return this.#redis.state;
  }

  /** The Redis topology this node sees (standalone or cluster, masters, slots, replicas, connections), for `/healthz`. */
  topology(): TopologyReport {
    return this.#redis.report();
  }

  /**
   * Resolves once the broker is `ready`; rejects after `timeoutMs` (unset:
   * 10000 ms) with the reason Redis is unreachable. Optional: the broker works
   * without it, answering publishes with errors until Redis is reached.
   */
  whenReady(timeoutMs = 10_000): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.state === 'ready') done();
        else if (this.state === 'closed') done(new Error('Redis broker closed before it was ready'));
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
    if (this.state !== 'ready') {
      throw new Error(`Cannot publish to room "${room}": ${this.#redis.unavailable()}; the message was not stored`);
    }
    let id: unknown;
    try {
      // With replicas, the id comes after WAIT and the commit.
      id = this.#durability ? await this.#durability.publish(room, from, text) : await withTimeout(
        this.#redis.script(PUBLISH_SCRIPT, [this.#keys.stream(room)], [String(this.#historySize + STREAM_SLACK), from, text, this.#redis.clustered ? this.#keys.doorbell(room) : '']),
        `Redis at ${this.#where} did not answer within ${REPLY_TIMEOUT_MS} ms; the message may or may not be stored`,
      );
    } catch (err) {
      if (err instanceof PublishRefusedError) throw err; // its reason goes to the sender as is
      throw new Error(`Cannot publish to room "${room}": ${errorText(err)}; the message was not acknowledged`, { cause: err });
    }
    this.#fanout.seen(room, String(id));
    return toMessage(room, String(id), from, text);
  }

  async subscribe(room: string, listener: MessageListener): Promise<() => void> {
    if (this.#closed) throw new Error(`Cannot subscribe to room "${room}": the Redis broker is closed`);
    // The listener gets exactly the messages after the stream's current top.
    // While Redis is unreachable the local clock stands in for it.
    // With replicas, a new reader starts before the room's first undecided message.
    const exactTop = this.#durability ? await this.#startId(room) : await this.#topId(room);
    const top = exactTop ?? this.#fanout.lastId(room) ?? `${Date.now()}-0`;
    return this.#fanout.add(room, listener, top, exactTop !== undefined);
  }

  async history(room: string, options: { since?: string; limit: number }): Promise<ChatMessage[]> {
    const limit = Math.min(Math.max(0, Math.floor(options.limit)), this.#historySize);
    if (options.since !== undefined && !ID_PATTERN.test(options.since)) {
      throw new RangeError(`Cannot read history of room "${room}": since "${options.since}" is not an id of the form <ms>-<seq>`);
    }
    if (limit === 0) return [];
    if (this.state !== 'ready') {
      throw new Error(`Cannot read history of room "${room}": Redis at ${this.#where} is unreachable`);
    }
    const key = this.#keys.stream(room);
    // With replicas: only confirmed messages, never markers.
    const reply = this.#durability ? await this.#durability.range(room, options.since, limit) : await this.#redis.call(
      key,
      options.since === undefined
        ? ['XREVRANGE', key, '+', '-', 'COUNT', String(limit)]
        : ['XRANGE', key, `(${options.since}`, '+', 'COUNT', String(limit)],
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
    if (this.state !== 'ready') {
      throw new Error(`Cannot remove ${JSON.stringify(name)} from room "${room}": Redis at ${this.#where} is unreachable`);
    }
    const payload = JSON.stringify({ node: this.nodeId, room, name });
    await this.#redis.call(
      undefined,
      ['PUBLISH', this.#keys.removeChannel, payload],
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
    const wasReady = this.state === 'ready';
    this.#redis.close();
    this.#fanout.wake();
    if (wasReady) {
      try {
        await this.#presence.close();
      } catch (err) {
        this.#log(`redis broker: presence not removed on close (${errorText(err)}); it expires within ${this.#ttlMs} ms`);
      }
    }
    this.#removals.clear();
    await this.#durability?.close();
    await this.#fanout.close();
    await this.#redis.end();
  }

  #onState(): void {
    const state = this.state;
    if (state === 'ready') {
      this.#log(`redis broker: connected to ${this.#where} (${this.#redis.topology}) as node ${this.nodeId}; resuming ${this.#fanout.rooms} rooms`);
      this.#watchRemovals();
      void this.#beat(true);
      this.#fanout.wake();
    } else if (state === 'degraded') {
      this.#log(`redis broker: lost Redis at ${this.#where}; degraded, reconnecting`);
    }
    for (const waiter of [...this.#stateWaiters]) waiter();
  }

  async #topId(room: string): Promise<string | undefined> {
    if (this.state !== 'ready') return undefined;
    try {
      const key = this.#keys.stream(room);
      const reply = await this.#redis.call(key, ['XREVRANGE', key, '+', '-', 'COUNT', '1'], `Redis at ${this.#where} did not answer XREVRANGE within ${REPLY_TIMEOUT_MS} ms`);
      return parseEntries(reply)[0]?.[0] ?? '0-0';
    } catch {
      return undefined;
    }
  }

  async #startId(room: string): Promise<string | undefined> {
    if (this.state !== 'ready') return undefined;
    return this.#durability!.startId(room).catch(() => undefined);
  }

  /** Refresh the liveness key and everything presence does each heartbeat (see RedisPresence.beat). */
  async #beat(afterReconnect: boolean): Promise<void> {
    if (this.#closed || this.state !== 'ready') return;
    try {
      await this.#presence.beat(afterReconnect);
    } catch (err) {
      this.#log(`redis broker: heartbeat failed (${errorText(err)})`);
    }
  }

  // --- member removal -------------------------------------------------------

  /** Subscribes to member removals once Redis is reached (the topology decides how); the client re-subscribes after reconnects. */
  #watchRemovals(): void {
    if (this.#removalsWatched) return;
    this.#removalsWatched = true;
    this.#redis.subscribe(this.#keys.removeChannel, (payload: string) => this.#onRemoval(payload)).catch((err: Error) => {
      this.#removalsWatched = false;
      if (!this.#closed) this.#log(`redis broker: cannot subscribe to member removals: ${err.message}; trying again when Redis is ready`);
    });
  }

  #onRemoval(payload: string): void {
    let request: { node?: unknown; room?: unknown; name?: unknown };
    try {
      request = JSON.parse(payload) as typeof request;
    } catch {
      this.#log(`redis broker: ignored a malformed removal request on ${this.#keys.removeChannel}`);
      return;
    }
    // The asking node has already acted on its own request.
    if (request.node === this.nodeId) return;
    if (typeof request.room !== 'string' || typeof request.name !== 'string') {
      this.#log(`redis broker: ignored a removal request without room and name on ${this.#keys.removeChannel}`);
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

}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
