/**
 * The presence part of the chat wire protocol: what a member is told about
 * who is in its room, and the `who` request that pages through the names.
 * Pure functions, no I/O.
 *
 * A member first gets a snapshot: the names (`users`), or only their number
 * (`count`) in a room above the server's `presenceMaxUsers`. After that it
 * gets changes only, at most one frame per presence interval: `joined` and
 * `left` in a room of names, a new `count` in a counted room. When the room
 * crosses the threshold, every member gets one frame of the other kind (a
 * full `users` list or a `count`). Names are in code point order
 * (`compareNames`), each listed once however many connections use it.
 */
import type { NamePage } from './names.js';

/** Sent once after joining a room of names: every name online, the newcomer's own included. */
export interface PresenceSnapshotFrame {
  type: 'presence';
  room: string;
  /** Sorted, each name once even when it is connected several times. */
  users: string[];
}

/** Sent at most once per presence interval while a room lists names: what changed since the last frame. */
export interface PresenceChangeFrame {
  type: 'presence';
  room: string;
  /** Names that came online; a name that came and went within one interval is in neither list. */
  joined: string[];
  /** Names whose last connection left. */
  left: string[];
}

/** Sent instead of names in a room above the server's presenceMaxUsers: how many names are online. */
export interface PresenceCountFrame {
  type: 'presence';
  room: string;
  count: number;
}

/** Every presence frame. */
export type PresenceFrame = PresenceSnapshotFrame | PresenceChangeFrame | PresenceCountFrame;

/** The answer to a `who` request: one page of names in code point order. */
export interface WhoFrame {
  type: 'who';
  users: string[];
  /** Pass as `after` for the next page; null when this was the last one. */
  next: string | null;
}

/** snapshotFrame builds the list of names a newcomer gets. */
export function snapshotFrame(room: string, users: string[]): PresenceSnapshotFrame {
  return { type: 'presence', room, users };
}

/** changeFrame builds a change of names. */
export function changeFrame(room: string, joined: string[], left: string[]): PresenceChangeFrame {
  return { type: 'presence', room, joined, left };
}

/** countFrame builds the count a counted room sends instead of names. */
export function countFrame(room: string, count: number): PresenceCountFrame {
  return { type: 'presence', room, count };
}

/** whoFrame builds the answer to a `who` request. */
export function whoFrame(page: NamePage): WhoFrame {
  return { type: 'who', users: page.users, next: page.next };
}
