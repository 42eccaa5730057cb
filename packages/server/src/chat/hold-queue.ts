/**
 * The reader's side of `--redis-replicas`: a pure, per-room queue that holds
 * stream entries until the publisher confirms them, and releases them in
 * stream order. No clock of its own (the caller passes `now`), no Redis.
 *
 * A room stream written with replicas > 0 carries four kinds of entries
 * (see redis-durability.ts for who writes them and when):
 * - a held message (`hold` first among its fields): not to be shown to
 *   anyone until a commit covers it;
 * - a commit marker `commit <upTo>`: every held message with an id up to
 *   `upTo` is on the replicas. A commit covers everything before it because
 *   Redis replicates in order: a WAIT that confirmed a write confirmed every
 *   earlier write of that primary too;
 * - an abort marker `abort <id>`: that held message is dropped (its entry is
 *   deleted too). The abort script refuses once a commit covers the id, so a
 *   message is never both released and aborted;
 * - a probe (written only to be WAITed on), ignored here.
 * A plain message (`from` first, written with replicas 0) needs no commit,
 * but still waits behind an earlier held one so that order is kept.
 */
import { compareIds } from './broker.js';

/** One stream entry as the hold queue sees it. */
export type HoldEntry<T> =
  | { kind: 'message'; id: string; held: boolean; value: T }
  | { kind: 'commit'; id: string; upTo: string }
  | { kind: 'abort'; id: string; target: string }
  | { kind: 'probe'; id: string };

interface Pending<T> {
  id: string;
  held: boolean;
  value: T;
  /** When it was queued (the caller's clock), to find held messages nobody decides. */
  at: number;
}

/**
 * HoldQueue releases a room's messages once confirmed, in stream order:
 * feed it every entry of the stream in order with {@link HoldQueue.accept};
 * each call returns the messages it released.
 */
export class HoldQueue<T> {
  /** The highest `upTo` of the commits seen: every held message up to it is confirmed. */
  #frontier = '0-0';
  #pending: Pending<T>[] = [];

  /** The highest commit seen, `0-0` before any. */
  get frontier(): string {
    return this.#frontier;
  }

  /** Messages waiting, held or behind a held one. */
  get size(): number {
    return this.#pending.length;
  }

  /** The id of the first waiting message, undefined when none waits. */
  get firstWaiting(): string | undefined {
    return this.#pending[0]?.id;
  }

  /** When the oldest waiting held message was queued, undefined when none waits. */
  get oldestHeldAt(): number | undefined {
    return this.#pending.find((entry) => entry.held)?.at;
  }

  /** accept takes the next entry of the stream and returns the messages it releases, in stream order. */
  accept(entry: HoldEntry<T>, now: number): T[] {
    switch (entry.kind) {
      case 'message': {
        const confirmed = !entry.held || compareIds(entry.id, this.#frontier) <= 0;
        if (confirmed && this.#pending.length === 0) return [entry.value];
        this.#pending.push({ id: entry.id, held: entry.held, value: entry.value, at: now });
        break;
      }
      case 'commit':
        if (compareIds(entry.upTo, this.#frontier) > 0) this.#frontier = entry.upTo;
        break;
      case 'abort': {
        const at = this.#pending.findIndex((pending) => pending.id === entry.target);
        if (at >= 0) this.#pending.splice(at, 1);
        break;
      }
      case 'probe':
        return [];
    }
    return this.#release();
  }

  /** Releases the waiting messages from the front up to the first one still held. */
  #release(): T[] {
    let count = 0;
    for (const pending of this.#pending) {
      if (pending.held && compareIds(pending.id, this.#frontier) > 0) break;
      count++;
    }
    return count === 0 ? [] : this.#pending.splice(0, count).map((pending) => pending.value);
  }
}

/**
 * holdEntry reads a stream entry's fields (`[name, value, ...]` as Redis
 * returns them) into a {@link HoldEntry}; `value` is what a message entry
 * carries. An entry of no known kind counts as a probe (ignored).
 */
export function holdEntry<T>(id: string, fields: readonly unknown[], value: T): HoldEntry<T> {
  const first = String(fields[0]);
  if (first === 'from') return { kind: 'message', id, held: false, value };
  if (first === 'hold') return { kind: 'message', id, held: true, value };
  if (first === 'commit') return { kind: 'commit', id, upTo: String(fields[1]) };
  if (first === 'abort') return { kind: 'abort', id, target: String(fields[1]) };
  return { kind: 'probe', id };
}

/**
 * idBefore returns an id just below `id`: every id after it is `id` or
 * later. A listener that starts "after" it gets `id` itself.
 */
export function idBefore(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  if (seq !== '0') return `${ms}-${BigInt(seq) - 1n}`;
  return ms === '0' ? '0-0' : `${BigInt(ms) - 1n}-${Number.MAX_SAFE_INTEGER}`;
}
