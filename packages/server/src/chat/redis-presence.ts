/**
 * Presence for a cluster of chat nodes sharing one Redis: who is online in
 * each room, on every node, with a join or leave costing one script call of
 * a constant number of Redis commands, whatever the size of the room.
 *
 * Data in Redis (names in redis-keys.ts; every key of a room in the room's
 * hash slot, so each script touches one slot and declares all its keys):
 * - `<p>{<room>}:pconn:<node>`: hash, connection id → name, one node's
 *   connections in a room (what a dead node's cleanup removes);
 * - `<p>{<room>}:pcount`: hash, name → its connections on all nodes;
 * - `<p>{<room>}:pnames`: sorted set of the names online, all with score 0, so
 *   `ZRANGEBYLEX` pages them in byte (code point) order and `ZCARD` counts them;
 * - `<p>{<room>}:pver`: the room's presence version, raised by each change
 *   (kept for a day once the room is empty, so no room leaves keys behind);
 * - `<p>nodes`: sorted set, node id → Redis time of its last heartbeat;
 * - `<p>noderooms:{<node>}`: set of the rooms where a node may have
 *   connections, written by the node before its first join in a room;
 * - Pub/Sub channel `<p>presence:<room>`: each change as it happens,
 *   `{"v":version,"j":[joined],"l":[left]}`.
 *
 * A name comes online when its connection count goes from 0 to 1 and goes
 * offline when it drops back to 0; only those transitions are published, so
 * a second tab costs no message. Each node that watches a room keeps the
 * room's names: it subscribes to the channel, reads the names with their
 * version in one script, and applies the messages after that version in
 * order. A version that skips one (a message lost with a dropped
 * connection) or lags for a whole heartbeat makes it read the names again
 * and report the difference, so a lost message delays a change, never loses it.
 *
 * A node killed without a goodbye stops its heartbeats. Each heartbeat
 * script lists the nodes silent for longer than the TTL; for each, the
 * heartbeating node runs the sync script with no connections on each room of
 * the dead node's `noderooms` (one slot per script), which removes that
 * node's connections and publishes the names that went offline as one change
 * per room, then forgets the node. Its users are gone within the TTL plus one
 * heartbeat. Two nodes reaping the same dead node at once do no harm: the
 * second finds nothing left. A node that finds itself missing from `nodes`
 * (it was presumed dead, or Redis lost its data) writes its connections back.
 */
import type { PresenceChange, PresenceListener, PresenceWatch, UsersPage } from './broker.js';
import { compareNames, type PageRequest } from './names.js';
import type { RedisKeys } from './redis-keys.js';
import { HEARTBEAT_SCRIPT, JOIN_SCRIPT, LEAVE_SCRIPT, PAGE_SCRIPT, SNAPSHOT_SCRIPT, SYNC_SCRIPT } from './redis-scripts.js';

/** What {@link RedisPresence} needs from the broker's Redis connections. */
export interface RedisPresenceLink {
  /** The names of the keys and channels. */
  keys: RedisKeys;
  /** This node's id. */
  nodeId: string;
  /** How long the node's liveness key lives after each heartbeat, in ms. */
  ttlMs: number;
  /** Whether Redis is reachable now. */
  ready(): boolean;
  /** Runs one command on `key` (which picks the server of a Redis Cluster); rejects when Redis fails or does not answer in time. */
  call(key: string, command: string[]): Promise<unknown>;
  /** Runs a Lua script (by hash, loading it when needed) on the server of its keys; rejects like `call`. */
  script(source: string, keys: string[], args: string[]): Promise<unknown>;
  /** Subscribes `listener` to a Pub/Sub channel; resolves once Redis confirmed it. */
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Removes `listener` from a channel. */
  unsubscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Where failures are reported. */
  log(line: string): void;
}

/** One published change: its version, the names that came online and those that went. */
interface ChangeMessage {
  v: number;
  j: string[];
  l: string[];
}

interface WatchedRoom {
  listeners: Set<PresenceListener>;
  /** The room's names as of `version`. */
  names: Set<string>;
  /** Version of the last change applied; -1 when unknown (a read failed), so the next message reads again. */
  version: number;
  /** While the names are being read, messages wait here. */
  syncing: boolean;
  buffer: ChangeMessage[];
  /** A read is wanted again after the current one (a gap seen meanwhile). */
  again: boolean;
  /** The version Redis had at the last heartbeat, when it was ahead of `version`. */
  behind: number | undefined;
  /** Settles when the channel is subscribed and the first names are read. */
  ready: Promise<void>;
  onMessage: (message: string) => void;
}

