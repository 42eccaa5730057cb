/**
 * Idle timeouts for many connections on one timer. A timer per connection
 * (idle-timer.ts) costs a Timeout, its closure and context on every idle
 * connection; here each connection costs one small entry in a Set, and
 * `touch` is one field write. The price is precision: a connection is closed
 * after between `idleMs` and `idleMs` + one slice (a quarter of `idleMs`)
 * without a message, which an idle timeout of seconds does not notice.
 */
import { CloseCode, type Conn } from 'wskit';

/** How many sweeps run per idle period: the timeout's precision is idleMs / SLICES. */
const SLICES = 4;

/** IdleWatch is one connection's entry: `touch` on every message, `stop` when done. */
export class IdleWatch {
  /** The sweep count at the last touch. */
  seen: number;
  readonly conn: Conn;
  readonly #sweep: IdleSweep;

  constructor(sweep: IdleSweep, conn: Conn, now: number) {
    this.#sweep = sweep;
    this.conn = conn;
    this.seen = now;
  }

  /** touch marks the connection active now. */
  touch(): void {
    this.seen = this.#sweep.sweeps;
  }

  /** stop forgets the connection; it will not be closed for idleness. */
  stop(): void {
    this.#sweep.forget(this);
  }
}

/**
 * IdleSweep closes (1000, "idle timeout") every watched connection that goes
 * `idleMs` without a `touch`, logging each as `<service>: <address> idle for
 * <idleMs> ms, closing`. Its one timer runs only while it watches a
 * connection, and never keeps the process alive.
 */
export class IdleSweep {
  /** How many sweeps have run: the clock of every entry. */
  sweeps = 0;
  readonly #entries = new Set<IdleWatch>();
  #timer: NodeJS.Timeout | null = null;
  readonly #idleMs: number;
  readonly #log: (line: string) => void;
  readonly #service: string;

  constructor(idleMs: number, log: (line: string) => void, service: string) {
    if (!(idleMs > 0)) throw new RangeError(`Cannot watch for idleness: the idle time ${idleMs} ms is not positive`);
    this.#idleMs = idleMs;
    this.#log = log;
    this.#service = service;
  }

  /** watch starts the idle clock of `conn`; call `touch` on the result for every message and `stop` when done. */
  watch(conn: Conn): IdleWatch {
    const entry = new IdleWatch(this, conn, this.sweeps);
    this.#entries.add(entry);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.ceil(this.#idleMs / SLICES)));
      this.#timer.unref();
    }
    return entry;
  }

  /** @internal forget removes an entry; the timer stops with the last one. */
  forget(entry: IdleWatch): void {
    this.#entries.delete(entry);
    if (this.#entries.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  #sweep(): void {
    this.sweeps++;
    // Idle for SLICES whole slices at least: seen before the sweep that began them.
    const oldest = this.sweeps - SLICES - 1;
    for (const entry of this.#entries) {
      if (entry.seen > oldest) continue;
      this.forget(entry);
      this.#log(`${this.#service}: ${entry.conn.remoteAddress} idle for ${this.#idleMs} ms, closing`);
      entry.conn.close(CloseCode.NormalClosure, 'idle timeout').catch(() => {});
    }
  }
}
