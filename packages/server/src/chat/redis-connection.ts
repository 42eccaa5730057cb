/**
 * RedisConnection: the Redis broker's connections to Redis and their state,
 * on a standalone Redis or a Redis Cluster. The only file that imports the
 * Redis client.
 *
 * A probe connection to the given address asks `INFO cluster` on each
 * (re)connection. Then:
 * - **standalone**: three connections, for commands (and scripts), the
 *   fan-out's blocking `XREAD`, and Pub/Sub;
 * - **cluster**: node-redis's cluster client (`createCluster`, the given
 *   address as its root node, the others discovered) for commands, scripts
 *   and Pub/Sub, plus one blocking-read connection per master, since a
 *   multi-key `XREAD` must stay within one slot and so within one shard.
 *   `CLUSTER SLOTS` and `CLUSTER INFO` are asked every second: the slot map
 *   decides which master reads which room, and a cluster that does not serve
 *   all 16384 slots, or says `cluster_state:fail`, keeps the broker degraded
 *   with the reason (in the log, publish errors and `/healthz`).
 *
 * Pub/Sub on a cluster uses classic `SUBSCRIBE`: a `PUBLISH` on any node,
 * from a script included, reaches the subscribers on every node. Sharded
 * Pub/Sub (`SSUBSCRIBE`) would spare the other shards that traffic, but it
 * cannot be published from a script whose keys are in another slot than the
 * channel; presence traffic is small, so the simpler broadcast was chosen.
 *
 * With `waitLanes` (`--redis-replicas`), one more connection per master (the
 * one server when standalone), a {@link WaitLane}: `WAIT` counts only the
 * writes of the connection it runs on, on the server that got them, so each
 * master's held entries, WAITs and commits go over its own lane.
 *
 * Commands fail at once while disconnected instead of queueing, so a publish
 * is answered, not held until some later reconnect; every reply has a
 * deadline, so a Redis that stopped answering without closing TCP cannot hold
 * a caller forever. Each connection reconnects on its own with a jittered,
 * doubling backoff.
 */
import { createClient, createCluster } from 'redis';
import type { BrokerState } from './broker.js';
import { keySlot, SLOT_COUNT } from './redis-slots.js';
import { scriptHash } from './redis-scripts.js';
import type { WaitLane } from './redis-durability.js';

/** Reconnect backoff: doubling from the first to the last delay. */
export const BACKOFF_FIRST_MS = 100;
/** Longest reconnect delay. */
export const BACKOFF_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;
/**
 * Longest wait for a reply on an open connection. A Redis that stopped
 * answering (paused, swapping) without closing TCP would otherwise hold a
 * publish forever.
 */
export const REPLY_TIMEOUT_MS = 5_000;
/** How often a cluster's slot map and state are read again. */
const CLUSTER_REFRESH_MS = 1_000;

/** A connection to one Redis server. */
export type RedisClient = ReturnType<typeof createClient>;
type ClusterClient = ReturnType<typeof createCluster>;

/** What `INFO cluster` said about the server at the given address. */
export type Topology = 'unknown' | 'standalone' | 'cluster';

/** One master of a Redis Cluster as `CLUSTER SLOTS` describes it. */
export interface ClusterShard {
  /** `host:port` of the master. */
  address: string;
  /** The slot ranges it serves, inclusive. */
  slots: [number, number][];
  /** `host:port` of each replica. */
  replicas: string[];
}

/** What `/healthz` shows of Redis: the topology the broker sees and each server's connection. */
export interface TopologyReport {
  /** standalone, cluster, or unknown (not reached yet). */
  mode: Topology;
  /** Why the broker cannot use Redis now; absent when it can. */
  reason?: string;
  /** The standalone server, or each master of the cluster with its slots and replicas. */
  masters: { address: string; slots?: string[]; replicas?: string[]; connected: boolean }[];
}