/** RedisPresence keeps presence in Redis for one node and reports every room's changes. */
export class RedisPresence {
  readonly #link: RedisPresenceLink;
  readonly #names: RedisKeys;
  /** This node's connections: room → connection id → name. The truth its Redis entries are rewritten from. */
  readonly #members = new Map<string, Map<string, string>>();
  /** Rooms whose Redis entries may differ from `#members` (a write failed); rewritten at the next heartbeat. */
  readonly #unsynced = new Set<string>();
  readonly #watched = new Map<string, WatchedRoom>();
  #closed = false;

  constructor(link: RedisPresenceLink) {
    this.#link = link;
    this.#names = link.keys;
  }

  /** join records a connection; while Redis is unreachable it is written at the next heartbeat after reconnecting. */
  async join(room: string, name: string, memberId: string): Promise<void> {
    let members = this.#members.get(room);
    if (!members) {
      this.#members.set(room, (members = new Map()));
      // Listed before the first connection is written, so a reaper always finds the room.
      await this.#listRoom(room);
    }
    members.set(memberId, name);
    await this.#write(room, JOIN_SCRIPT, [memberId, name, this.#channel(room)]);
  }

  /** leave removes a connection, like {@link join}. */
  async leave(room: string, memberId: string): Promise<void> {
    const members = this.#members.get(room);
    members?.delete(memberId);
    if (members?.size === 0) this.#members.delete(room);
    await this.#write(room, LEAVE_SCRIPT, [memberId, this.#channel(room)]);
    // Unlisted only if no connection joined the room meanwhile.
    if (members?.size === 0 && !this.#members.has(room) && this.#link.ready()) {
      await this.#link.call(this.#names.nodeRooms(this.#link.nodeId), ['SREM', this.#names.nodeRooms(this.#link.nodeId), room]).catch(() => {});
    }
  }

