/**
 * A token bucket per client: `rate` tokens a second refill a bucket of
 * `burst` tokens, each message takes one. No timers: the caller passes the
 * clock, so the bucket is tested without waiting.
 */

/** Settings of a {@link TokenBucket}. */
export interface RateLimitOptions {
  /** Messages per second allowed on average; 0 lifts the limit. */
  rate: number;
  /** Messages allowed at once after a quiet spell; unset or below 1: max(1, rate). */
  burst?: number;
}

/** TokenBucket decides whether one client may send another message now. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  /** Starts full, so a client may send `burst` messages right after joining. */
  constructor(options: RateLimitOptions, now: number = Date.now()) {
    if (!Number.isFinite(options.rate) || options.rate < 0) {
      throw new RangeError(`Invalid rate limit: ${options.rate} messages/s; use 0 (no limit) or more`);
    }
    this.#rate = options.rate;
    this.#burst = options.burst !== undefined && options.burst >= 1 ? options.burst : Math.max(1, options.rate);
    this.#tokens = this.#burst;
    this.#last = now;
  }

  /** take spends one token at time `now` (ms) and tells whether the message may pass. */
  take(now: number = Date.now()): boolean {
    if (this.#rate === 0) return true;
    // A clock that steps back must not mint tokens or go negative.
    const elapsed = Math.max(0, now - this.#last);
    this.#last = Math.max(this.#last, now);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