/** Options for {@link RedisConnection}. */
export interface RedisConnectionOptions {
  /** Redis server, or any node of a Redis Cluster, e.g. `redis://127.0.0.1:6379`. */
  url: string;
  /** Where outages and topology findings are reported. */
  log: (line: string) => void;
  /** Called after each change of {@link RedisConnection.state}, with the previous state. */
  onState: (previous: BrokerState) => void;
  /** Called when the cluster's slot map changed: rooms may now be read from other masters. */
  onSlots: () => void;
  /** Keep a {@link WaitLane} per master (for `--redis-replicas`). Unset: none. */
  waitLanes?: boolean;
}

interface Lane extends WaitLane {
  readonly client: RedisClient;
  epoch: number;
}

/** The broker's connections to a standalone Redis or a Redis Cluster, with one state for all of them. */
export class RedisConnection {
  /** The given address without credentials, for logs and errors. */
  readonly where: string;
  readonly #url: string;
  /** The probe; also commands and scripts on a standalone server. */
  readonly #cmd: RedisClient;
  #sub: RedisClient | undefined;
  #cluster: ClusterClient | undefined;
  #clusterConnected = false;
  /** Blocking-read connections by `host:port` (the given address on a standalone server). */
  readonly #readers = new Map<string, RedisClient>();
  /** Wait lanes by `host:port`, with `waitLanes`; undefined without. */
  readonly #lanes: Map<string, Lane> | undefined;
  #shards: ClusterShard[] = [];
  /** Index in #shards of each slot's master; -1 when no master serves it. */
  #slotOwners = new Int16Array(SLOT_COUNT).fill(-1);
  #clusterProblem: string | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  readonly #log: (line: string) => void;
  readonly #onState: (previous: BrokerState) => void;
  readonly #onSlots: () => void;
  #state: BrokerState = 'degraded';
  #topology: Topology = 'unknown';
  #mode: Topology = 'unknown';
  #closed = false;
  #outageLogged = false;

