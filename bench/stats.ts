/**
 * Small statistics for the benchmark: medians over rounds and a mergeable
 * latency histogram, so worker processes can send compact summaries instead
 * of every sample.
 */

/** median returns the middle value of `values` (mean of the two middles), or NaN when empty. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

// Buckets grow by 2 % from 1 µs, so any reported percentile is within 2 % of
// the true sample; 1,000 buckets reach past 400 s, far beyond any bench window.
const BASE_US = 1;
const GROWTH = 1.02;
const BUCKETS = 1000;
const LOG_GROWTH = Math.log(GROWTH);

/** Histogram records latencies in microseconds into log-spaced buckets; `merge` adds another's counts. */
export class Histogram {
  /** counts per bucket; exposed so a worker can send it over IPC. */
  readonly counts: number[];
  /** count is the number of samples recorded. */
  count = 0;

  constructor(counts?: readonly number[]) {
    this.counts = counts ? [...counts] : new Array<number>(BUCKETS).fill(0);
    for (const c of this.counts) this.count += c;
  }

  /** record adds one latency sample, in microseconds; values below 1 µs land in the first bucket. */
  record(us: number): void {
    const i = us <= BASE_US ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us / BASE_US) / LOG_GROWTH));
    this.counts[i]! += 1;
    this.count += 1;
  }

  /** merge adds every sample of `other` to this histogram. */
  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
  }

  /** percentile returns the upper bound (µs) of the bucket holding the p-th percentile (0–100), or NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return BASE_US * GROWTH ** i;
    }
    return BASE_US * GROWTH ** (BUCKETS - 1);
  }
}
