/**
 * RedisDurability: `--redis-replicas N` for the Redis broker. A message is
 * acknowledged to its sender, and shown to anyone (live, in history, on
 * resume), only after `WAIT N` confirmed that N replicas have it.
 *
 * Publishing (this node, on a connection of its own to the room's master, a
 * {@link WaitLane}, since WAIT blocks it and counts only that connection's
 * writes on that server; on a Redis Cluster one lane per master, so each
 * shard commits its own groups):
 * 1. The message is appended as a held entry (`hold N from .. text ..`).
 *    Publishes to the same master that arrive meanwhile are appended
 *    together (group commit, per master).
 * 2. `WAIT N timeoutMs` on the same connection.
 * 3. Confirmed: a commit marker `commit <upTo>` is appended to each room
 *    touched, and the room's frontier key raised to `upTo` (the last id this
 *    node appended there), and on a Redis Cluster the room's doorbell rung;
 *    then the senders get their acks.
 *    Not confirmed (WAIT timed out): each held entry is deleted and an
 *    `abort <id>` marker appended, unless a commit already covers the id
 *    (another node's WAIT confirmed it meanwhile; replication is in order),
 *    in which case the sender is acknowledged after all. Otherwise the
 *    sender gets {@link PublishRefusedError}; the message is delivered to
 *    no one and never appears in history.
 *
 * Reading: every node's fan-out feeds each room's entries through a
 * {@link HoldQueue}, which releases held messages in stream order once a
 * commit covers them and drops aborted ones. History and the start of a new
 * subscription stop before the first held message past the frontier.
 *
 * Guarantees, with every node set to the same N (>= 1):
 * - An id a client sees (ack, delivery, history, resume) belongs to a
 *   message that N replicas had when it was shown. A failover to one of
 *   those replicas keeps it (the failover test checks this with N = 1). A commit marker written after the WAIT may be
 *   lost in that failover; the message then waits on the new primary until
 *   the next commit in its room (any publish) or the resolver (below) covers
 *   it again; it is neither lost nor shown twice.
 * - A sender that got the replica-wait error: the message is delivered to
 *   no one, anywhere, ever.
 * - A sender that got no answer, or an error saying the outcome is unknown
 *   (Redis connection lost or the node died between append and decision):
 *   the message may still be delivered later, exactly once.
 * Orphans: a held message nobody decides (its publisher died) blocks its
 * room's later messages until a commit covers it. Any publish in the room
 * does; in a quiet room, a node that has held it for `timeoutMs` +
 * {@link RESOLVE_GRACE_MS} runs the resolver: it appends a probe, WAITs on
 * it and, once confirmed, commits up to the probe. The resolver never
 * aborts, so a message that was already shown can never be taken back.
 *
 * A failed probe is retried after a pause that doubles from 1 s to 60 s.
 *
 * Failover: a reader whose connection drops forgets what it held and reads
 * it again, with the commits after it, from whichever server it reaches next
 * (a promoted replica may lack both). A publisher whose WAIT connection
 * reconnected between append and abort does not abort (the server may be
 * another one, where a commit was lost): its sender hears the outcome is
 * unknown.
 *
 * What N cannot cover: writes acknowledged by fewer than N replicas are
 * refused, so while fewer than N replicas are connected every publish fails
 * after `timeoutMs`. A failover to a replica that was not among the N that
 * confirmed (possible with more replicas than N) may lose shown messages;
 * promote the most up-to-date replica. Every node must use the same N: a
 * node with 0 neither holds entries nor hides markers. N = 0 uses none of
 * this and costs nothing.
 */
import { PublishRefusedError, compareIds } from './broker.js';
import { HoldQueue, holdEntry, idBefore } from './hold-queue.js';
import { ABORT_SCRIPT, COMMIT_SCRIPT, CONFIRMED_READ_SCRIPT, HOLD_PUBLISH_SCRIPT } from './redis-durability-scripts.js';

/**
 * A connection of its own to one master (redis-connection.ts keeps them,
 * the only file that imports the Redis client).
 */
export interface WaitLane {
  /** `host:port` of the master: publishes of rooms on one master share its lane and its group commits. */
  readonly address: string;
  /** Whether the connection is up. */
  readonly isReady: boolean;
  /** Counts its (re)connections: a WAIT from an earlier one says nothing about the server of a later one. */
  readonly epoch: number;
  /** Sends one command on this connection. */
  send(command: string[]): Promise<unknown>;
  /** Runs a Lua script on this connection. */
  script(source: string, keys: string[], args: string[]): Promise<unknown>;
}