  /** Connects in the background right away; `state` is `degraded` until Redis answers. */
  constructor(options: RedisConnectionOptions) {
    this.where = describeUrl(options.url);
    this.#url = options.url;
    this.#log = options.log;
    this.#onState = options.onState;
    this.#onSlots = options.onSlots;
    this.#cmd = this.#client(options.url);
    // Most servers are standalone: their reader and Pub/Sub connect at once, alongside the probe,
    // and are dropped if the probe finds a cluster node.
    this.#readers.set(this.where, this.#client(options.url));
    this.#lanes = options.waitLanes ? new Map() : undefined;
    this.#addLane(this.where, options.url);
    this.#sub = this.#client(options.url, true);
    this.#cmd.on('ready', () => void this.#checkTopology());
    this.#cmd.on('reconnecting', () => {
      this.#topology = 'unknown';
    });
  }

  /** `ready` while every connection is up on a usable server or cluster, `degraded` otherwise, `closed` after close(). */
  get state(): BrokerState {
    return this.#state;
  }

  /** What the server at the given address is, as far as known. */
  get topology(): Topology {
    return this.#mode;
  }

  /** Why the broker cannot be used now, for errors: the server is unreachable, or the cluster not usable. */
  unavailable(): string {
    return this.#mode === 'cluster' && this.#clusterProblem ? this.#clusterProblem : `Redis at ${this.where} is unreachable`;
  }

  /** Runs one command on the server of `key` (any server when undefined), rejecting with `timeoutMessage` after REPLY_TIMEOUT_MS. */
  call(key: string | undefined, command: string[], timeoutMessage: string): Promise<unknown> {
    return withTimeout(this.#send(key, command), timeoutMessage);
  }

  /** Runs a Lua script by its hash on the server of its keys, loading it on first use and after a Redis restart emptied the cache. */
  script(script: string, keys: string[], args: string[]): Promise<unknown> {
    return evalScript((command) => this.#send(keys[0], command), script, keys, args);
  }

  /** Subscribes `listener` to a channel (re-subscribed after reconnects); rejects while the topology is unknown. */
  subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    if (this.#cluster) return this.#cluster.subscribe(channel, listener);
    if (this.#sub) return this.#sub.subscribe(channel, listener);
    return Promise.reject(new Error(`Cannot subscribe to ${channel}: Redis at ${this.where} not reached yet`));
  }

  /** Subscribes `listener` to a sharded channel of a Redis Cluster (`SSUBSCRIBE`, on the master of its slot). */
  sSubscribe(channel: string, listener: (message: string) => void): Promise<void> {
    if (!this.#cluster) return Promise.reject(new Error(`Cannot subscribe to ${channel}: sharded channels are for a Redis Cluster`));
    return this.#cluster.sSubscribe(channel, listener);
  }

  /** Removes `listener` from a sharded channel. */
  async sUnsubscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.#cluster?.sUnsubscribe(channel, listener as never);
  }

  /** Whether the server is a Redis Cluster, where a multi-key command must stay within one hash slot. */
  get clustered(): boolean {
    return this.#mode === 'cluster';
  }

  /** Removes `listener` from a channel. */
  async unsubscribe(channel: string, listener: (message: string) => void): Promise<void> {
    // node-redis types a listener of either buffer mode; this one was subscribed for strings.
    if (this.#cluster) await this.#cluster.unsubscribe(channel, listener as never);
    else if (this.#sub) await this.#sub.unsubscribe(channel, listener);
  }

  /** The `host:port` of the master that serves `key`'s slot (the one server when standalone); undefined when none does. */
  shardOf(key: string): string | undefined {
    if (this.#mode === 'standalone') return this.where;
    if (this.#mode !== 'cluster') return undefined;
    return this.#shards[this.#slotOwners[keySlot(key)]!]?.address;
  }

  /** The blocking-read connection to the master at `address`; undefined when it is not a master any more. */
  reader(address: string): RedisClient | undefined {
    return this.#readers.get(address);
  }

  /** The wait lane to the master of `key`'s slot (the one server when standalone); undefined without lanes or while no master serves it. */
  waitLane(key: string): WaitLane | undefined {
    const address = this.shardOf(key);
    return address === undefined ? undefined : this.#lanes?.get(address);
  }

  /** Sends `CLIENT UNBLOCK <id>` to the server at `address`, on a connection other than its reader. */
  async unblock(address: string, id: string): Promise<unknown> {
    if (this.#mode === 'standalone') return this.#cmd.sendCommand(['CLIENT', 'UNBLOCK', id]);
    const master = this.#cluster?.masters.find((node) => `${node.host}:${node.port}` === address);
    if (!master || !this.#cluster) return 0;
    const client = await this.#cluster.nodeClient(master);
    return client.sendCommand(['CLIENT', 'UNBLOCK', id]);
  }

  /** The topology as seen now, for `/healthz`. */
  report(): TopologyReport {
    const reason = this.#state === 'ready' ? undefined : this.unavailable();
    if (this.#mode !== 'cluster') {
      const connected = this.#cmd.isReady && (this.#readers.get(this.where)?.isReady ?? false) && (this.#sub?.isReady ?? false)
        && (this.#lanes?.get(this.where)?.isReady ?? true);
      return { mode: this.#mode, ...(reason ? { reason } : {}), masters: [{ address: this.where, connected }] };
    }
    return {
      mode: 'cluster',
      ...(reason ? { reason } : {}),
      masters: this.#shards.map((shard) => ({
        address: shard.address,
        slots: shard.slots.map(([from, to]) => (from === to ? String(from) : `${from}-${to}`)),
        replicas: shard.replicas,
        connected: (this.#readers.get(shard.address)?.isReady ?? false) && (this.#lanes?.get(shard.address)?.isReady ?? true),
      })),
    };
  }

  /**
   * Makes the state `closed` and drops the readers' connections; the
   * command and Pub/Sub connections stay for the caller's last commands
   * (removing its presence) until {@link end}.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#refreshTimer);
    this.#setState('closed');
    for (const reader of this.#readers.values()) reader.destroy();
    this.#readers.clear();
  }

  /** Ends the command, Pub/Sub and wait-lane connections. */
  async end(): Promise<void> {
    const cluster = this.#cluster;
    await Promise.all([
      ...[...(this.#lanes?.values() ?? [])].map((lane) => quit(lane.client)),
      quit(this.#cmd),
      this.#sub ? quit(this.#sub) : undefined,
      cluster ? cluster.close().catch(() => cluster.destroy()) : undefined,
    ]);
  }

  #send(key: string | undefined, command: string[]): Promise<unknown> {
    if (this.#cluster) return this.#cluster.sendCommand(key, false, command);
    return this.#cmd.sendCommand(command);
  }

  /** Opens the wait lane to the master at `address` (with `waitLanes`). */
  #addLane(address: string, url: string): void {
    if (!this.#lanes || this.#lanes.has(address)) return;
    const client = this.#client(url);
    const lane: Lane = {
      address,
      client,
      epoch: 0,
      get isReady() {
        return client.isReady;
      },
      send: (command) => client.sendCommand(command),
      script: (source, keys, args) => evalScript((command) => client.sendCommand(command), source, keys, args),
    };
    client.on('ready', () => lane.epoch++);
    this.#lanes.set(address, lane);
  }

  /** Closes the wait lane to a server that is no master (any more). */
  #dropLane(address: string): void {
    this.#lanes?.get(address)?.client.destroy();
    this.#lanes?.delete(address);
  }

  /** A client with the broker's settings: no offline queue (a command while disconnected fails at once), bounded connect, backoff. */
  #client(url: string, queue = false): RedisClient {
    const client = createClient({
      url,
      disableOfflineQueue: !queue,
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: backoff },
    });
    client.on('error', (err: Error) => this.#onError(err));
    client.on('ready', () => this.#updateState());
    client.on('end', () => this.#updateState());
    client.on('reconnecting', () => this.#updateState());
    // connect() keeps retrying through reconnectStrategy; it only rejects once closed.
    client.connect().catch(() => undefined);
    return client;
  }

  #onError(err: Error): void {
    if (this.#closed) return;
    if (!this.#outageLogged) {
      this.#outageLogged = true;
      this.#log(`redis broker: Redis at ${this.where} unreachable (${errorText(err)}); retrying every ${BACKOFF_FIRST_MS}-${BACKOFF_MAX_MS} ms, publishes fail until then`);
    }
    this.#updateState();
  }

  /**
   * Asks the server whether it is a Redis Cluster node, and sets up the
   * connections for what it is. A server that changes its kind under a
   * running broker (restarted with or without cluster mode) keeps the
   * broker degraded: the connections made for the other kind are wrong.
   */
  async #checkTopology(): Promise<void> {
    let info: string;
    try {
      info = String(await withTimeout(this.#cmd.sendCommand(['INFO', 'cluster']), `Redis at ${this.where} did not answer INFO within ${REPLY_TIMEOUT_MS} ms`));
    } catch (err) {
      if (this.#closed) return;
      this.#log(`redis broker: cannot tell whether ${this.where} is a Redis Cluster node (${errorText(err)}); asking again in ${BACKOFF_MAX_MS} ms`);
      setTimeout(() => {
        if (!this.#closed && this.#cmd.isReady && this.#topology === 'unknown') void this.#checkTopology();
      }, BACKOFF_MAX_MS).unref();
      return;
    }
    if (this.#closed) return;
    this.#topology = /^cluster_enabled:1\b/m.test(info) ? 'cluster' : 'standalone';
    if (this.#mode === 'unknown') {
      this.#mode = this.#topology;
      if (this.#mode === 'standalone') {
        this.#onSlots();
      } else {
        this.#readers.get(this.where)?.destroy();
        this.#readers.delete(this.where);
        this.#dropLane(this.where);
        this.#sub?.destroy();
        this.#sub = undefined;
        this.#log(`redis broker: ${this.where} is a Redis Cluster node; discovering the cluster`);
        this.#refreshTimer = setInterval(() => void this.#refreshCluster(), CLUSTER_REFRESH_MS);
        void this.#refreshCluster();
      }
    } else if (this.#mode !== this.#topology) {
      this.#log(`redis broker: Redis at ${this.where} is now ${this.#topology === 'cluster' ? 'a Redis Cluster node' : 'a standalone server'} but was ${this.#mode === 'cluster' ? 'a cluster node' : 'standalone'}; staying degraded, restart this node`);
    }
    this.#updateState();
  }

  /** Reads the cluster's slot map and state; connects to new masters and lets go of former ones. */
  async #refreshCluster(): Promise<void> {
    if (this.#closed) return;
    // The given node while it answers: the cluster client would pick any node, a dead one included.
    const ask = (command: string[]) => withTimeout(
      this.#cluster && this.#clusterConnected && !this.#cmd.isReady ? this.#cluster.sendCommand(undefined, true, command) : this.#cmd.sendCommand(command),
      `Redis at ${this.where} did not answer ${command.join(' ')} within ${REPLY_TIMEOUT_MS} ms`,
    );
    let shards: ClusterShard[];
    let state: string;
    try {
      const [slots, info] = await Promise.all([ask(['CLUSTER', 'SLOTS']), ask(['CLUSTER', 'INFO'])]);
      shards = parseClusterSlots(slots);
      state = /^cluster_state:(\w+)/m.exec(String(info))?.[1] ?? 'unknown';
    } catch (err) {
      this.#setClusterProblem(`cannot read the Redis Cluster's slots through ${this.where} (${errorText(err)})`);
      return;
    }
    if (this.#closed) return;
    const served = shards.reduce((n, shard) => n + shard.slots.reduce((m, [from, to]) => m + to - from + 1, 0), 0);
    const changed = JSON.stringify(shards) !== JSON.stringify(this.#shards);
    if (changed) {
      this.#shards = shards;
      this.#slotOwners = new Int16Array(SLOT_COUNT).fill(-1);
      shards.forEach((shard, index) => {
        for (const [from, to] of shard.slots) this.#slotOwners.fill(index, from, to + 1);
      });
      const masters = new Set(shards.map((shard) => shard.address));
      for (const [address, reader] of this.#readers) {
        if (masters.has(address)) continue;
        reader.destroy();
        this.#readers.delete(address);
      }
      for (const address of this.#lanes?.keys() ?? []) if (!masters.has(address)) this.#dropLane(address);
      for (const address of masters) {
        if (!this.#readers.has(address)) this.#readers.set(address, this.#client(this.#nodeUrl(address)));
        this.#addLane(address, this.#nodeUrl(address));
      }
      await this.#rediscover();
    }
    if (served < SLOT_COUNT || state !== 'ok') {
      this.#setClusterProblem(`the Redis Cluster of ${this.where} is not usable: cluster_state:${state}, ${served} of ${SLOT_COUNT} slots served by ${shards.length} masters`);
    } else {
      if (!this.#cluster) this.#connectCluster();
      this.#setClusterProblem(undefined);
    }
    if (changed) this.#onSlots();
  }

  /**
   * Makes the cluster client read the slot map again. It does so by itself
   * only on a MOVED reply; after a failover, the commands and sharded
   * subscriptions of a dead master's slots would fail until then. Started
   * from a connection that is up (the given node, or a master's reader).
   */
  async #rediscover(): Promise<void> {
    if (!this.#cluster || !this.#clusterConnected) return;
    const from = [this.#cmd, ...this.#readers.values()].find((client) => client.isReady);
    if (!from) return;
    try {
      await withTimeout(this.#cluster._slots.rediscover(from as never), `the Redis Cluster's slot map was not read again within ${REPLY_TIMEOUT_MS} ms`);
    } catch (err) {
      this.#log(`redis broker: cannot read the Redis Cluster's slot map again (${errorText(err)}); retrying at the next change`);
    }
  }

  #connectCluster(): void {
    const url = new URL(this.#url);
    const cluster = createCluster({
      rootNodes: [{ url: this.#url }],
      defaults: {
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
        disableOfflineQueue: true,
        socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: backoff },
      },
    });
    this.#cluster = cluster;
    cluster.on('error', (err: Error) => this.#onError(err));
    cluster.connect().then(
      () => {
        this.#clusterConnected = true;
        this.#updateState();
      },
      (err: Error) => {
        // Only a first connection fails this way; drop the client so the next refresh makes a new one.
        if (this.#closed) return;
        this.#log(`redis broker: cannot connect to the Redis Cluster of ${this.where} (${errorText(err)}); trying again`);
        if (this.#cluster === cluster) this.#cluster = undefined;
        cluster.destroy();
      },
    );
  }

  #setClusterProblem(problem: string | undefined): void {
    if (problem !== undefined && problem !== this.#clusterProblem) this.#log(`redis broker: ${problem}; degraded until it is`);
    this.#clusterProblem = problem;
    this.#updateState();
  }

  /** The URL of another node: the given URL (scheme, credentials) with its host and port. */
  #nodeUrl(address: string): string {
    const url = new URL(this.#url);
    url.host = address;
    url.pathname = '';
    return url.toString();
  }

  #updateState(): void {
    if (this.#closed) return;
    const readers = [...this.#readers.values()];
    let ready = false;
    if (this.#mode === 'standalone') {
      ready = this.#cmd.isReady && this.#topology === 'standalone' && (this.#sub?.isReady ?? false) && readers.every((reader) => reader.isReady) && this.#lanesReady();
    } else if (this.#mode === 'cluster') {
      // The given node is only the way in: once the cluster is known, the broker
      // does not depend on it (it may be down, its replica promoted).
      ready = this.#clusterConnected && this.#clusterProblem === undefined && this.#topology !== 'standalone'
        && readers.length > 0 && readers.every((reader) => reader.isReady) && this.#lanesReady();
    }
    this.#setState(ready ? 'ready' : 'degraded');
  }

  #lanesReady(): boolean {
    return [...(this.#lanes?.values() ?? [])].every((lane) => lane.isReady);
  }

  #setState(next: BrokerState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    if (next === 'ready') this.#outageLogged = false;
    this.#onState(previous);
  }
}

/** The masters of a `CLUSTER SLOTS` reply, each with its slot ranges (sorted) and replicas. */
export function parseClusterSlots(reply: unknown): ClusterShard[] {
  const byAddress = new Map<string, ClusterShard>();
  if (!Array.isArray(reply)) return [];
  for (const range of reply as unknown[][]) {
    const [from, to, master, ...replicas] = range as [number, number, unknown[], ...unknown[][]];
    const address = `${String(master[0])}:${Number(master[1])}`;
    let shard = byAddress.get(address);
    if (!shard) byAddress.set(address, (shard = { address, slots: [], replicas: [] }));
    shard.slots.push([Number(from), Number(to)]);
    for (const replica of replicas) {
      const replicaAddress = `${String(replica[0])}:${Number(replica[1])}`;
      if (!shard.replicas.includes(replicaAddress)) shard.replicas.push(replicaAddress);
    }
  }
  const shards = [...byAddress.values()];
  for (const shard of shards) {
    shard.slots.sort((x, y) => x[0] - y[0]);
    shard.replicas.sort();
  }
  return shards.sort((x, y) => x.slots[0]![0] - y.slots[0]![0]);
}

/** Runs a Lua script by its hash through `send`, loading it (EVAL) when the server's cache lacks it. */
async function evalScript(send: (command: string[]) => Promise<unknown>, script: string, keys: string[], args: string[]): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await send(['EVALSHA', scriptHash(script), ...tail]);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return await send(['EVAL', script, ...tail]);
  }
}

/** Reconnect delay: doubling from 100 ms to 2 s, with jitter so nodes do not retry in lockstep. */
function backoff(retries: number): number {
  const base = Math.min(BACKOFF_FIRST_MS * 2 ** retries, BACKOFF_MAX_MS);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** Rejects with `message` when `promise` has not settled within REPLY_TIMEOUT_MS. */
export function withTimeout<T>(promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), REPLY_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function quit(client: RedisClient): Promise<void> {
  try {
    if (client.isReady) await client.close();
    else client.destroy();
  } catch {
    client.destroy();
  }
}

/** The URL without credentials, for logs and errors; a TypeError naming the URL when it is not one. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    throw new TypeError(`Invalid Redis URL "${url}": expected redis://HOST:PORT`);
  }
}

/** An error's message with its code (ECONNREFUSED...) when the message lacks it. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message || err.name;
  }
  return String(err);
}
