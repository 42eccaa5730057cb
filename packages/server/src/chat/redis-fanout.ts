/**
 * FanoutReader: the Redis broker's fan-out. Blocking `XREAD`s over every
 * subscribed room from the last id this node delivered, so each node sees
 * each message once and in stream order, and after a reconnect resumes
 * exactly where it stopped. The publishing node receives its own messages
 * the same way, so every node shows one order.
 *
 * On a standalone Redis, one loop runs a blocking `XREAD` over all the
 * node's rooms on its own connection.
 *
 * On a Redis Cluster a multi-key command must stay within one hash slot, so
 * one blocking `XREAD` cannot wait on rooms of different slots. There is one
 * loop per master (shard), with its own connection to it, reading the rooms
 * whose slot that master serves; instead of blocking it waits for doorbells:
 * the publish script `SPUBLISH`es each new id on the room's sharded channel
 * (in the room's slot), the node subscribes to the doorbells of its rooms,
 * and a ring marks the room due. The loop then sends one non-blocking `XREAD`
 * per slot of the due rooms, pipelined on its connection, and delivers all
 * the replies in one synchronous pass. A ring lost with a dropped Pub/Sub
 * connection costs a delay, not a message: every {@link SAFETY_READ_MS} a
 * loop reads all its rooms. When the slot map changes (resharding,
 * failover) the rooms are grouped again; a room read by two loops for a
 * moment is still delivered once, since each entry must be newer than the
 * room's last delivered id.
 *
 * Each entry records the id before it, so a node so overloaded that entries
 * were trimmed before it read them logs the gap (and counts it in `gaps`)
 * instead of skipping it silently.
 *
 * Batching: after a read that found messages a loop waits `batchWaitMs`
 * before its next XREAD, so under load one read takes every message that
 * arrived meanwhile and hands them to the listeners in one synchronous pass;
 * the library writes a connection's first frame of a tick at once and the
 * rest of the tick's together, so a connection gets the batch in at most two
 * writes instead of one write per message. A read that found
 * nothing is never followed by a wait, so an idle node delivers a message as
 * soon as Redis has it.
 *
 * Held messages (`--redis-replicas`, the optional `hold` hooks of
 * {@link FanoutLink}): every entry read passes through `accept`, which
 * returns the messages it releases; when a shard's reader lost its
 * connection, or a room moved to another master (a failover), the room is
 * read again from before its first held message (`rewind`), since the
 * server now answering may lack what was held or the commits seen so far.
 *
 * Lag: each room keeps the newest id this node knows of (from its own
 * publishes and from reads) beside the last id it delivered; the difference
 * of their millisecond parts is the room's fan-out lag.
 */
import { compareIds } from './broker.js';
import type { ChatMessage, MessageListener, ReadStats } from './broker.js';
import { errorText, type RedisClient } from './redis-connection.js';
import { entryMessage, fieldValue, parseEntries } from './redis-entries.js';

/** Entries taken per room per XREAD. */
const READ_COUNT = 1_000;
/** Longest blocking XREAD; subscribing interrupts it sooner with CLIENT UNBLOCK. */
const READ_BLOCK_MS = 5_000;
/** Pause before retrying a failed XREAD when no reconnect event arrives. */
const READ_RETRY_MS = 250;
/** On a Redis Cluster, how often a loop reads all its rooms even without a doorbell. */
export const SAFETY_READ_MS = 1_000;

