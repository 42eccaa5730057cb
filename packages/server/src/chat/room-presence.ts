/**
 * What the members of one room on this node are told about who is online,
 * and when. The room keeps a sorted copy of the names online cluster-wide
 * (fed by the broker's changes) and a log of the changes since its last
 * flush. Nothing is sent when a change arrives; a timer started by the first
 * change flushes the room one interval later, so each member gets at most
 * one presence frame per interval however many joins and leaves happened.
 *
 * Frames (see presence-frames.ts):
 * - a newcomer gets a snapshot at once: the names with its own inserted, or
 *   the count when that is above `maxUsers`;
 * - at a flush, a member whose view is of names gets the net change since
 *   its last frame (a name that came and went in between is in neither
 *   list); a member whose view is a count gets the new count if it changed;
 *   a member whose kind of view no longer fits the room's size gets one frame
 *   of the other kind: the full list of names, or the count;
 * - a member always counts itself online: its own join may reach this node
 *   through the broker after its snapshot (over Redis), and its own name
 *   is never in a change it is sent, so no client sees itself join twice.
 *
 * Cost: a change is a sorted insert and a log entry; a newcomer's snapshot is
 * O(names) once (O(1) when counted); a flush is one frame per member, encoded
 * once and shared, except for the members that joined since the last flush,
 * whose change is computed from the part of the log after their snapshot.
 */
import type { PresenceChange } from './broker.js';
import { SortedNames, compareNames } from './names.js';
import { changeFrame, countFrame, snapshotFrame, type PresenceChangeFrame, type PresenceFrame } from './presence-frames.js';

/** A member as its room's presence sees it: a name and a non-blocking `send`. */
export interface PresenceMember<E> {
  readonly name: string;
  send(frame: E): void;
}

/** Settings of a {@link RoomPresence}. */
export interface RoomPresenceOptions<E> {
  room: string;
  /** The names online when the room started watching. */
  users: string[];
  /** Shortest time between two presence frames to one member, in ms. */
  intervalMs: number;
  /** Above this many names the room sends counts instead of names. */
  maxUsers: number;
  /** Encodes a JSON frame for sending; called once per frame shared by several members. */
  encode: (json: string) => E;
}

interface View {
  /** Whether the member's view is a count (true) or names (false). */
  counted: boolean;
  /** The count last sent, when counted. */
  count: number;
  /** For a member admitted since the last flush, where its snapshot stood in the log; undefined once it shares the room's view. */
  from: number | undefined;
}

interface LogEntry {
  name: string;
  online: boolean;
}

/** RoomPresence coalesces one room's presence changes into at most one frame per member per interval. */
export class RoomPresence<E> {
  readonly #room: string;
  readonly #intervalMs: number;
  readonly #maxUsers: number;
  readonly #encode: (json: string) => E;
  readonly #names: SortedNames;
  readonly #views = new Map<PresenceMember<E>, View>();
  /** Transitions of names since the last flush, oldest first; only real ones (a name's entries alternate). */
  #log: LogEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RoomPresenceOptions<E>) {
    this.#room = options.room;
    this.#intervalMs = options.intervalMs;
    this.#maxUsers = options.maxUsers;
    this.#encode = options.encode;
    this.#names = new SortedNames(options.users);
  }

  /** apply records a change from the broker; it reaches members at the next flush. */
  apply(change: PresenceChange): void {
    if (this.#closed) return;
    for (const name of change.joined) if (this.#names.add(name)) this.#log.push({ name, online: true });
    for (const name of change.left) if (this.#names.delete(name)) this.#log.push({ name, online: false });
    if (this.#log.length > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
    }
  }

  /** admit sends a newcomer its snapshot, its own name counted even before the broker reports it. */
  admit(member: PresenceMember<E>): void {
    if (this.#closed) return;
    const count = this.#names.size + (this.#names.has(member.name) ? 0 : 1);
    const counted = count > this.#maxUsers;
    const frame = counted ? countFrame(this.#room, count) : snapshotFrame(this.#room, this.#names.toArray(member.name));
    this.#views.set(member, { counted, count, from: this.#log.length });
    member.send(this.#encode(JSON.stringify(frame)));
  }

  /** remove stops sending to `member`. */
  remove(member: PresenceMember<E>): void {
    this.#views.delete(member);
  }

  /** close cancels the pending flush; later calls do nothing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#views.clear();
    this.#log = [];
  }

  #flush(): void {
    this.#timer = undefined;
    const size = this.#names.size;
    const counted = size > this.#maxUsers;
    const shared = new Map<string, E | undefined>();
    const once = (key: string, build: () => PresenceFrame | undefined): E | undefined => {
      if (!shared.has(key)) shared.set(key, this.#encodeFrame(build()));
      return shared.get(key);
    };
    const common = counted ? undefined : this.#changeSince(0);
    for (const [member, view] of this.#views) {
      const self = member.name;
      // A member always counts itself online, even before the broker reports its join.
      const missing = !this.#names.has(self);
      const count = size + (missing ? 1 : 0);
      let frame: E | undefined;
      if (counted) {
        if (view.counted !== counted || view.count !== count) frame = once(`count ${count}`, () => countFrame(this.#room, count));
      } else if (view.counted) {
        frame = missing ? this.#encodeFrame(snapshotFrame(this.#room, this.#names.toArray(self))) : once('list', () => snapshotFrame(this.#room, this.#names.toArray()));
      } else if (view.from !== undefined) {
        frame = this.#encodeFrame(withoutSelf(this.#changeSince(view.from, self), self));
      } else if (common && (common.joined.includes(self) || common.left.includes(self))) {
        frame = this.#encodeFrame(withoutSelf(common, self));
      } else {
        frame = once('change', () => common);
      }
      view.counted = counted;
      view.count = count;
      view.from = undefined;
      if (frame !== undefined) member.send(frame);
    }
    this.#log = [];
  }

  #encodeFrame(frame: PresenceFrame | undefined): E | undefined {
    return frame && this.#encode(JSON.stringify(frame));
  }

  /**
   * The net change from log entry `from` to now, or undefined when there is
   * none. A name's state before `from` is the opposite of its first entry
   * after it (entries are transitions), except `self`, which the member's
   * own view always lists.
   */
  #changeSince(from: number, self?: string): PresenceChangeFrame | undefined {
    const before = new Map<string, boolean>();
    for (let i = from; i < this.#log.length; i++) {
      const entry = this.#log[i]!;
      if (!before.has(entry.name)) before.set(entry.name, !entry.online);
    }
    const joined: string[] = [];
    const left: string[] = [];
    for (const [name, was] of before) {
      const wasOnline = name === self || was;
      const online = this.#names.has(name);
      if (online && !wasOnline) joined.push(name);
      else if (!online && wasOnline) left.push(name);
    }
    if (joined.length === 0 && left.length === 0) return undefined;
    return changeFrame(this.#room, joined.sort(compareNames), left.sort(compareNames));
  }
}

/** The change as a member named `self` must see it: its own name stays listed whatever the broker reported. */
function withoutSelf(change: PresenceChangeFrame | undefined, self: string): PresenceChangeFrame | undefined {
  if (!change) return undefined;
  const joined = change.joined.filter((name) => name !== self);
  const left = change.left.filter((name) => name !== self);
  return joined.length + left.length === 0 ? undefined : { ...change, joined, left };
}