/** Longest allowed replica wait: beyond it a publish would keep its sender waiting too long. */
export const MAX_REPLICAS_TIMEOUT_MS = 10_000;
/** Default replica wait. */
export const DEFAULT_REPLICAS_TIMEOUT_MS = 1_000;
/** Most replicas a publish may wait for. */
export const MAX_REPLICAS = 16;
/**
 * How much longer than the replica wait a held message may stay undecided
 * before a node runs the resolver for its room: time for a live publisher
 * to finish its own WAIT and commit first.
 */
export const RESOLVE_GRACE_MS = 5_000;
/** Publishes appended and WAITed on together at most. */
const MAX_GROUP = 256;
/** Longest wait for a reply to anything but WAIT (which gets its timeout on top). */
const REPLY_TIMEOUT_MS = 5_000;
/** How often held messages are checked for orphans. */
const ORPHAN_CHECK_MS = 1_000;
/**
 * Longest pause between two resolver attempts in one room; each failed
 * attempt doubles the pause from ORPHAN_CHECK_MS, so that a long replica
 * outage does not fill the stream with probes (and trim history away).
 */
const MAX_RESOLVE_PAUSE_MS = 60_000;

/** Settings of a {@link RedisDurability}. */
export interface RedisDurabilityOptions {
  /** Replicas that must confirm each message, 1 to {@link MAX_REPLICAS}. */
  replicas: number;
  /** How long WAIT waits for them, 1 to {@link MAX_REPLICAS_TIMEOUT_MS} ms. Unset: 1000. */
  timeoutMs?: number;
  /** The wait lane to the master of a room's keys now; undefined while no master serves them. */
  lane: (room: string) => WaitLane | undefined;
  /** Runs a read-only script on the broker's command connection. */
  readScript: (source: string, keys: string[], args: string[]) => Promise<unknown>;
  /** The key of a room's stream. */
  streamKey: (room: string) => string;
  /** The key of a room's commit frontier (same hash slot as its stream). */
  commitKey: (room: string) => string;
  /** On a Redis Cluster, the room's doorbell channel, rung after a commit or abort so other nodes read the marker now; undefined otherwise. */
  doorbell: (room: string) => string | undefined;
  /** MAXLEN of each stream, markers included. */
  maxLen: number;
  /** The Redis address without credentials, for errors. */
  where: string;
  /** Where failures are reported. */
  log: (line: string) => void;
}

interface PublishJob {
  kind: 'publish';
  room: string;
  from: string;
  text: string;
  resolve: (id: string) => void;
  reject: (err: Error) => void;
}

interface ResolveJob {
  kind: 'resolve';
  room: string;
}

/** The publishes and resolver runs waiting for one master's lane. */
interface LaneQueue {
  lane: WaitLane;
  jobs: (PublishJob | ResolveJob)[];
  running: boolean;
}

/** A confirmed-read reply: the first undecided id (or null) and the entries. */
export type ConfirmedRange = [cut: string | null, entries: unknown];

/** RedisDurability holds the publishing and reading rules of `--redis-replicas` for one broker. */
export class RedisDurability {
  readonly #replicas: number;
  readonly #timeoutMs: number;
  readonly #options: RedisDurabilityOptions;
  readonly #queues = new Map<string, HoldQueue<unknown>>();
  /** Jobs by master address: each master's lane runs one group at a time. */
  readonly #laneQueues = new Map<string, LaneQueue>();
  readonly #resolving = new Set<string>();
  /** Per room with a failed resolver attempt: when the next may run, and the pause after it. */
  readonly #resolvePause = new Map<string, { at: number; pauseMs: number }>();
  readonly #orphanTimer: NodeJS.Timeout;
  #closed = false;
  #waitTimeouts = 0;

