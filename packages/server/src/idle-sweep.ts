/**
 * Idle timeouts for many connections on one timer. A timer per connection
 * costs a Timeout, its closure and context on every idle connection; here
 * each connection costs one entry in a Map (the connection to the sweep it
 * was last seen in), and `touch` is one Map write. The price is precision:
 * a connection is closed after between `idleMs` and `idleMs` + one slice (a
 * quarter of `idleMs`) without a message, which an idle timeout of seconds
 * does not notice. /add and /echo each have one.
 */
import { CloseCode, type Conn } from 'wskit';

/** How many sweeps run per idle period: the timeout's precision is idleMs / SLICES. */
const SLICES = 4;

/**
 * IdleSweep closes (1000, "idle timeout") every watched connection that goes
 * `idleMs` without a `touch`, logging each as `<service>: <address> idle for
 * <idleMs> ms, closing`. Its one timer runs only while it watches a
 * connection, and never keeps the process alive.
 */
export class IdleSweep {
  /** How many sweeps have run: the clock of every entry. */
  #sweeps = 0;
  /** Each watched connection and the sweep count at its last touch. */
  readonly #seen = new Map<Conn, number>();
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

  /** watch starts the idle clock of `conn`; `touch` it on every message and `stop` it when done. */
  watch(conn: Conn): void {
    this.#seen.set(conn, this.#sweeps);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.ceil(this.#idleMs / SLICES)));
      this.#timer.unref();
    }
  }

  /** touch marks `conn` active now; a connection not watched (stopped, or closed for idleness) stays so. */
  touch(conn: Conn): void {
    if (this.#seen.has(conn)) this.#seen.set(conn, this.#sweeps);
  }

  /** stop forgets `conn`: it will not be closed for idleness. The timer stops with the last one. */
  stop(conn: Conn): void {
    this.#seen.delete(conn);
    if (this.#seen.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** watching lists the connections watched now: open ones whose closing has not begun. */
  watching(): IterableIterator<Conn> {
    return this.#seen.keys();
  }

  #sweep(): void {
    this.#sweeps++;
    // Idle for SLICES whole slices at least: seen before the sweep that began them.
    const oldest = this.#sweeps - SLICES - 1;
    // forEach, not for-of: no [conn, seen] pair is made per watched connection on every sweep.
    this.#seen.forEach((seen, conn) => {
      if (seen > oldest) return;
      this.stop(conn);
      this.#log(`${this.#service}: ${conn.remoteAddress} idle for ${this.#idleMs} ms, closing`);
      conn.close(CloseCode.NormalClosure, 'idle timeout').catch(() => {});
    });
  }
}
