/**
 * The hub: rooms and their members on this node, between the connections
 * and the {@link Broker}. It knows neither sockets nor Redis: a member is
 * anything with an id, a room, a name and a `send` that never blocks.
 *
 * Guarantees, for every member of a room:
 * - every message published to the room after the member joined arrives
 *   exactly once, in id order, which is the same order for every member;
 * - on joining, a history frame comes first; the hub subscribes to the room
 *   before reading history and drops live messages already in that history
 *   (by id), so nothing falls in the gap between the two or arrives twice;
 * - each message frame is encoded once for all members (`encode`), and so
 *   is the history frame of the joins (without `since`) that come between
 *   two messages: a join storm reads and encodes history once per message;
 * - right after its history, a newcomer gets a presence snapshot (names, or
 *   a count in a room above `presenceMaxUsers`); after that, changes
 *   coalesced by {@link RoomPresence}: at most one presence frame per member
 *   per `presenceIntervalMs`, sent from a timer, never from inside a join.
 *   A name is listed once, however many connections (tabs) use it.
 */
import { compareIds, type Broker, type ChatMessage, type PresenceChange, type UsersPage } from './broker.js';
import { historyFrame } from './messages.js';
import type { PageRequest } from './names.js';
import { RoomPresence } from './room-presence.js';

/** One connection in one room, as the hub sees it. */
export interface HubMember<E> {
  /** Unique per connection on this node. */
  readonly id: string;
  readonly room: string;
  readonly name: string;
  /** Queues an encoded frame for the connection; must neither block nor throw. */
  send(frame: E): void;
}

/** Settings of a {@link Hub}. */
export interface HubOptions<E> {
  broker: Broker;
  /** Encodes a JSON frame for sending (a `PreparedMessage` on a server); called once per broadcast. */
  encode: (json: string) => E;
  /** Messages of history sent on join. Unset: 100. */
  historySize?: number;
  /** Shortest time between two presence frames to one member, in ms. Unset: 250. */
  presenceIntervalMs?: number;
  /** Above this many names online, a room sends counts instead of names. Unset: 1000. */
  presenceMaxUsers?: number;
  /** Receives one line per unexpected failure. Unset: ignored. */
  log?: (line: string) => void;
}

interface MemberState {
  phase: 'joining' | 'joined' | 'left';
  /** Live messages that arrived while history was being read. */
  buffer: Delivery[];
  /** Id of the last message sent to the member; later ones only pass. */
  lastId: string | undefined;
  /** The broker's `join` for this member, once started; `leave` waits for it. */
  presenceJoin: Promise<void> | undefined;
}

interface Room<E> {
  name: string;
  members: Map<HubMember<E>, MemberState>;
  /** Settles when the room's subscription and presence watch are live. */
  ready: Promise<void>;
  unsubscribe: (() => void) | undefined;
  unwatch: (() => void) | undefined;
  /** Set once the presence watch has its first names. */
  presence: RoomPresence<E> | undefined;
  /** Changes reported before the watch resolved with its first names. */
  early: PresenceChange[];
  /** Live messages delivered to the room so far; a cached history is good while this has not moved. */
  deliveries: number;
  /** The last history frame read without `since`, while no message has arrived since. */
  history: CachedHistory<E> | undefined;
}

interface CachedHistory<E> {
  frame: E;
  /** Id of its last message; undefined for an empty history. */
  lastId: string | undefined;
  /** `Room.deliveries` when it was read. */
  deliveries: number;
}

/** A message and its frame, encoded on first use and shared by every member. */
class Delivery {
  #frame: unknown;
  #comparedWith: string | undefined;
  #isAfter = false;
  constructor(
    readonly message: ChatMessage,
    readonly encode: (json: string) => unknown,
  ) {}
  frame<E>(): E {
    this.#frame ??= this.encode(JSON.stringify(this.message));
    return this.#frame as E;
  }
  /**
   * isAfter tells whether this message comes after message `id`. The members
   * of a room nearly always share one last id (the previous message's), so
   * the answer is kept for it: one comparison per broadcast, not per member.
   */
  isAfter(id: string): boolean {
    if (id !== this.#comparedWith) {
      this.#comparedWith = id;
      this.#isAfter = compareIds(this.message.id, id) > 0;
    }
    return this.#isAfter;
  }
}

/** Hub tracks the rooms of this node and fans the broker's messages out to their members. */
export class Hub<E> {
  readonly #broker: Broker;
  readonly #encode: (json: string) => E;
  readonly #historySize: number;
  readonly #presenceIntervalMs: number;
  readonly #presenceMaxUsers: number;
  readonly #log: (line: string) => void;
  readonly #rooms = new Map<string, Room<E>>();

  constructor(options: HubOptions<E>) {
    this.#broker = options.broker;
    this.#encode = options.encode;
    this.#historySize = options.historySize ?? 100;
    this.#presenceIntervalMs = options.presenceIntervalMs ?? 250;
    this.#presenceMaxUsers = options.presenceMaxUsers ?? 1000;
    this.#log = options.log ?? (() => {});
  }