  /**
   * watch subscribes to a room's changes (once per room on this node) and
   * resolves with the names online; rejects when Redis is unreachable.
   */
  async watch(room: string, listener: PresenceListener): Promise<PresenceWatch> {
    let watched = this.#watched.get(room);
    if (!watched) {
      if (!this.#link.ready()) throw new Error(`Cannot watch the presence of room "${room}": Redis is unreachable`);
      const created: WatchedRoom = {
        listeners: new Set(),
        names: new Set(),
        version: -1,
        syncing: true,
        buffer: [],
        again: false,
        behind: undefined,
        ready: Promise.resolve(),
        onMessage: (message) => this.#onMessage(room, created, message),
      };
      watched = created;
      this.#watched.set(room, created);
      created.ready = (async () => {
        await this.#link.subscribe(this.#channel(room), created.onMessage);
        await this.#read(room, created, true);
      })();
      created.ready.catch(() => {
        if (this.#watched.get(room) !== created) return;
        this.#watched.delete(room);
        void this.#link.unsubscribe(this.#channel(room), created.onMessage).catch(() => {});
      });
    }
    await watched.ready;
    const current = watched;
    current.listeners.add(listener);
    return {
      users: [...current.names].sort(compareNames),
      stop: () => {
        current.listeners.delete(listener);
        if (current.listeners.size > 0 || this.#watched.get(room) !== current) return;
        this.#watched.delete(room);
        void this.#link.unsubscribe(this.#channel(room), current.onMessage).catch(() => {});
      },
    };
  }

  /** users reads one page of a room's names and their number in one script. */
  async users(room: string, request: PageRequest): Promise<UsersPage> {
    if (!this.#link.ready()) throw new Error(`Cannot list the users of room "${room}": Redis is unreachable`);
    const start = request.after === undefined ? '-' : `(${request.after}`;
    const reply = (await this.#link.script(PAGE_SCRIPT, [this.#names.presence('pnames', room)], [start, String(request.limit + 1)])) as [number, unknown[]];
    const names = reply[1].map(String);
    const users = names.slice(0, request.limit);
    return { users, next: names.length > request.limit && users.length > 0 ? users.at(-1)! : null, count: Number(reply[0]) };
  }

  /** isOnline tells whether `name` has a connection in `room` on any node (one ZSCORE). */
  async isOnline(room: string, name: string): Promise<boolean> {
    if (!this.#link.ready()) throw new Error(`Cannot look up ${JSON.stringify(name)} in room "${room}": Redis is unreachable`);
    const key = this.#names.presence('pnames', room);
    return (await this.#link.call(key, ['ZSCORE', key, name])) !== null;
  }

  /**
   * beat records this node as alive, rewrites its connections where needed
   * (all of them after a reconnect or when it was presumed dead), removes
   * dead nodes' connections and catches up rooms whose messages were lost.
   */
  async beat(afterReconnect: boolean): Promise<void> {
    if (this.#closed || !this.#link.ready()) return;
    const nodeId = this.#link.nodeId;
    const [added, dead] = (await this.#link.script(HEARTBEAT_SCRIPT, [this.#names.nodes], [nodeId, String(this.#link.ttlMs)])) as [unknown, unknown[]];
    const rooms = new Set(this.#unsynced);
    this.#unsynced.clear();
    if (Number(added) === 1 || afterReconnect) {
      for (const room of this.#members.keys()) rooms.add(room);
      const listed = this.#names.nodeRooms(nodeId);
      const recorded = (await this.#link.call(listed, ['SMEMBERS', listed])) as unknown[];
      for (const room of recorded) rooms.add(String(room));
      if (this.#members.size > 0) await this.#link.call(listed, ['SADD', listed, ...this.#members.keys()]);
    }
    await Promise.all([...rooms].map((room) => this.#sync(room)));
    const reaped = dead.map(String).filter((node) => node !== nodeId);
    await Promise.all(reaped.map((node) => this.#reap(node)));
    if (reaped.length > 0) this.#link.log(`redis broker: removed the presence of ${reaped.length} node(s) silent for more than ${this.#link.ttlMs} ms`);
    if (afterReconnect) {
      for (const [room, watched] of this.#watched) void this.#read(room, watched, false);
    } else {
      await this.#catchUp();
    }
  }

  /**
   * close stops watching and removes this node's connections from Redis
   * (other nodes see them leave at once) and its liveness key. The caller
   * skips it when Redis is unreachable: the reaper then removes them.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const rooms = [...this.#members.keys()];
    this.#members.clear();
    this.#watched.clear();
    const nodeId = this.#link.nodeId;
    const listed = this.#names.nodeRooms(nodeId);
    await Promise.all([
      ...rooms.map((room) => this.#link.script(SYNC_SCRIPT, this.#keys(room), [this.#channel(room)])),
      this.#link.call(listed, ['DEL', listed]),
      this.#link.call(this.#names.nodes, ['ZREM', this.#names.nodes, nodeId]),
    ]);
  }

  /** Removes a dead node's connections, room by room, then the node itself. */
  async #reap(node: string): Promise<void> {
    const listed = this.#names.nodeRooms(node);
    const rooms = ((await this.#link.call(listed, ['SMEMBERS', listed])) as unknown[]).map(String);
    await Promise.all(rooms.map((room) => this.#link.script(SYNC_SCRIPT, this.#keys(room, node), [this.#channel(room)])));
    await this.#link.call(listed, ['DEL', listed]);
    await this.#link.call(this.#names.nodes, ['ZREM', this.#names.nodes, node]);
  }

  /** Lists `room` among this node's rooms; on failure the next heartbeat after a reconnect lists it. */
  async #listRoom(room: string): Promise<void> {
    if (!this.#link.ready()) return;
    const listed = this.#names.nodeRooms(this.#link.nodeId);
    try {
      await this.#link.call(listed, ['SADD', listed, room]);
    } catch (err) {
      this.#unsynced.add(room);
      this.#link.log(`redis broker: room "${room}" not listed for this node (${errorText(err)}); listed at the next heartbeat`);
    }
  }

  async #write(room: string, script: string, args: string[]): Promise<void> {
    if (!this.#link.ready()) {
      this.#unsynced.add(room);
      return;
    }
    try {
      await this.#link.script(script, this.#keys(room), args);
    } catch (err) {
      this.#unsynced.add(room);
      this.#link.log(`redis broker: presence of room "${room}" not written (${errorText(err)}); rewritten at the next heartbeat`);
    }
  }

  /** Makes this node's entries of `room` in Redis match its connections. */
  async #sync(room: string): Promise<void> {
    const pairs = [...(this.#members.get(room) ?? [])].flat();
    try {
      await this.#link.script(SYNC_SCRIPT, this.#keys(room), [this.#channel(room), ...pairs]);
    } catch (err) {
      this.#unsynced.add(room);
      this.#link.log(`redis broker: presence of room "${room}" not rewritten (${errorText(err)})`);
    }
  }

  #onMessage(room: string, watched: WatchedRoom, message: string): void {
    if (this.#watched.get(room) !== watched) return;
    const change = parseChange(message);
    if (!change) {
      this.#link.log(`redis broker: unreadable presence message in room "${room}"; reading its names again`);
      void this.#read(room, watched, false);
      return;
    }
    if (watched.syncing) {
      watched.buffer.push(change);
      return;
    }
    if (change.v <= watched.version) return;
    if (change.v !== watched.version + 1) {
      void this.#read(room, watched, false);
      return;
    }
    watched.version = change.v;
    this.#emit(room, watched, applyChange(watched.names, change));
  }

  /**
   * Reads the room's names and version, applies the messages that arrived
   * meanwhile and reports the difference from what was known. Overlapping
   * calls coalesce into one more read.
   */
  async #read(room: string, watched: WatchedRoom, first: boolean): Promise<void> {
    if (watched.syncing && !first) {
      watched.again = true;
      return;
    }
    watched.syncing = true;
    try {
      do {
        watched.again = false;
        watched.buffer = [];
        const reply = (await this.#link.script(SNAPSHOT_SCRIPT, [this.#names.presence('pver', room), this.#names.presence('pnames', room)], [])) as [unknown, unknown[]];
        const names = new Set(reply[1].map(String));
        let version = Number(reply[0]);
        for (const change of watched.buffer) {
          if (change.v <= version) continue;
          if (change.v !== version + 1) {
            watched.again = true;
            break;
          }
          applyChange(names, change);
          version = change.v;
        }
        const difference: PresenceChange = {
          joined: [...names].filter((name) => !watched.names.has(name)),
          left: [...watched.names].filter((name) => !names.has(name)),
        };
        watched.names = names;
        watched.version = version;
        watched.behind = undefined;
        this.#emit(room, watched, difference);
      } while (watched.again && !this.#closed && this.#link.ready());
    } catch (err) {
      if (first) throw err;
      watched.version = -1;
      this.#link.log(`redis broker: names of room "${room}" not read (${errorText(err)}); read again at the next change or heartbeat`);
    } finally {
      watched.syncing = false;
      watched.buffer = [];
    }
  }

  /** Reads again every watched room whose version in Redis stayed ahead of this node's for a whole heartbeat. */
  async #catchUp(): Promise<void> {
    const rooms = [...this.#watched.keys()];
    if (rooms.length === 0) return;
    // One GET per room: on a Redis Cluster the rooms' versions live in different slots.
    const versions = await Promise.all(rooms.map((room) => {
      const key = this.#names.presence('pver', room);
      return this.#link.call(key, ['GET', key]);
    }));
    rooms.forEach((room, i) => {
      const watched = this.#watched.get(room);
      if (!watched || watched.syncing) return;
      const version = Number(versions[i] ?? 0);
      if (version < watched.version) {
        // The version went backwards: Redis lost it (a restart without persistence) or it expired.
        void this.#read(room, watched, false);
      } else if (version === watched.version) {
        watched.behind = undefined;
      } else if (watched.version < 0 || (watched.behind !== undefined && watched.version < watched.behind)) {
        void this.#read(room, watched, false);
      } else {
        watched.behind = version;
      }
    });
  }

  #emit(room: string, watched: WatchedRoom, change: PresenceChange): void {
    if (change.joined.length === 0 && change.left.length === 0) return;
    for (const listener of watched.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#link.log(`redis broker: presence listener of room "${room}" threw: ${errorText(err)}`);
      }
    }
  }

  /** The keys of the presence scripts for `room`, with the connections of `node` (unset: this node). */
  #keys(room: string, node = this.#link.nodeId): string[] {
    const names = this.#names;
    return [names.conns(room, node), names.presence('pcount', room), names.presence('pnames', room), names.presence('pver', room)];
  }

  #channel(room: string): string {
    return this.#names.presenceChannel(room);
  }
}

/** Reads a published change; undefined when it is not one. */
function parseChange(message: string): ChangeMessage | undefined {
  try {
    const value = JSON.parse(message) as { v?: unknown; j?: unknown; l?: unknown };
    if (!Number.isSafeInteger(value.v)) return undefined;
    const list = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
    return { v: value.v as number, j: list(value.j), l: list(value.l) };
  } catch {
    return undefined;
  }
}

/** Applies a change to a set of names; returns what actually changed. */
function applyChange(names: Set<string>, change: ChangeMessage): PresenceChange {
  const joined: string[] = [];
  for (const name of change.j) {
    if (names.has(name)) continue;
    names.add(name);
    joined.push(name);
  }
  const left = change.l.filter((name) => names.delete(name));
  return { joined, left };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
