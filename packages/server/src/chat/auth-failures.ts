/**
 * Failed authentication attempts per client address (bad tokens on `/ws`,
 * bad keys on the API): each address may fail `perMinute` times in a burst,
 * refilled evenly over a minute; after that its attempts get 429 until a
 * token refills. No timers: callers pass the clock. Memory is bounded: at
 * most `maxAddresses` addresses are tracked, the least recently failed
 * forgotten first.
 */

/** Settings of {@link AuthFailures}. */
export interface AuthFailuresOptions {
  /** Failures allowed per address per minute (and at once). */
  perMinute: number;
  /** Addresses tracked at most. Default 100 000. */
  maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

/** AuthFailures counts failed attempts and tells when an address must wait. */
export class AuthFailures {
  readonly #perMinute: number;
  readonly #maxAddresses: number;
  /** In order of last failure, oldest first (re-inserted on each failure). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: AuthFailuresOptions) {
    if (!Number.isSafeInteger(options.perMinute) || options.perMinute < 1) {
      throw new RangeError(`Invalid maxAuthFailuresPerMinute ${options.perMinute}: use a whole number, 1 or more`);
    }
    this.#perMinute = options.perMinute;
    this.#maxAddresses = options.maxAddresses ?? 100_000;
  }

  /**
   * retryAfter tells how many whole seconds `address` must wait before its
   * next attempt, or 0 when it may try now.
   */
  retryAfter(address: string, now: number = Date.now()): number {
    const bucket = this.#buckets.get(address);
    if (bucket === undefined) return 0;
    const tokens = this.#refill(bucket, now);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60_000) / this.#perMinute / 1000);
  }

  /** fail records a failed attempt by `address`. */
  fail(address: string, now: number = Date.now()): void {
    let bucket = this.#buckets.get(address);
    if (bucket === undefined) {
      bucket = { tokens: this.#perMinute, last: now };
      if (this.#buckets.size >= this.#maxAddresses) this.#buckets.delete(this.#buckets.keys().next().value!);
    } else {
      bucket.tokens = this.#refill(bucket, now);
      bucket.last = Math.max(bucket.last, now);
      this.#buckets.delete(address);
    }
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.#buckets.set(address, bucket);
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  #refill(bucket: Bucket, now: number): number {
    const elapsed = Math.max(0, now - bucket.last);
    return Math.min(this.#perMinute, bucket.tokens + (elapsed * this.#perMinute) / 60_000);
  }
}
