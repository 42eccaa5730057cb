/**
 * The chat history on disk: one SQLite database (better-sqlite3, WAL
 * journal) in the data directory. Each room keeps its last `keep` messages
 * and the last id it issued, so ids keep increasing across restarts even
 * after old messages are trimmed. Every call is synchronous and commits
 * before returning: a message has an id only once it is on disk.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { ChatMessage } from './broker.js';

/** The database file's name inside the data directory. */
export const HISTORY_FILE = 'chat.sqlite3';

/** Settings of a {@link HistoryStore}. */
export interface HistoryStoreOptions {
  /** Messages kept per room; older ones are deleted as new ones arrive. Unset: 100. */
  keep?: number;
}

interface Row {
  ms: number;
  seq: number;
  sender: string;
  text: string;
  ts: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  room TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  sender TEXT NOT NULL, text TEXT NOT NULL, ts INTEGER NOT NULL,
  PRIMARY KEY (room, ms, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms (
  room TEXT PRIMARY KEY, last_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

/** HistoryStore keeps each room's recent messages in SQLite and issues their ids. */
export class HistoryStore {
  /** Absolute path of the database file. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #keep: number;
  readonly #append: (room: string, from: string, text: string, now: number) => ChatMessage;
  readonly #last: Database.Statement<[string, number]>;
  readonly #since: Database.Statement<[string, number, number, number]>;

  /**
   * Opens (creating if needed) the history in `dataDir`. Throws an Error
   * with a readable message when the directory cannot be created, or the
   * database cannot be opened or written (a read-only directory, say).
   */
  constructor(dataDir: string, options: HistoryStoreOptions = {}) {
    this.#keep = options.keep ?? 100;
    if (!Number.isInteger(this.#keep) || this.#keep < 1) {
      throw new RangeError(`Invalid history size: ${this.#keep}; use a whole number of messages, 1 or more`);
    }
    const dir = resolve(dataDir);
    this.path = join(dir, HISTORY_FILE);
    let db: Database.Database | undefined;
    try {
      mkdirSync(dir, { recursive: true });
      db = new Database(this.path);
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a commit survives a crash or kill of this
      // process (the restart case); only an OS crash can lose the last ones.
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      // Proves the directory is writable now rather than at the first message.
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('opened_at', String(Date.now()));
    } catch (err) {
      db?.close();
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`Cannot open chat history in ${dir}: ${reason}. Check that the data directory (--data) is writable.`, {
        cause: err,
      });
    }
    this.#db = db;

    const lastOf = db.prepare<[string], { last_ms: number; last_seq: number }>(
      'SELECT last_ms, last_seq FROM rooms WHERE room = ?',
    );
    const setLast = db.prepare('INSERT OR REPLACE INTO rooms (room, last_ms, last_seq) VALUES (?, ?, ?)');
    const insert = db.prepare('INSERT INTO messages (room, ms, seq, sender, text, ts) VALUES (?, ?, ?, ?, ?, ?)');
    const trim = db.prepare(`DELETE FROM messages WHERE room = ? AND (ms, seq) < (
      SELECT ms, seq FROM messages WHERE room = ? ORDER BY ms DESC, seq DESC LIMIT 1 OFFSET ?)`);
    // Reading the last id inside an IMMEDIATE transaction keeps ids unique
    // even if two processes share the data directory.
    const append = db.transaction((room: string, from: string, text: string, now: number): ChatMessage => {
      const last = lastOf.get(room);
      let ms = now;
      let seq = 0;
      if (last && last.last_ms >= now) {
        ms = last.last_ms;
        seq = last.last_seq + 1;
      }
      insert.run(room, ms, seq, from, text, now);
      setLast.run(room, ms, seq);
      trim.run(room, room, this.#keep - 1);
      return { type: 'message', id: `${ms}-${seq}`, room, from, text, ts: now };
    });
    this.#append = (room, from, text, now) => append.immediate(room, from, text, now);
    this.#last = db.prepare(`SELECT ms, seq, sender, text, ts FROM (
      SELECT ms, seq, sender, text, ts FROM messages WHERE room = ? ORDER BY ms DESC, seq DESC LIMIT ?
    ) ORDER BY ms, seq`);
    this.#since = db.prepare(`SELECT ms, seq, sender, text, ts FROM messages
      WHERE room = ? AND (ms, seq) > (?, ?) ORDER BY ms, seq LIMIT ?`);
  }

  /** append stores a message, assigns it the room's next `<ms>-<seq>` id and returns it once committed. */
  append(room: string, from: string, text: string, now: number = Date.now()): ChatMessage {
    return this.#append(room, from, text, now);
  }

  /**
   * history returns the room's messages oldest first: with `since`, those
   * after that id; without, the last ones; at most `limit` (unset: keep).
   */
  history(room: string, options: { since?: string; limit?: number } = {}): ChatMessage[] {
    const limit = Math.max(0, Math.min(options.limit ?? this.#keep, this.#keep));
    const rows =
      options.since === undefined
        ? (this.#last.all(room, limit) as Row[])
        : (this.#since.all(room, ...splitId(options.since), limit) as Row[]);
    return rows.map((row) => ({
      type: 'message',
      id: `${row.ms}-${row.seq}`,
      room,
      from: row.sender,
      text: row.text,
      ts: row.ts,
    }));
  }

  /** close checkpoints the journal into the database file and closes it; later calls do nothing. */
  close(): void {
    if (!this.#db.open) return;
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.#db.close();
    }
  }
}

function splitId(id: string): [number, number] {
  const [ms = 0, seq = 0] = id.split('-').map(Number);
  return [Number.isFinite(ms) ? ms : 0, Number.isFinite(seq) ? seq : 0];
}
