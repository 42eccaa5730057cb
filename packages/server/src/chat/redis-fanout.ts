/**
 * FanoutReader: the Redis broker's fan-out. One dedicated connection runs a
 * blocking `XREAD` over every subscribed room from the last id this node
 * delivered, so each node sees each message once and in stream order, and
 * after a reconnect resumes exactly where it stopped. The publishing node
 * receives its own messages the same way, so every node shows one order.
 *
 * Each entry records the id before it, so a node so overloaded that entries
 * were trimmed before it read them logs the gap (and counts it in `gaps`)
 * instead of skipping it silently.
 *
 * Batching: after a read that found messages the reader waits
 * `batchWaitMs` before the next XREAD, so under load one read takes every
 * message that arrived meanwhile and hands them to the listeners in one
 * synchronous pass; the library corks each socket until the tick ends, so a
 * connection gets the batch in one write instead of one write per message.
 * A read that found nothing is never followed by a wait, so an idle node
 * delivers a message as soon as Redis has it.
 */
import { compareIds } from './broker.js';
import type { MessageListener, ReadStats } from './broker.js';
import { errorText, type RedisClient } from './redis-connection.js';
import { entryMessage, fieldValue, parseEntries } from './redis-entries.js';

/** Entries taken per room per XREAD. */
const READ_COUNT = 1_000;
/** Longest blocking XREAD; subscribing interrupts it sooner with CLIENT UNBLOCK. */
const READ_BLOCK_MS = 5_000;
/** Pause before retrying a failed XREAD when no reconnect event arrives. */
const READ_RETRY_MS = 250;

/** What {@link FanoutReader} needs from the broker. */
export interface FanoutLink {
  /** The connection the blocking reads run on (used for nothing else). */
  reader: RedisClient;
  /** Whether the broker is ready (Redis reachable and usable). */
  ready(): boolean;
  /** Sends `CLIENT UNBLOCK <id>` on another connection to the reader's server; resolves with Redis's answer. */
  unblock(id: string): Promise<unknown>;
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
}

interface RoomStream {
  /** Last id delivered to this node's listeners. */
  lastId: string;
  /** Whether lastId is a real stream id (not a clock stand-in), so gaps can be detected. */
  exact: boolean;
  /** Each listener with the id after which it receives messages. */
  listeners: Map<MessageListener, string>;
}

/** The fan-out of one node: reads every subscribed room's stream and calls the room's listeners. */
export class FanoutReader {
  readonly #link: FanoutLink;
  readonly #streams = new Map<string, RoomStream>();
  #lost = 0;
  #batches = 0;
  #batchEntries = 0;
  #closed = false;
  #roomsVersion = 0;
  #readingVersion = -1;
  #reading = false;
  #readerId: string | undefined;
  #wakeReader: (() => void) | undefined;
  readonly #loop: Promise<void>;

  /** Starts the read loop; it idles until a room is added and the broker is ready. */
  constructor(link: FanoutLink) {
    this.#link = link;
    link.reader.on('reconnecting', () => {
      this.#readerId = undefined;
    });
    this.#loop = this.#run();
  }

  /** Times this node found messages trimmed before it could deliver them; 0 normally. */
  get gaps(): number {
    return this.#lost;
  }

  /** Rooms being read. */
  get rooms(): number {
    return this.#streams.size;
  }

  /** The reads' counts, for `/metrics`. */
  readStats(): ReadStats {
    return { batches: this.#batches, messages: this.#batchEntries };
  }

  /** The last id delivered in `room`, if it is read. */
  lastId(room: string): string | undefined {
    return this.#streams.get(room)?.lastId;
  }

  /**
   * Adds `listener` to `room`; it gets the messages after `top` (the
   * stream's top, or a clock stand-in when `exact` is false). Returns the
   * function that removes it.
   */
  add(room: string, listener: MessageListener, top: string, exact: boolean): () => void {
    let stream = this.#streams.get(room);
    if (!stream) {
      stream = { lastId: top, exact, listeners: new Map() };
      this.#streams.set(room, stream);
      this.#roomsVersion++;
      this.#interrupt();
    }
    stream.listeners.set(listener, compareIds(top, stream.lastId) > 0 ? top : stream.lastId);
    return () => {
      const current = this.#streams.get(room);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      // The blocked XREAD may still name this room; its entries are then ignored.
      this.#streams.delete(room);
      this.#roomsVersion++;
    };
  }

  /** Wakes the loop at once (after a reconnect). */
  wake(): void {
    this.#wakeReader?.();
  }

  /** Stops the loop; resolves once it has ended. The caller destroys the reader's connection first. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeReader?.();
    this.#streams.clear();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const link = this.#link;
    while (!this.#closed) {
      if (this.#streams.size === 0 || !link.reader.isReady) {
        await this.#sleep(READ_RETRY_MS * 4);
        continue;
      }
      try {
        this.#readerId ??= String(await link.reader.sendCommand(['CLIENT', 'ID']));
        const rooms = [...this.#streams.keys()];
        const ids = rooms.map((room) => this.#streams.get(room)!.lastId);
        this.#readingVersion = this.#roomsVersion;
        this.#reading = true;
        const reply = await link.reader.sendCommand([
          'XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(READ_BLOCK_MS),
          'STREAMS', ...rooms.map((room) => link.streamKey(room)), ...ids,
        ]);
        this.#reading = false;
        const delivered = this.#deliver(reply);
        // Busy: let the next messages gather so one read takes them all.
        if (delivered > 0 && link.batchWaitMs > 0) await this.#sleep(link.batchWaitMs);
      } catch {
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
    for (const [key, entries] of reply as [string, unknown][]) {
      const room = this.#link.roomOf(String(key));
      for (const [id, fields] of parseEntries(entries)) {
        count++;
        const stream = this.#streams.get(room);
        if (!stream || compareIds(id, stream.lastId) <= 0) continue;
        const prev = fieldValue(fields, 'prev');
        if (stream.exact && prev !== undefined && compareIds(prev, stream.lastId) > 0) this.#reportGap(room, stream.lastId, prev);
        stream.lastId = id;
        stream.exact = true;
        const message = entryMessage(room, id, fields);
        for (const [listener, after] of stream.listeners) {
          if (compareIds(id, after) <= 0) continue;
          try {
            listener(message);
          } catch (err) {
            this.#link.log(`redis broker: message listener of room "${room}" threw: ${errorText(err)}`);
          }
        }
      }
    }
    if (count > 0) {
      this.#batches++;
      this.#batchEntries += count;
    }
    return count;
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

  /** Make the reader pick up a changed set of rooms now instead of after its BLOCK timeout. */
  #interrupt(): void {
    this.#wakeReader?.();
    void (async () => {
      // CLIENT UNBLOCK can overtake an XREAD still on its way; retry a few times.
      for (let attempt = 0; attempt < 20; attempt++) {
        if (!this.#reading || this.#readingVersion === this.#roomsVersion) return;
        const id = this.#readerId;
        if (id === undefined || !this.#link.ready()) return;
        const unblocked = await this.#link.unblock(id).catch(() => 0);
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
}
