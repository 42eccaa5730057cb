/**
 * The h2 row: wskit's echo with every WebSocket a stream of one HTTP/2
 * connection (RFC 8441), against the same echo over HTTP/1.1 with a TCP
 * connection per WebSocket. 1 KiB text messages, 50 WebSockets, closed
 * loop; both loads come from the same Node raw client (pre-encoded masked
 * frames; for h2, one h2c session per worker carrying all its streams), so
 * the difference is the transport. The two servers alternate within each
 * round, as in the echo rows.
 */
import type { BenchOptions } from '../options.js';
import { Pool } from '../pool.js';
import { startBenchServer, type Server } from '../targets.js';
import { type EchoRow, measureLoad, type Sample } from './echo.js';

/** The transports the row compares. */
export type Http2Impl = 'h2' | 'h1';

/** Http2Result holds every round's sample of the row, by transport. */
export interface Http2Result {
  row: EchoRow;
  samples: Record<Http2Impl, Sample[]>;
}

/** The row: 1 KiB × 50 WebSockets, one message in flight on each. */
export const HTTP2_ROW: EchoRow = { id: '1KiB x50 closed', size: 1024, conns: 50, inflight: 1, deflate: false };

/** runHttp2 measures the h2 row over `opts.rounds` rounds (h2, then h1, in each). Progress goes to `log`. */
export async function runHttp2(opts: BenchOptions, log: (line: string) => void): Promise<Http2Result> {
  const servers = new Map<Http2Impl, Server>();
  const pool = new Pool('echo-worker', opts.workers);
  try {
    servers.set('h2', await startBenchServer('wskit h2', 'echo-wskit-http2'));
    servers.set('h1', await startBenchServer('wskit h1', 'echo-wskit'));
    const result: Http2Result = { row: HTTP2_ROW, samples: { h2: [], h1: [] } };
    log(`http2: ${HTTP2_ROW.id} × ${opts.rounds} rounds × h2 (${HTTP2_ROW.conns} streams on one session per worker) and h1 (${HTTP2_ROW.conns} TCP connections)`);
    for (let round = 0; round < opts.rounds; round++) {
      for (const impl of ['h2', 'h1'] as const) {
        const server = servers.get(impl)!;
        const sample = await measureLoad(pool, server, HTTP2_ROW, opts, impl === 'h2' ? 'h2' : 'raw', `ws://127.0.0.1:${server.port}/echo`);
        result.samples[impl].push(sample);
      }
    }
    log(`  ${HTTP2_ROW.id}  h2 ${result.samples.h2.map((s) => Math.round(s.msgsPerSec)).join(',')}/s  h1 ${result.samples.h1.map((s) => Math.round(s.msgsPerSec)).join(',')}/s`);
    return result;
  } finally {
    await pool.stop();
    for (const server of servers.values()) await server.stop();
  }
}
