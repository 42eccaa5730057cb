/**
 * Presence within one process, for the embedded broker: who is connected to
 * each room, counted per name so a name stays online until its last
 * connection leaves. A join or leave costs a map update and, when a name
 * comes or goes, one sorted insert or removal and one call per watcher.
 */
import type { PresenceChange, PresenceListener, PresenceWatch, UsersPage } from './broker.js';
import { SortedNames, type PageRequest } from './names.js';

interface RoomState {
  /** Connection id → name. */
  members: Map<string, string>;
  /** Name → its connections in the room. */
  connections: Map<string, number>;
  names: SortedNames;
}

/** LocalPresence tracks the names online in each room of one process and reports their changes. */
export class LocalPresence {
  readonly #rooms = new Map<string, RoomState>();
  readonly #watchers = new Map<string, Set<PresenceListener>>();
  readonly #onListenerError: (err: unknown) => void;

  /** `onListenerError` receives what a throwing watcher threw; the other watchers still run. */
  constructor(onListenerError: (err: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** join records connection `memberId` as `name` in `room`; a repeated id is ignored. */
  join(room: string, name: string, memberId: string): void {
    let state = this.#rooms.get(room);
    if (!state) this.#rooms.set(room, (state = { members: new Map(), connections: new Map(), names: new SortedNames() }));
    if (state.members.has(memberId)) return;
    state.members.set(memberId, name);
    const connections = (state.connections.get(name) ?? 0) + 1;
    state.connections.set(name, connections);
    if (connections === 1) {
      state.names.add(name);
      this.#notify(room, { joined: [name], left: [] });
    }
  }

  /** leave removes connection `memberId` from `room`; an unknown id is ignored. */
  leave(room: string, memberId: string): void {
    const state = this.#rooms.get(room);
    const name = state?.members.get(memberId);
    if (!state || name === undefined) return;
    state.members.delete(memberId);
    const connections = (state.connections.get(name) ?? 1) - 1;
    if (connections > 0) {
      state.connections.set(name, connections);
      return;
    }
    state.connections.delete(name);
    state.names.delete(name);
    if (state.members.size === 0) this.#rooms.delete(room);
    this.#notify(room, { joined: [], left: [name] });
  }

  /** watch calls `listener` with every change of `room` from now on; the watch holds the names online now. */
  watch(room: string, listener: PresenceListener): PresenceWatch {
    let set = this.#watchers.get(room);
    if (!set) this.#watchers.set(room, (set = new Set()));
    set.add(listener);
    return {
      users: this.#rooms.get(room)?.names.toArray() ?? [],
      stop: () => {
        const current = this.#watchers.get(room);
        current?.delete(listener);
        if (current?.size === 0) this.#watchers.delete(room);
      },
    };
  }

  /** users returns one page of the names online in `room` and their number. */
  users(room: string, request: PageRequest): UsersPage {
    const names = this.#rooms.get(room)?.names ?? new SortedNames();
    return { ...names.page(request), count: names.size };
  }

  /** isOnline tells whether `name` has a connection in `room`. */
  isOnline(room: string, name: string): boolean {
    return this.#rooms.get(room)?.names.has(name) ?? false;
  }

  /** clear forgets every room and watcher. */
  clear(): void {
    this.#rooms.clear();
    this.#watchers.clear();
  }

  #notify(room: string, change: PresenceChange): void {
    for (const listener of [...(this.#watchers.get(room) ?? [])]) {
      try {
        listener(change);
      } catch (err) {
        this.#onListenerError(err);
      }
    }
  }
}
