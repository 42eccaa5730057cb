/**
 * A pool of load-generator processes that run one command together. Workers
 * are forked once per section and reused across rows, so process start-up
 * stays out of the measured windows.
 */
import { fileURLToPath } from 'node:url';
import { Child, type Reply, type Request } from './ipc.js';

/** Pool is a fixed set of forked load workers of one kind. */
export class Pool {
  readonly workers: Child[];

  constructor(kind: 'echo-worker' | 'fanout-worker' | 'storm-worker', size: number) {
    const path = fileURLToPath(new URL(`./load/${kind}.js`, import.meta.url));
    this.workers = Array.from({ length: size }, (_, i) => new Child(`${kind}#${i}`, path));
  }

  /** share splits `total` items over the workers as evenly as possible. */
  share(total: number): number[] {
    const n = this.workers.length;
    return this.workers.map((_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
  }

  /** all sends a request to each worker (built per worker index) and resolves with every reply. */
  all(build: (index: number) => Request | undefined, timeoutMs = 60_000): Promise<Reply[]> {
    return Promise.all(
      this.workers.map((w, i) => {
        const req = build(i);
        return req ? w.request(req, timeoutMs) : Promise.resolve({ ok: true, skipped: true } as Reply);
      }),
    );
  }

  /** stop ends every worker process. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

/** sleep waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