  /** Checks the settings and starts the orphan checks; the lanes belong to the caller. */
  constructor(options: RedisDurabilityOptions) {
    this.#replicas = checkReplicas(options.replicas);
    if (this.#replicas === 0) throw new RangeError('replicas must be at least 1 for RedisDurability; 0 needs none of it');
    this.#timeoutMs = checkReplicasTimeout(options.timeoutMs ?? DEFAULT_REPLICAS_TIMEOUT_MS);
    this.#options = options;
    this.#orphanTimer = setInterval(() => this.#findOrphans(), ORPHAN_CHECK_MS);
    this.#orphanTimer.unref();
  }

  /** WAITs that returned fewer replicas than required, since start. */
  get waitTimeouts(): number {
    return this.#waitTimeouts;
  }

  /**
   * publish appends a held message and resolves with its id once N
   * replicas have it and it is committed. Rejects with
   * {@link PublishRefusedError} when the replicas did not confirm it in
   * time (it was discarded), or with an Error when the outcome is unknown.
   */
  publish(room: string, from: string, text: string): Promise<string> {
    if (this.#closed) return Promise.reject(new Error('the Redis broker is closed'));
    return new Promise((resolve, reject) => {
      const job: PublishJob = { kind: 'publish', room, from, text, resolve, reject };
      if (!this.#enqueue(job)) reject(new Error(`no Redis master serves room "${room}" now (${this.#options.where}); the message was not stored`));
    });
  }

  /**
   * accept feeds one entry the fan-out read from `room` and returns the
   * messages it releases, in order. `message` is what the entry delivers if
   * it is a message.
   */
  accept<T>(room: string, id: string, fields: readonly unknown[], message: T): T[] {
    let queue = this.#queues.get(room);
    if (!queue) this.#queues.set(room, (queue = new HoldQueue()));
    return (queue as HoldQueue<T>).accept(holdEntry(id, fields, message), Date.now());
  }

  /**
   * listenFrom lowers `after` (where a new listener of `room` starts) to
   * just before the first message this node still holds, so the listener
   * gets it once it is released.
   */
  listenFrom(room: string, after: string): string {
    const first = this.#queues.get(room)?.firstWaiting;
    if (first === undefined) return after;
    const before = idBefore(first);
    return compareIds(before, after) < 0 ? before : after;
  }

  /**
   * rewind forgets what this node holds for `room` and returns where its
   * reader must read again from (just before the first message it held), or
   * undefined when it held none. Called when the reader lost its connection:
   * the next server may be a promoted replica without those messages, or
   * without the commits seen so far, so both are read again from it.
   */
  rewind(room: string): string | undefined {
    const first = this.#queues.get(room)?.firstWaiting;
    this.#queues.delete(room);
    return first === undefined ? undefined : idBefore(first);
  }

  /** forget drops the hold queue of a room this node no longer reads. */
  forget(room: string): void {
    this.#queues.delete(room);
    this.#resolvePause.delete(room);
  }

  /** startId returns where a new reader of `room` starts: before its first undecided message. */
  async startId(room: string): Promise<string> {
    const reply = (await this.#options.readScript(CONFIRMED_READ_SCRIPT, this.#keys(room), ['top', '', '0'])) as [unknown, unknown];
    this.#noticeStale(room, reply[1]);
    return String(reply[0]);
  }

  /**
   * range reads confirmed messages of `room`: with `since`, the first
   * `limit` after it, oldest first; without, the last `limit`, newest first.
   * Resolves with the raw entries, as XRANGE or XREVRANGE would.
   */
  async range(room: string, since: string | undefined, limit: number): Promise<unknown> {
    const args = since === undefined ? ['last', '', String(limit)] : ['since', since, String(limit)];
    const [cut, entries] = (await this.#options.readScript(CONFIRMED_READ_SCRIPT, this.#keys(room), args)) as ConfirmedRange;
    this.#noticeStale(room, cut);
    return entries;
  }

  /** Stops the orphan checks; pending publishes fail. The caller closes the lanes afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#orphanTimer);
    for (const queue of this.#laneQueues.values()) {
      for (const job of queue.jobs.splice(0)) if (job.kind === 'publish') job.reject(new Error('the Redis broker closed before the message was confirmed'));
    }
  }

  // --- the publishing loops: one group at a time on each master's lane -----

  /** Queues a job on the lane of its room's master; false when no master serves the room. */
  #enqueue(job: PublishJob | ResolveJob): boolean {
    const lane = this.#options.lane(job.room);
    if (!lane) return false;
    let queue = this.#laneQueues.get(lane.address);
    if (!queue) this.#laneQueues.set(lane.address, (queue = { lane, jobs: [], running: false }));
    queue.lane = lane;
    queue.jobs.push(job);
    void this.#run(queue);
    return true;
  }

  async #run(queue: LaneQueue): Promise<void> {
    if (queue.running) return;
    queue.running = true;
    try {
      while (queue.jobs.length > 0 && !this.#closed) {
        const group = queue.jobs.splice(0, MAX_GROUP);
        const publishes = group.filter((job): job is PublishJob => job.kind === 'publish');
        if (publishes.length > 0) await this.#publishGroup(queue.lane, publishes);
        for (const job of group) if (job.kind === 'resolve') await this.#resolve(queue.lane, job.room);
      }
    } finally {
      queue.running = false;
    }
  }

  async #publishGroup(lane: WaitLane, jobs: PublishJob[]): Promise<void> {
    const where = lane.address;
    if (!lane.isReady) {
      for (const job of jobs) job.reject(new Error(`Redis at ${where} is unreachable (replica-wait connection); the message was not stored`));
      return;
    }
    const epoch = lane.epoch;
    const maxLen = String(this.#options.maxLen);
    // 1. Append every message of the group (pipelined on the one connection).
    const appended = await Promise.allSettled(jobs.map((job) => this.#call(
      lane.script(HOLD_PUBLISH_SCRIPT, [this.#options.streamKey(job.room)], [maxLen, job.from, job.text, String(this.#replicas)]),
      `Redis at ${where} did not answer within ${REPLY_TIMEOUT_MS} ms; the message may or may not be stored`,
    )));
    const held: { job: PublishJob; id: string }[] = [];
    appended.forEach((result, i) => {
      if (result.status === 'fulfilled') held.push({ job: jobs[i]!, id: String(result.value) });
      else jobs[i]!.reject(asError(result.reason));
    });
    if (held.length === 0) return;
    // 2. WAIT for the replicas: it covers every write of this connection so far.
    let acked: number;
    try {
      acked = Number(await this.#call(lane.send(['WAIT', String(this.#replicas), String(this.#timeoutMs)]), `Redis at ${where} did not answer WAIT within ${this.#timeoutMs + REPLY_TIMEOUT_MS} ms`, this.#timeoutMs));
    } catch (err) {
      const reason = `${errorText(err)}; the message may or may not be delivered`;
      for (const { job } of held) job.reject(new Error(reason, { cause: err }));
      return;
    }
    // 3. Commit or abort.
    if (acked >= this.#replicas) await this.#commit(lane, held);
    else await this.#abort(lane, held, acked, epoch);
  }

  async #commit(lane: WaitLane, held: { job: PublishJob; id: string }[]): Promise<void> {
    for (const [room, entries] of byRoom(held)) {
      const ids = entries.map((entry) => entry.id);
      let missing: Set<string>;
      try {
        const reply = await this.#call(
          lane.script(COMMIT_SCRIPT, this.#keys(room), [String(this.#options.maxLen), ids.at(-1)!, ...ids]),
          `Redis at ${lane.address} did not answer a commit within ${REPLY_TIMEOUT_MS} ms`,
        );
        this.#ring(lane, room, ids.at(-1)!);
        missing = new Set((reply as unknown[]).map(String));
      } catch (err) {
        const reason = `${errorText(err)}; the replicas have the message, and it is delivered once any later message of the room is`;
        for (const { job } of entries) job.reject(new Error(reason, { cause: err }));
        continue;
      }
      for (const { job, id } of entries) {
        if (missing.has(id)) job.reject(new Error(`message ${id} vanished from the stream before it was committed (trimmed, or Redis lost it); it was not delivered`));
        else job.resolve(id);
      }
    }
  }

  async #abort(lane: WaitLane, held: { job: PublishJob; id: string }[], acked: number, epoch: number): Promise<void> {
    this.#waitTimeouts++;
    const refusal = `only ${acked} of ${this.#replicas} Redis replicas confirmed it within ${this.#timeoutMs} ms (replica wait timed out); it was discarded and delivered to no one`;
    this.#options.log(`redis durability: ${refusal.replace('it', `${held.length} message(s)`)}`);
    for (const { job, id } of held) {
      // A reconnection since the append may have reached another server: deleting there could take back a message shown.
      if (epoch !== lane.epoch) {
        job.reject(new Error(`Redis at ${lane.address} reconnected during the replica wait; the message may or may not be delivered`));
        continue;
      }
      let outcome: string;
      try {
        outcome = String(await this.#call(
          lane.script(ABORT_SCRIPT, this.#keys(job.room), [String(this.#options.maxLen), id]),
          `Redis at ${lane.address} did not answer an abort within ${REPLY_TIMEOUT_MS} ms; the message may or may not be delivered`,
        ));
      } catch (err) {
        job.reject(asError(err));
        continue;
      }
      if (outcome === 'aborted') this.#ring(lane, job.room, id);
      if (outcome === 'committed') job.resolve(id);
      else job.reject(new PublishRefusedError(refusal));
    }
  }

  /** On a Redis Cluster, rings the room's doorbell (SPUBLISH on its master) so other nodes read the new marker now, not at their next safety read. */
  #ring(lane: WaitLane, room: string, id: string): void {
    const channel = this.#options.doorbell(room);
    if (channel !== undefined) lane.send(['SPUBLISH', channel, id]).catch(() => undefined);
  }

  // --- orphans -----------------------------------------------------------------

  /** Queues the resolver for every room with a held message older than the replica wait plus the grace. */
  #findOrphans(): void {
    const limit = Date.now() - this.#timeoutMs - RESOLVE_GRACE_MS;
    for (const [room, queue] of this.#queues) {
      const at = queue.oldestHeldAt;
      if (at !== undefined && at < limit) this.#queueResolve(room);
    }
  }

  /** A history read found an undecided message older than the grace (by its id's clock): resolve its room. */
  #noticeStale(room: string, cut: unknown): void {
    if (typeof cut !== 'string' || cut === '') return;
    if (Number(cut.split('-')[0]) < Date.now() - this.#timeoutMs - RESOLVE_GRACE_MS) this.#queueResolve(room);
  }

  #queueResolve(room: string): void {
    if (this.#closed || this.#resolving.has(room)) return;
    if ((this.#resolvePause.get(room)?.at ?? 0) > Date.now()) return;
    this.#resolving.add(room);
    if (!this.#enqueue({ kind: 'resolve', room })) this.#resolving.delete(room);
  }

  /**
   * The resolver: append a probe, WAIT, and when the replicas have it commit
   * up to the probe, which covers every earlier entry of the room (in-order
   * replication). When they do not, it tries again at the next check.
   */
  async #resolve(lane: WaitLane, room: string): Promise<void> {
    let resolved = false;
    try {
      if (!lane.isReady) return;
      const maxLen = String(this.#options.maxLen);
      const probe = String(await this.#call(
        lane.send(['XADD', this.#options.streamKey(room), 'MAXLEN', '=', maxLen, '*', 'probe', '1']),
        `no answer to a probe within ${REPLY_TIMEOUT_MS} ms`,
      ));
      const acked = Number(await this.#call(lane.send(['WAIT', String(this.#replicas), String(this.#timeoutMs)]), 'no answer to WAIT', this.#timeoutMs));
      if (acked < this.#replicas) {
        this.#waitTimeouts++;
        this.#options.log(`redis durability: room "${room}" has an undecided message, and only ${acked} of ${this.#replicas} replicas confirmed a probe; trying again`);
        return;
      }
      await this.#call(lane.script(COMMIT_SCRIPT, this.#keys(room), [maxLen, probe]), `no answer to a commit within ${REPLY_TIMEOUT_MS} ms`);
      this.#ring(lane, room, probe);
      this.#options.log(`redis durability: committed the undecided messages of room "${room}" up to ${probe} (their publisher never did)`);
      resolved = true;
    } catch (err) {
      this.#options.log(`redis durability: cannot resolve the undecided messages of room "${room}": ${errorText(err)}`);
    } finally {
      this.#resolving.delete(room);
      if (resolved) {
        this.#resolvePause.delete(room);
      } else {
        const pauseMs = Math.min(2 * (this.#resolvePause.get(room)?.pauseMs ?? ORPHAN_CHECK_MS / 2), MAX_RESOLVE_PAUSE_MS);
        this.#resolvePause.set(room, { at: Date.now() + pauseMs, pauseMs });
      }
    }
  }

  #keys(room: string): string[] {
    return [this.#options.streamKey(room), this.#options.commitKey(room)];
  }

  /** Rejects with `message` when `promise` has no answer within the reply timeout (plus `extraMs`). */
  #call<T>(promise: Promise<T>, message: string, extraMs = 0): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), REPLY_TIMEOUT_MS + extraMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}

/**
 * checkReplicas returns `value` when it is a whole number from 0 to
 * {@link MAX_REPLICAS}; throws RangeError naming the option otherwise.
 */
export function checkReplicas(value: number, name = 'replicas'): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_REPLICAS) {
    throw new RangeError(`Invalid ${name} ${value}: use a whole number of replicas from 0 to ${MAX_REPLICAS}`);
  }
  return value;
}

/**
 * checkReplicasTimeout returns `value` when it is whole milliseconds from 1
 * to {@link MAX_REPLICAS_TIMEOUT_MS}; throws RangeError naming the option otherwise.
 */
export function checkReplicasTimeout(value: number, name = 'replicasTimeoutMs'): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_REPLICAS_TIMEOUT_MS) {
    throw new RangeError(`Invalid ${name} ${value}: use whole milliseconds from 1 to ${MAX_REPLICAS_TIMEOUT_MS}`);
  }
  return value;
}

function byRoom<E extends { job: PublishJob }>(entries: E[]): Map<string, E[]> {
  const rooms = new Map<string, E[]>();
  for (const entry of entries) {
    const list = rooms.get(entry.job.room);
    if (list) list.push(entry);
    else rooms.set(entry.job.room, [entry]);
  }
  return rooms;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