  /** Number of rooms with at least one member on this node. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /** Number of members across all rooms of this node. */
  get memberCount(): number {
    let count = 0;
    for (const room of this.#rooms.values()) count += room.members.size;
    return count;
  }

  /** hasRoom tells whether `room` has members on this node. */
  hasRoom(room: string): boolean {
    return this.#rooms.has(room);
  }

  /**
   * join adds a member to its room: subscribes (once per room), sends it
   * the history (the last N messages, or with `since` those after that id),
   * its presence snapshot, then the live messages, then announces it.
   * Rejects when the broker fails; the member is then not in the room.
   */
  async join(member: HubMember<E>, since?: string): Promise<void> {
    const room = this.#roomFor(member.room);
    const state: MemberState = { phase: 'joining', buffer: [], lastId: undefined, presenceJoin: undefined };
    room.members.set(member, state);
    let history: CachedHistory<E>;
    try {
      await room.ready;
      history = await this.#history(room, since);
    } catch (err) {
      await this.leave(member);
      throw err;
    }
    if (state.phase === 'left') return;

    member.send(history.frame);
    room.presence?.admit(member);
    state.lastId = history.lastId;
    for (const delivery of state.buffer) this.#deliver(member, state, delivery);
    state.buffer = [];
    state.phase = 'joined';
    state.presenceJoin = this.#broker.join(member.room, member.name, member.id);
    await state.presenceJoin;
  }

  /** leave removes a member from its room and announces it; repeated calls do nothing. */
  async leave(member: HubMember<E>): Promise<void> {
    const room = this.#rooms.get(member.room);
    const state = room?.members.get(member);
    if (!room || !state) return;
    state.phase = 'left';
    state.buffer = [];
    room.members.delete(member);
    room.presence?.remove(member);
    if (state.presenceJoin) {
      try {
        await state.presenceJoin.catch(() => {});
        await this.#broker.leave(member.room, member.name, member.id);
      } catch (err) {
        this.#log(`chat hub: cannot record that ${member.name} left ${member.room}: ${errorText(err)}`);
      }
    }
    if (room.members.size === 0 && this.#rooms.get(member.room) === room) {
      this.#rooms.delete(member.room);
      await room.ready.catch(() => {});
      this.#release(room);
    }
  }

  /**
   * users returns one page of the names online in `room` anywhere in the
   * cluster (see `Broker.users`): what a `who` frame and the HTTP presence
   * route answer.
   */
  users(room: string, request: PageRequest): Promise<UsersPage> {
    return this.#broker.users(room, request);
  }

  /** publish sends a member's text to its room; resolves with the stored message (which also comes back to the sender). */
  publish(member: HubMember<E>, text: string): Promise<ChatMessage> {
    return this.#broker.publish(member.room, member.name, text);
  }

  /** close ends every room's subscription; members are expected to have left. */
  async close(): Promise<void> {
    const rooms = [...this.#rooms.values()];
    this.#rooms.clear();
    for (const room of rooms) {
      await room.ready.catch(() => {});
      this.#release(room);
    }
  }

  /**
   * The history frame for a join: the cached one while no message arrived
   * since it was read (a message then would be missing from it), otherwise
   * read from the broker, and cached when nothing arrived during the read.
   */
  async #history(room: Room<E>, since: string | undefined): Promise<CachedHistory<E>> {
    const cached = room.history;
    if (since === undefined && cached && cached.deliveries === room.deliveries) return cached;
    const deliveries = room.deliveries;
    const messages = await this.#broker.history(room.name, { limit: this.#historySize, ...(since ? { since } : {}) });
    const history = { frame: this.#encode(JSON.stringify(historyFrame(messages))), lastId: messages.at(-1)?.id, deliveries };
    if (since === undefined && room.deliveries === deliveries) room.history = history;
    return history;
  }

  #release(room: Room<E>): void {
    room.unsubscribe?.();
    room.unwatch?.();
    room.presence?.close();
  }

  #roomFor(name: string): Room<E> {
    const existing = this.#rooms.get(name);
    if (existing) return existing;
    const room: Room<E> = { name, members: new Map(), ready: Promise.resolve(), unsubscribe: undefined, unwatch: undefined, presence: undefined, early: [], deliveries: 0, history: undefined };
    room.ready = (async () => {
      room.unsubscribe = await this.#broker.subscribe(name, (message) => this.#onMessage(room, message));
      const watch = await this.#broker.watchPresence(name, (change) => {
        if (room.presence) room.presence.apply(change);
        else room.early.push(change);
      });
      room.unwatch = watch.stop;
      room.presence = new RoomPresence({
        room: name,
        users: watch.users,
        intervalMs: this.#presenceIntervalMs,
        maxUsers: this.#presenceMaxUsers,
        encode: this.#encode,
      });
      for (const change of room.early) room.presence.apply(change);
      room.early = [];
    })();
    room.ready.catch((err) => {
      // Later joins must not reuse a room whose subscription failed.
      if (this.#rooms.get(name) === room) this.#rooms.delete(name);
      this.#release(room);
      this.#log(`chat hub: cannot subscribe to ${name}: ${errorText(err)}`);
    });
    this.#rooms.set(name, room);
    return room;
  }

  #onMessage(room: Room<E>, message: ChatMessage): void {
    room.deliveries++;
    room.history = undefined;
    const delivery = new Delivery(message, this.#encode);
    for (const [member, state] of room.members) {
      if (state.phase === 'joining') state.buffer.push(delivery);
      else if (state.phase === 'joined') this.#deliver(member, state, delivery);
    }
  }

  #deliver(member: HubMember<E>, state: MemberState, delivery: Delivery): void {
    if (state.lastId !== undefined && !delivery.isAfter(state.lastId)) return;
    state.lastId = delivery.message.id;
    member.send(delivery.frame<E>());
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
