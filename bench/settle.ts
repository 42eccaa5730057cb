/**
 * settle waits until a process has gone quiet, so work left over from the
 * previous row (queued echoes of dropped connections) does not leak into the
 * next measured window.
 */
import { cpuMs } from './ipc.js';
import { sleep } from './pool.js';

/** settle polls the CPU time of `pid` every 100 ms until one interval uses under 10 ms, or `limitMs` passes. */
export async function settle(pid: number, limitMs = 3_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  let last = cpuMs(pid);
  while (Date.now() < deadline) {
    await sleep(100);
    const now = cpuMs(pid);
    if (!(now - last >= 10)) return; // also stops when /proc is unreadable (NaN)
    last = now;
  }
}
