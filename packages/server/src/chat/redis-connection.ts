/**
 * RedisConnection: the Redis broker's connections to Redis and their state.
 * The only file that imports the Redis client.
 *
 * Three connections: commands (and scripts), the fan-out reader's blocking
 * `XREAD`, and Pub/Sub. Commands fail at once while disconnected instead of
 * queueing, so a publish is answered, not held until some later reconnect;
 * every reply has a deadline, so a Redis that stopped answering without
 * closing TCP cannot hold a caller forever. Each connection reconnects on
 * its own with a jittered, doubling backoff.
 *
 * Each (re)connection may reach another server, so the command connection
 * asks `INFO cluster` before it is used.
 */
import { createClient } from 'redis';
import type { BrokerState } from './broker.js';
import { scriptHash } from './redis-scripts.js';

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

/** A connection to one Redis server. */
export type RedisClient = ReturnType<typeof createClient>;

/** What `INFO cluster` said about the server of the command connection. */
export type Topology = 'unknown' | 'standalone' | 'cluster';

/** Options for {@link RedisConnection}. */
export interface RedisConnectionOptions {
  /** Redis server, e.g. `redis://127.0.0.1:6379`. */
  url: string;
  /** Where outages and topology findings are reported. */
  log: (line: string) => void;
  /** Called after each change of {@link RedisConnection.state}, with the previous state. */
  onState: (previous: BrokerState) => void;
}

/** The broker's three connections to one Redis, with one state for all of them. */
export class RedisConnection {
  /** The server's URL without credentials, for logs and errors. */
  readonly where: string;
  /** Commands and scripts. */
  readonly cmd: RedisClient;
  /** The fan-out reader's blocking reads. */
  readonly reader: RedisClient;
  /** Pub/Sub; subscriptions are re-sent by the client after each reconnect. */
  readonly sub: RedisClient;
  readonly #log: (line: string) => void;
  readonly #onState: (previous: BrokerState) => void;
  #state: BrokerState = 'degraded';
  #topology: Topology = 'unknown';
  #closed = false;
  #outageLogged = false;

  /** Connects in the background right away; `state` is `degraded` until Redis answers. */
  constructor(options: RedisConnectionOptions) {
    this.where = describeUrl(options.url);
    this.#log = options.log;
    this.#onState = options.onState;
    const base = {
      url: options.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: backoff },
    };
    this.cmd = createClient(base);
    this.reader = createClient(base);
    this.sub = createClient({ ...base, disableOfflineQueue: false });
    for (const client of [this.cmd, this.reader, this.sub]) {
      client.on('error', (err: Error) => this.#onError(err));
      client.on('ready', () => this.#updateState());
      client.on('end', () => this.#updateState());
      client.on('reconnecting', () => this.#updateState());
    }
    this.cmd.on('ready', () => void this.#checkTopology());
    this.cmd.on('reconnecting', () => {
      this.#topology = 'unknown';
    });
    for (const client of [this.cmd, this.reader, this.sub]) {
      // connect() keeps retrying through reconnectStrategy; it only rejects once closed.
      client.connect().catch(() => undefined);
    }
  }

  /** `ready` while all three connections are up on a usable server, `degraded` otherwise, `closed` after close(). */
  get state(): BrokerState {
    return this.#state;
  }

  /** What the server of the command connection is. */
  get topology(): Topology {
    return this.#topology;
  }

  /** Why the broker cannot be used now, for errors: the server is unreachable, or not supported. */
  unavailable(): string {
    return this.#topology === 'cluster' ? clusterRefusal(this.where) : `Redis at ${this.where} is unreachable`;
  }

  /** Runs one command, rejecting with `timeoutMessage` after REPLY_TIMEOUT_MS. */
  call(command: string[], timeoutMessage: string): Promise<unknown> {
    return withTimeout(this.cmd.sendCommand(command), timeoutMessage);
  }

  /** Runs a Lua script by its hash, loading it on first use and after a Redis restart emptied the cache. */
  async script(script: string, keys: string[], args: string[]): Promise<unknown> {
    const sha = scriptHash(script);
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.cmd.sendCommand(['EVALSHA', sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await this.cmd.sendCommand(['EVAL', script, ...tail]);
    }
  }

  /**
   * Makes the state `closed` and drops the reader's connection; the command
   * and Pub/Sub connections stay for the caller's last commands (removing
   * its presence) until {@link end}.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#setState('closed');
    this.reader.destroy();
  }

  /** Ends the command and Pub/Sub connections. */
  async end(): Promise<void> {
    await Promise.all([quit(this.cmd), quit(this.sub)]);
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
   * Asks the server whether it is a Redis Cluster node. The broker's keys of
   * one room do not share a hash slot yet, so a cluster node keeps the
   * broker degraded, with a reason in the log and in publish errors, instead
   * of failing command by command with MOVED and CROSSSLOT.
   */
  async #checkTopology(): Promise<void> {
    let info: string;
    try {
      info = String(await this.call(['INFO', 'cluster'], `Redis at ${this.where} did not answer INFO within ${REPLY_TIMEOUT_MS} ms`));
    } catch (err) {
      if (this.#closed) return;
      this.#log(`redis broker: cannot tell whether ${this.where} is a Redis Cluster node (${errorText(err)}); asking again in ${BACKOFF_MAX_MS} ms`);
      setTimeout(() => {
        if (!this.#closed && this.cmd.isReady && this.#topology === 'unknown') void this.#checkTopology();
      }, BACKOFF_MAX_MS).unref();
      return;
    }
    this.#topology = /^cluster_enabled:1\b/m.test(info) ? 'cluster' : 'standalone';
    if (this.#topology === 'cluster') this.#log(`redis broker: ${clusterRefusal(this.where)}; staying degraded`);
    this.#updateState();
  }

  #updateState(): void {
    if (this.#closed) return;
    const ready = this.cmd.isReady && this.reader.isReady && this.sub.isReady && this.#topology === 'standalone';
    this.#setState(ready ? 'ready' : 'degraded');
  }

  #setState(next: BrokerState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    if (next === 'ready') this.#outageLogged = false;
    this.#onState(previous);
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
