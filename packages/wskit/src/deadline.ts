/**
 * Deadline: one timer per deadline however often it moves. Setting a later
 * deadline (the usual case: extend on every message) only records it; the
 * timer re-arms itself when it fires early.
 *
 * `passed` reads no clock: it is true once the timer has found the deadline
 * passed, or at once when it was set to a time already past. A write checks
 * it on every frame (a broadcast: once per member), where a clock reading
 * each would cost more than the check; the price is that between the
 * deadline and its timer (the event loop's lag, normally under a
 * millisecond) it still reads false.
 */

/** Deadline calls `onExpire` once the time set with {@link Deadline.set} has passed. */
export class Deadline {
  #at = 0;
  #timer: NodeJS.Timeout | null = null;
  #due = 0;
  #passed = false;
  readonly #onExpire: () => void;

  constructor(onExpire: () => void) {
    this.#onExpire = onExpire;
  }

  /** The deadline in epoch milliseconds, 0 when none is set. */
  get at(): number {
    return this.#at;
  }

  /** True when a deadline is set and has passed (as its timer, or `set`, found; see the file overview). */
  get passed(): boolean {
    return this.#passed;
  }

  /** Set the deadline (a Date or epoch milliseconds), or clear it with null or 0. */
  set(when: Date | number | null): void {
    const at = when === null ? 0 : +when;
    if (!Number.isFinite(at)) throw new TypeError(`Invalid deadline: ${String(when)}`);
    this.#at = at;
    if (at === 0) return this.clear();
    if (this.#timer !== null && this.#due <= at) {
      // Moving a deadline that has not passed later keeps it unpassed; one that had passed is read now.
      if (this.#passed) this.#passed = Date.now() >= at;
      return;
    }
    this.#passed = Date.now() >= at;
    this.#arm(at);
  }

  /** Cancel the deadline and its timer. */
  clear(): void {
    this.#at = 0;
    this.#passed = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(at: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#due = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    if (this.#at === 0) return;
    if (Date.now() < this.#at) return this.#arm(this.#at);
    this.#passed = true;
    this.#onExpire();
  }
}