/** What {@link FanoutReader} needs from the broker. */
export interface FanoutLink {
  /** The shard (`host:port` of its master) that serves a stream key; undefined when none does. */
  shardOf(key: string): string | undefined;
  /** The blocking-read connection to a shard's master (used for nothing else); undefined when it is no master now. */
  reader(shard: string): RedisClient | undefined;
  /** Whether the broker is ready (Redis reachable and usable). */
  ready(): boolean;
  /** The hash slot of a key when Redis is a cluster (reads are then per slot, on doorbells); undefined on a standalone Redis. */
  slotOf(key: string): number | undefined;
  /** Subscribes to a room's doorbell (cluster only); resolves with the function that unsubscribes. */
  doorbell(room: string, ring: () => void): Promise<() => void>;
  /** Sends `CLIENT UNBLOCK <id>` to a shard's master on another connection; resolves with Redis's answer. */
  unblock(shard: string, id: string): Promise<unknown>;
  /** The stream key of a room. */
  streamKey(room: string): string;
  /** The room of a stream key. */
  roomOf(key: string): string;
  /** Entries a room's stream keeps; a reader that falls further behind loses messages. */
  streamLength: number;
  /** Wait after a read that found messages, in ms; 0: none. */
  batchWaitMs: number;
  /** Where gaps and listener failures are reported. */
  log(line: string): void;
  /** This node's id, for the log. */
  nodeId: string;
  /** Messages held until committed (`--redis-replicas`); unset: every message is delivered as read. */
  hold?: FanoutHold;
}

/** How a fan-out holds messages back until a commit covers them (redis-durability.ts). */
export interface FanoutHold {
  /** Takes one entry read from `room` (`message` is what it delivers if it is a message); returns the messages it releases, in order. */
  accept(room: string, id: string, fields: unknown[], message: ChatMessage): ChatMessage[];
  /** Where a new listener of `room` starts: `after`, or earlier to also get a message still held. */
  listenFrom(room: string, after: string): string;
  /** Forgets what is held in `room` and returns where to read again from; undefined when nothing was held. */
  rewind(room: string): string | undefined;
  /** The node stopped reading `room`. */
  forget(room: string): void;
}

interface RoomStream {
  /** Last id delivered to this node's listeners. */
  lastId: string;
  /** Whether lastId is a real stream id (not a clock stand-in), so gaps can be detected. */
  exact: boolean;
  /** Each listener with the id after which it receives messages. */
  listeners: Map<MessageListener, string>;
  /** The newest id this node knows of in the room; ahead of lastId while delivery lags. */
  newest: string;
  /** The shard the room is read from; undefined while no master serves its slot. */
  shard: string | undefined;
  /** Ends the doorbell subscription (cluster only). */
  unring: (() => void) | undefined;
}

/** The read loop of one shard. */
interface ShardLoop {
  readonly shard: string;
  /** The connection its CLIENT ID was asked on. */
  client: RedisClient | undefined;
  readerId: string | undefined;
  /** Raised whenever the shard's set of rooms changes. */
  version: number;
  /** The version its current XREAD was sent with; -1 while not reading. */
  readingVersion: number;
  wake: (() => void) | undefined;
  /** Cluster: rooms whose doorbell rang since their last read. */
  due: Set<string>;
  /** Cluster: read every room at the next round (started, reconnected, regrouped, or the safety read). */
  all: boolean;
  /** Cluster: waiting for a doorbell, so a ring wakes it (a ring during the batch wait does not). */
  idle: boolean;
  /** A read failed or the connection was down: rewind its rooms' held messages before the next read. */
  broken: boolean;
}

/** The fan-out of one node: reads every subscribed room's stream and calls the room's listeners. */
export class FanoutReader {
  readonly #link: FanoutLink;
  readonly #streams = new Map<string, RoomStream>();
  readonly #loops = new Map<string, ShardLoop>();
  readonly #running = new Set<Promise<void>>();
  #lost = 0;
  #batches = 0;
  #batchEntries = 0;
  #closed = false;

  /** Idles until a room is added and its shard's connection is ready. */
  constructor(link: FanoutLink) {
    this.#link = link;
  }

  /** Times this node found messages trimmed before it could deliver them; 0 normally. */
  get gaps(): number {
    return this.#lost;
  }

  /** Rooms being read. */
  get rooms(): number {
    return this.#streams.size;
  }

