/**
 * The broker: how the chat hub reaches the rest of the cluster. The hub knows
 * rooms and members; a broker assigns message ids, keeps history, fans
 * messages out to every node and tracks who is online. Two implementations
 * share this interface: the embedded one (one process, SQLite history) and
 * the Redis one (many nodes). The hub never knows which it has.
 */
import type { NamePage, PageRequest } from './names.js';

/** A chat message as stored, delivered and sent on the wire. */
export interface ChatMessage {
  type: 'message';
  /**
   * Opaque to clients; on the server always `<ms>-<seq>` (the Redis stream
   * id form), increasing within a room. Compare with `compareIds`.
   */
  id: string;
  room: string;
  from: string;
  text: string;
  /** Milliseconds since the epoch, assigned by the broker. */
  ts: number;
}

/** The broker's connection state, reported by `/healthz` and `/metrics`. */
export type BrokerState = 'ready' | 'degraded' | 'closed';

/** Listener for a room's messages, called in id order, once per message. */
export type MessageListener = (message: ChatMessage) => void;
/**
 * A change of a room's names anywhere in the cluster: names that came online
 * (their first connection joined) and names that went offline (their last
 * connection left). A name is in at most one of the lists.
 */
export interface PresenceChange {
  joined: string[];
  left: string[];
}

/** Listener for a room's presence changes, called in the order they happened. */
export type PresenceListener = (change: PresenceChange) => void;

/** A live presence watch: the names online when it started, then changes to them. */
export interface PresenceWatch {
  /** The names online when the watch started, in `compareNames` order; every later change goes to the listener. */
  users: string[];
  /** Ends the watch. */
  stop(): void;
}

/** One page of a room's names (see `Broker.users`). */
export interface UsersPage extends NamePage {
  /** Names online in the room in all. */
  count: number;
}

/** How a broker's fan-out reads went: reads that carried messages, and the messages they carried. */
export interface ReadStats {
  /** Reads (the Redis broker's XREAD replies) that carried at least one message. */
  batches: number;
  /** Messages those reads carried in all; divided by `batches`, the mean batch size. */
  messages: number;
  /** The largest fan-out lag of a room now, in ms: the newest message id known minus the last delivered, by their time parts. */
  lagMs?: number;
}

/**
 * PublishRefusedError: the broker refused a message for a reason its sender
 * should read (`reason`), and guarantees it was delivered to no one and is
 * not in history (the Redis broker's replica wait timed out). Other publish
 * failures are plain Errors, whose outcome may be unknown.
 */
export class PublishRefusedError extends Error {
  override name = 'PublishRefusedError';
  /** Why, in words meant for the sender: `only 0 of 1 Redis replicas confirmed it ...`. */
  readonly reason: string;
  constructor(reason: string) {
    super(`Message refused: ${reason}`);
    this.reason = reason;
  }
}

/** Listener for removal requests: disconnect `name`'s connections in `room` on this node. */
export type RemovalListener = (room: string, name: string) => void;

/** What the hub needs from the message transport. */
export interface Broker {
  /** Current state; `degraded` while the backing store is unreachable. */
  readonly state: BrokerState;
  /**
   * Assign the message an id, store it durably in the room's history, and
   * deliver it to every subscriber of the room on every node. Resolves with
   * the stored message; rejects (and stores nothing) when it cannot be
   * delivered cluster-wide, so no message with an id is ever lost.
   */
  publish(room: string, from: string, text: string): Promise<ChatMessage>;
  /**
   * Deliver every message published to `room` from now on to `listener`.
   * Resolves once the subscription is live; the returned function ends it.
   */
  subscribe(room: string, listener: MessageListener): Promise<() => void>;
  /**
   * The room's history, oldest first: with `since`, exactly the messages
   * after that id (at most `limit`); without, the last `limit` messages.
   */
  history(room: string, options: { since?: string; limit: number }): Promise<ChatMessage[]>;
  /** Record that connection `memberId` named `name` is in `room`. */
  join(room: string, name: string, memberId: string): Promise<void>;
  /** Record that connection `memberId` left `room`. */
  leave(room: string, name: string, memberId: string): Promise<void>;
  /**
   * Watch the room's names: resolves with the names online now, then calls
   * `listener` with every change after that, on any node. A join or leave
   * that changes no name (a second tab) is not a change.
   */
  watchPresence(room: string, listener: PresenceListener): Promise<PresenceWatch>;
  /**
   * One page of the names online in `room` across the cluster, in
   * `compareNames` order, after `request.after` (a cursor stays valid
   * while names join and leave), and how many are online in all. Used by
   * `who` frames and the HTTP presence route.
   */
  users(room: string, request: PageRequest): Promise<UsersPage>;
  /** Whether `name` has a connection in `room` on any node. */
  isOnline(room: string, name: string): Promise<boolean>;
  /**
   * Ask every node, this one included, to disconnect `name`'s connections in
   * `room` (the server API's member removal). Resolves once the request has
   * gone out to the cluster, not once the connections are closed; rejects
   * when it cannot reach the other nodes.
   */
  removeMember(room: string, name: string): Promise<void>;
  /** Call `listener` for every removal request, from any node; the returned function ends it. */
  watchRemovals(listener: RemovalListener): () => void;
  /**
   * What the broker sees of its backing store, for `/healthz`: for Redis,
   * standalone or cluster, each master with its slots and replicas, whether
   * it is connected, and why the broker is degraded. Absent for the embedded broker.
   */
  topology?(): object;
  /** Counts of the fan-out reads, for a broker that reads messages in batches (Redis); absent otherwise. */
  readStats?(): ReadStats;
  /** Replica waits (Redis `WAIT`) that timed out, for a broker that waits for replicas; absent otherwise. */
  replicaWaitTimeouts?(): number;
  /** Flush and release everything. */
  close(): Promise<void>;
}

/** Orders two message ids of the `<ms>-<seq>` form: negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  // Called for every delivery: no split or array, just the two numbers of each id.
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  const aMs = Number(aDash < 0 ? a : a.slice(0, aDash));
  const bMs = Number(bDash < 0 ? b : b.slice(0, bDash));
  if (aMs !== bMs) return aMs - bMs;
  return (aDash < 0 ? 0 : Number(a.slice(aDash + 1))) - (bDash < 0 ? 0 : Number(b.slice(bDash + 1)));
}
