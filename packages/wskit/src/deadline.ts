/**
 * Deadline: one timer per deadline however often it moves. Setting a later
 * deadline (the usual case: extend on every message) only records it; the
 * timer re-arms itself when it fires early.
 */

/** Deadline calls `onExpire` once the time set with {@link Deadline.set} has passed. */
export class Deadline {
  #at = 0;
  #timer: NodeJS.Timeout | null = null;
  #due = 0;
  readonly #onExpire: () => void;

  constructor(onExpire: () => void) {
    this.#onExpire = onExpire;
  }

  /** The deadline in epoch milliseconds, 0 when none is set. */
  get at(): number {
    return this.#at;
  }

  /** True when a deadline is set and has passed. */
  get passed(): boolean {
    return this.#at !== 0 && Date.now() >= this.#at;
  }

  /** Set the deadline (a Date or epoch milliseconds), or clear it with null or 0. */
  set(when: Date | number | null): void {
    const at = when === null ? 0 : +when;
    if (!Number.isFinite(at)) throw new TypeError(`Invalid deadline: ${String(when)}`);
    this.#at = at;
    if (at === 0) return this.clear();
    if (this.#timer !== null && this.#due <= at) return;
    this.#arm(at);
  }

  /** Cancel the deadline and its timer. */
  clear(): void {
    this.#at = 0;
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
    this.#onExpire();
  }
}