  /** The reads' counts and the largest lag of a room, for `/metrics`. */
  readStats(): ReadStats {
    return { batches: this.#batches, messages: this.#batchEntries, lagMs: this.lagMs() };
  }

  /** The largest fan-out lag of a room in ms: the newest id known minus the last delivered, by their time parts. */
  lagMs(): number {
    let lag = 0;
    for (const stream of this.#streams.values()) {
      if (stream.newest === stream.lastId) continue;
      lag = Math.max(lag, idMs(stream.newest) - idMs(stream.lastId));
    }
    return lag;
  }

  /** The last id delivered in `room`, if it is read. */
  lastId(room: string): string | undefined {
    return this.#streams.get(room)?.lastId;
  }

  /** Notes that `room` has a message `id` (this node published it), for the lag. */
  seen(room: string, id: string): void {
    const stream = this.#streams.get(room);
    if (stream && compareIds(id, stream.newest) > 0) stream.newest = id;
  }

  /**
   * Adds `listener` to `room`; it gets the messages after `top` (the
   * stream's top, or a clock stand-in when `exact` is false). Returns the
   * function that removes it.
   */
  add(room: string, listener: MessageListener, top: string, exact: boolean): () => void {
    let stream = this.#streams.get(room);
    if (!stream) {
      stream = { lastId: top, exact, listeners: new Map(), newest: top, shard: this.#link.shardOf(this.#link.streamKey(room)), unring: undefined };
      this.#streams.set(room, stream);
      this.#listen(room, stream);
      if (stream.shard !== undefined) this.#changed(stream.shard);
    }
    const after = compareIds(top, stream.lastId) > 0 ? top : stream.lastId;
    stream.listeners.set(listener, this.#link.hold ? this.#link.hold.listenFrom(room, after) : after);
    return () => {
      const current = this.#streams.get(room);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      // The blocked XREAD may still name this room; its entries are then ignored.
      this.#streams.delete(room);
      this.#link.hold?.forget(room);
      current.unring?.();
      const loop = current.shard === undefined ? undefined : this.#loops.get(current.shard);
      if (loop) loop.version++;
    };
  }

  /** Groups the rooms by shard again (the slot map changed) and restarts every read with its new rooms. */
  regroup(): void {
    const shards = new Set<string>();
    for (const [room, stream] of this.#streams) {
      const shard = this.#link.shardOf(this.#link.streamKey(room));
      if (shard !== stream.shard) {
        // The room's slot moved: subscribe to its doorbell again, on its new master.
        stream.unring?.();
        stream.unring = undefined;
        this.#rewind(room, stream);
      }
      stream.shard = shard;
      if (shard !== undefined) shards.add(shard);
      this.#listen(room, stream);
    }
    for (const shard of new Set([...shards, ...this.#loops.keys()])) this.#changed(shard);
  }

  /** Wakes every loop at once (after a reconnect). */
  wake(): void {
    for (const loop of this.#loops.values()) loop.wake?.();
  }

  /** Stops the loops; resolves once they have ended. The caller destroys the readers' connections first. */
  async close(): Promise<void> {
    this.#closed = true;
    this.wake();
    this.#streams.clear();
    await Promise.all(this.#running);
  }

  /** The rooms of `shard` changed: start its loop, or make the running one read again. */
  #changed(shard: string): void {
    let loop = this.#loops.get(shard);
    if (!loop) {
      loop = { shard, client: undefined, readerId: undefined, version: 0, readingVersion: -1, wake: undefined, due: new Set(), all: true, idle: false, broken: false };
      this.#loops.set(shard, loop);
      const running = this.#run(loop);
      this.#running.add(running);
      void running.finally(() => this.#running.delete(running));
      return;
    }
    loop.version++;
    loop.all = true;
    this.#interrupt(loop);
  }

  /** On a Redis Cluster, subscribes to the room's doorbell (once). */
  #listen(room: string, stream: RoomStream): void {
    if (stream.unring || this.#link.slotOf(this.#link.streamKey(room)) === undefined) return;
    stream.unring = () => {};
    this.#link.doorbell(room, () => this.#ring(room)).then(
      (stop) => {
        if (this.#streams.get(room) !== stream) return stop();
        stream.unring = stop;
        // A message added between the room's first read and this subscription rang no bell here.
        this.#ring(room);
      },
      (err: unknown) => {
        stream.unring = undefined;
        this.#link.log(`redis broker: cannot subscribe to the doorbell of room "${room}" (${errorText(err)}); it is read every ${SAFETY_READ_MS} ms until the slot map changes`);
      },
    );
  }

  /** A room's doorbell rang: a message was added; its loop reads it now. */
  #ring(room: string): void {
    const shard = this.#streams.get(room)?.shard;
    const loop = shard === undefined ? undefined : this.#loops.get(shard);
    if (!loop) return;
    loop.due.add(room);
    if (loop.idle) loop.wake?.();
  }

  async #run(loop: ShardLoop): Promise<void> {
    const link = this.#link;
    while (!this.#closed) {
      const client = link.reader(loop.shard);
      if (!client) {
        // No longer a master: its rooms moved (regroup started their new loops).
        this.#loops.delete(loop.shard);
        return;
      }
      const rooms: string[] = [];
      const ids: string[] = [];
      for (const [room, stream] of this.#streams) {
        if (stream.shard !== loop.shard) continue;
        rooms.push(link.streamKey(room));
        ids.push(stream.lastId);
      }
      if (rooms.length === 0 || !client.isReady) {
        if (!client.isReady) loop.broken = true;
        await this.#sleep(loop, READ_RETRY_MS * 4);
        continue;
      }
      if (loop.broken || (loop.client !== undefined && loop.client !== client)) {
        // Then read with the rewound ids.
        this.#rewindShard(loop, client);
        continue;
      }
      if (link.slotOf(rooms[0]!) !== undefined) {
        await this.#readSlots(loop, client);
        continue;
      }
      try {
        if (loop.client !== client) loop.readerId = undefined;
        loop.client = client;
        loop.readerId ??= String(await client.sendCommand(['CLIENT', 'ID']));
        loop.readingVersion = loop.version;
        const reply = await client.sendCommand([
          'XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(READ_BLOCK_MS),
          'STREAMS', ...rooms, ...ids,
        ]);
        loop.readingVersion = -1;
        const delivered = this.#deliver(reply);
        // Busy: let the next messages gather so one read takes them all.
        if (delivered > 0 && link.batchWaitMs > 0) await this.#sleep(loop, link.batchWaitMs);
      } catch {
        loop.readingVersion = -1;
        if (this.#closed) break;
        // Disconnected, or MOVED while the cluster reshards: the next slot map regroups the rooms.
        loop.readerId = undefined;
        loop.broken = true;
        await this.#sleep(loop, READ_RETRY_MS);
      }
    }
  }

  /**
   * One round of a cluster loop: waits for a doorbell (at most
   * SAFETY_READ_MS, then reads every room), sends one non-blocking XREAD per
   * slot of the due rooms, pipelined, and delivers the replies in one pass.
   */
  async #readSlots(loop: ShardLoop, client: RedisClient): Promise<void> {
    const link = this.#link;
    if (!loop.all && loop.due.size === 0) {
      loop.idle = true;
      const woken = await this.#sleep(loop, SAFETY_READ_MS);
      loop.idle = false;
      if (!woken) loop.all = true;
      return;
    }
    loop.client = client;
    const bySlot = new Map<number, [keys: string[], ids: string[]]>();
    for (const [room, stream] of this.#streams) {
      if (stream.shard !== loop.shard || !(loop.all || loop.due.has(room))) continue;
      const key = link.streamKey(room);
      const slot = link.slotOf(key)!;
      let group = bySlot.get(slot);
      if (!group) bySlot.set(slot, (group = [[], []]));
      group[0].push(key);
      group[1].push(stream.lastId);
    }
    loop.all = false;
    loop.due.clear();
    try {
      const replies = await Promise.all([...bySlot.values()].map(([keys, ids]) =>
        client.sendCommand(['XREAD', 'COUNT', String(READ_COUNT), 'STREAMS', ...keys, ...ids])));
      let delivered = 0;
      for (const reply of replies) delivered += this.#deliver(reply, loop);
      this.#count(delivered);
      if (delivered > 0 && link.batchWaitMs > 0) await this.#sleep(loop, link.batchWaitMs);
    } catch {
      if (this.#closed) return;
      // Disconnected, or MOVED while the cluster reshards: read everything again once the slot map regroups the rooms.
      loop.all = true;
      loop.broken = true;
      await this.#sleep(loop, READ_RETRY_MS);
    }
  }

  /**
   * Hands every entry of one XREAD reply to the listeners in one synchronous
   * pass: the library sends a connection the first frame of a tick at once
   * and the rest together, so it gets the batch in at most two writes.
   * Returns the entries read.
   */
  #deliver(reply: unknown, loop?: ShardLoop): number {
    if (!Array.isArray(reply)) return 0;
    let count = 0;
    for (const [key, entries] of reply as [string, unknown][]) {
      const room = this.#link.roomOf(String(key));
      const parsed = parseEntries(entries);
      // A full reply may leave more behind: read the room again at once.
      if (loop && parsed.length >= READ_COUNT) loop.due.add(room);
      for (const [id, fields] of parsed) {
        count++;
        const stream = this.#streams.get(room);
        if (!stream || compareIds(id, stream.lastId) <= 0) continue;
        const prev = fieldValue(fields, 'prev');
        if (stream.exact && prev !== undefined && compareIds(prev, stream.lastId) > 0) this.#reportGap(room, stream.lastId, prev);
        stream.lastId = id;
        stream.exact = true;
        if (compareIds(id, stream.newest) > 0) stream.newest = id;
        const message = entryMessage(room, id, fields);
        if (!this.#link.hold) this.#toListeners(stream, message);
        else for (const released of this.#link.hold.accept(room, id, fields, message)) this.#toListeners(stream, released);
      }
    }
    if (!loop) this.#count(count);
    return count;
  }

  #toListeners(stream: RoomStream, message: ChatMessage): void {
    for (const [listener, after] of stream.listeners) {
      if (compareIds(message.id, after) <= 0) continue;
      try {
        listener(message);
      } catch (err) {
        this.#link.log(`redis broker: message listener of room "${message.room}" threw: ${errorText(err)}`);
      }
    }
  }

  /** The shard's reader came back (or is another connection, `client`): its rooms' held messages are read again. */
  #rewindShard(loop: ShardLoop, client: RedisClient): void {
    loop.broken = false;
    loop.all = true;
    if (loop.client !== client) {
      loop.client = client;
      loop.readerId = undefined;
    }
    for (const [room, stream] of this.#streams) if (stream.shard === loop.shard) this.#rewind(room, stream);
  }

  /** Reads `room` again from before its first held message (nothing without held messages). */
  #rewind(room: string, stream: RoomStream): void {
    const from = this.#link.hold?.rewind(room);
    if (from !== undefined && compareIds(from, stream.lastId) < 0) stream.lastId = from;
  }

  /** Counts one read (a standalone XREAD, or a cluster round of pipelined XREADs) that delivered `count` entries. */
  #count(count: number): void {
    if (count === 0) return;
    this.#batches++;
    this.#batchEntries += count;
  }

  /**
   * This node read too slowly: Redis trimmed messages of `room` (after
   * `after`, up to `upTo`) before it read them. They cannot be delivered any
   * more, so say so loudly instead of dropping them silently.
   */
  #reportGap(room: string, after: string, upTo: string): void {
    this.#lost++;
    this.#link.log(`redis broker: node ${this.#link.nodeId} fell more than ${this.#link.streamLength} messages behind in room "${room}"; messages after ${after} up to ${upTo} were trimmed before delivery (${this.#lost} gaps so far)`);
  }

  /** Make a loop pick up its changed set of rooms now instead of after its BLOCK timeout. */
  #interrupt(loop: ShardLoop): void {
    loop.wake?.();
    void (async () => {
      // CLIENT UNBLOCK can overtake an XREAD still on its way; retry a few times.
      for (let attempt = 0; attempt < 20; attempt++) {
        if (loop.readingVersion < 0 || loop.readingVersion === loop.version) return;
        const id = loop.readerId;
        if (id === undefined || !this.#link.ready()) return;
        const unblocked = await this.#link.unblock(loop.shard, id).catch(() => 0);
        if (Number(unblocked) === 1) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
  }

  /** Sleeps `ms`, or until the loop is woken; resolves true when woken. */
  #sleep(loop: ShardLoop, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      loop.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

/** The time part of an id, in ms. */
function idMs(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}
