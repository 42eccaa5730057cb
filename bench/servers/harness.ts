/**
 * The part every bench server shares: listen on 127.0.0.1 port 0 and answer
 * the runner's `info` and `stats` requests over IPC. Stats come from inside
 * the server process because only it can see its own JS heap.
 */
import type { Server } from 'node:net';
import { getHeapSpaceStatistics } from 'node:v8';
import { serveRequests } from '../ipc.js';

/** Counter tracks how many connections a bench server holds. */
export interface Counter {
  open: number;
}

/** hasFlag reports whether the server was started with `--name` on its command line. */
export function hasFlag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/**
 * startHarness listens with `server` on 127.0.0.1 (ephemeral port) and serves
 * `info` (port), `stats` (RSS, heap, connection count; after a full GC when the
 * process runs with --expose-gc) until the runner disconnects.
 */
export function startHarness(server: Server, counter: Counter): void {
  server.listen(0, '127.0.0.1', () => {
    serveRequests(async (req) => {
      switch (req.cmd) {
        case 'info': {
          const address = server.address();
          return { ok: true, port: typeof address === 'object' && address ? address.port : 0 };
        }
        case 'stats': {
          const gc = (globalThis as { gc?: () => void }).gc;
          if (req.gc && gc) {
            // Two passes with a turn of the event loop between them let weak
            // callbacks and finalisers run, so the heap figure is stable.
            gc();
            await new Promise((r) => setImmediate(r));
            gc();
          }
          const mem = process.memoryUsage();
          const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
          return { ok: true, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, youngGeneration: young?.physical_space_size ?? 0, connections: counter.open };
        }
        default:
          return { ok: false, error: `unknown command ${req.cmd}` };
      }
    });
    process.send?.({ id: 0, event: { ready: true } });
  });
}
