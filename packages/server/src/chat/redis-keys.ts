/**
 * The names of the Redis broker's keys and channels (`<p>` is the key
 * prefix, `chat:` by default).
 *
 * Every key of one room carries the room as its hash tag, `<p>{<room>}:...`,
 * so on a Redis Cluster they all live in one hash slot and one script may
 * touch them together. Room names are letters, marks, digits, `_`, `.` and
 * `-` (messages.ts), never a brace, so the tag is exactly the room; the
 * prefix may not contain braces either.
 *
 * Per room:
 * - `<p>{<room>}:stream`: the messages, one stream entry each;
 * - `<p>{<room>}:commit`: with `--redis-replicas`, the room's commit
 *   frontier (redis-durability.ts);
 * - `<p>{<room>}:new`: on a Redis Cluster, the sharded Pub/Sub channel (in
 *   the room's slot) that rings when a message is added;
 * - `<p>{<room>}:pconn:<node>`, `:pcount`, `:pnames`, `:pver`: presence
 *   (described in redis-presence.ts).
 *
 * Per node and cluster-wide:
 * - `<p>nodes`: sorted set, node id → Redis time (ms) of its last heartbeat;
 * - `<p>noderooms:{<node>}`: set of the rooms where the node may have connections;
 * - Pub/Sub channels `<p>presence:<room>` (presence changes) and `<p>remove`
 *   (member removals). Channels are not keys: a Redis Cluster broadcasts a
 *   `PUBLISH` to every node.
 */

/** The key and channel names under one prefix. */
export class RedisKeys {
  /** The prefix of every key and channel. */
  readonly prefix: string;
  readonly #streamSuffix = '}:stream';

  /** Throws a RangeError naming `keyPrefix` when the prefix holds a brace, which would break the rooms' hash tags. */
  constructor(prefix: string) {
    if (/[{}]/.test(prefix)) {
      throw new RangeError(`keyPrefix must not contain "{" or "}" (they would change the Redis Cluster hash slot of every key), got ${JSON.stringify(prefix)}`);
    }
    this.prefix = prefix;
  }

  /** The stream of a room's messages. */
  stream(room: string): string {
    return `${this.prefix}{${room}${this.#streamSuffix}`;
  }

  /** The room whose stream key is `key`. */
  roomOfStream(key: string): string {
    return key.slice(this.prefix.length + 1, key.length - this.#streamSuffix.length);
  }

  /** The sharded Pub/Sub channel that rings when a message is added to the room (Redis Cluster only). */
  doorbell(room: string): string {
    return `${this.prefix}{${room}}:new`;
  }

  /** A room's commit frontier (`--redis-replicas`): the highest id a replica-confirmed commit covers. */
  commit(room: string): string {
    return `${this.prefix}{${room}}:commit`;
  }

  /** One node's connections in a room: hash, connection id → name. */
  conns(room: string, node: string): string {
    return `${this.prefix}{${room}}:pconn:${node}`;
  }

  /** A room's presence key of `kind`: `pcount` (name → connections), `pnames` (sorted names), `pver` (version). */
  presence(kind: 'pcount' | 'pnames' | 'pver', room: string): string {
    return `${this.prefix}{${room}}:${kind}`;
  }

  /** The Pub/Sub channel of a room's presence changes. */
  presenceChannel(room: string): string {
    return `${this.prefix}presence:${room}`;
  }

  /** The Pub/Sub channel of member removals. */
  get removeChannel(): string {
    return `${this.prefix}remove`;
  }

  /** The sorted set of live nodes by last heartbeat. */
  get nodes(): string {
    return `${this.prefix}nodes`;
  }

  /** The set of rooms where `node` may have connections. */
  nodeRooms(node: string): string {
    return `${this.prefix}noderooms:{${node}}`;
  }
}
