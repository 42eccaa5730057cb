/**
 * The memory row: server RSS, JS heap and external (Buffer) memory per idle
 * connection at N open WebSocket connections. Each measurement starts a fresh
 * server with --expose-gc, reads its memory after a full GC, opens N idle
 * connections spread over several client processes, and reads it again.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { BenchOptions } from '../options.js';
import { Pool, sleep } from '../pool.js';
import { startBenchServer, startEchoServer, startWskitServe, type Server, type ServerStats } from '../targets.js';
import { median } from '../stats.js';

/** MemorySample is one measurement: bytes per connection. */
export interface MemorySample {
  conns: number;
  rssPerConn: number;
  /** RSS less the growth of V8's young generation: what the connections keep. */
  keptRssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  /** The same two after every connection has sent one message and had it echoed (NaN for the floor, which does not echo). */
  keptRssAfterEchoPerConn: number;
  heapAfterEchoPerConn: number;
  /**
   * RSS growth read from /proc 3 s after the connections opened, with no
   * forced GC, against a baseline read the same way: what a user's `ps`
   * shows, garbage and a grown young generation included.
   */
  settledRssPerConn: number;
}

/**
 * MemoryImpl names a measured server: wskit (bench/servers/echo-wskit.ts, the
 * documented `for await` style), wskit-on-message (the same server with
 * `--on-message`: the documented `conn.onMessage` style), ws, the floor (bench/servers/idle-floor.ts:
 * the handshake by hand, then only the socket), or serve: `wskit serve`'s
 * real /echo route (idle timer, log lines, limits, metrics), measured from
 * outside through /proc only, as it answers no stats requests.
 */
export type MemoryImpl = 'wskit' | 'wskit-on-message' | 'ws' | 'floor' | 'serve';

/** SETTLE_MS is how long after a storm the no-GC RSS is read, as an outside observer would. */
const SETTLE_MS = 3_000;

/** procRss reads a process's resident set from /proc in bytes, without touching its heap (NaN off Linux). */
function procRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** MemoryResult holds the samples of every server. */
export interface MemoryResult {
  conns: number;
  samples: Record<MemoryImpl, MemorySample[]>;
  note: string;
}

// Client sockets are spread over processes so no single client needs more
// descriptors than the server does, and the client side's CPU is shared.
const PER_WORKER = 2_500;

function fdLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  } catch {
    return 1024;
  }
}

/** waitForConnections polls the server until it holds exactly `want` connections or `limitMs` passes; returns the last count. */
async function waitForConnections(server: Server, want: number, limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  let seen = (await server.stats(false)).connections;
  while (seen !== want && Date.now() < deadline) {
    await sleep(100);
    seen = (await server.stats(false)).connections;
  }
  return seen;
}

/** measureServe opens `conns` idle connections to `wskit serve`'s /echo and reads its RSS from /proc, no GC. */
async function measureServe(conns: number): Promise<MemorySample> {
  const server = await startWskitServe();
  const pool = new Pool('echo-worker', Math.max(1, Math.ceil(conns / PER_WORKER)));
  try {
    const shares = pool.share(conns);
    const url = `ws://127.0.0.1:${server.port}/echo`;
    await pool.all((i) => (i === 0 ? { cmd: 'open', load: { url, transport: 'ws', conns: 1, size: 32, inflight: 1, deflate: false } } : undefined));
    await pool.all((i) => (i === 0 ? { cmd: 'close' } : undefined));
    await sleep(1_000);
    const rss0 = procRss(server.pid);
    await pool.all((i) => (shares[i] ? { cmd: 'open', load: { url, transport: 'ws', conns: shares[i], size: 32, inflight: 1, deflate: false } } : undefined), 120_000);
    await sleep(SETTLE_MS);
    const nan = Number.NaN;
    return { conns, rssPerConn: nan, keptRssPerConn: nan, heapPerConn: nan, externalPerConn: nan, keptRssAfterEchoPerConn: nan, heapAfterEchoPerConn: nan, settledRssPerConn: (procRss(server.pid) - rss0) / conns };
  } finally {
    await pool.stop();
    await server.stop();
  }
}

async function measure(impl: MemoryImpl, conns: number): Promise<MemorySample> {
  if (impl === 'serve') return measureServe(conns);
  const server =
    impl === 'floor'
      ? await startBenchServer('floor', 'idle-floor', [], true)
      : impl === 'wskit-on-message'
        ? await startBenchServer('wskit onMessage', 'echo-wskit', ['--on-message'], true)
        : await startEchoServer(impl, false, true);
  const pool = new Pool('echo-worker', Math.max(1, Math.ceil(conns / PER_WORKER)));
  try {
    // A first connection warms up lazily-loaded code so it is not counted as per-connection cost.
    const shares = pool.share(conns);
    const url = `ws://127.0.0.1:${server.port}/echo`;
    await pool.all((i) => (i === 0 ? { cmd: 'open', load: { url, transport: 'ws', conns: 1, size: 32, inflight: 1, deflate: false } } : undefined));
    await pool.all((i) => (i === 0 ? { cmd: 'close' } : undefined));
    await waitForConnections(server, 0, 5_000);
    await sleep(1_000);
    const settled0 = procRss(server.pid);
    const before = await server.stats(true);
    await pool.all((i) => (shares[i] ? { cmd: 'open', load: { url, transport: 'ws', conns: shares[i], size: 32, inflight: 1, deflate: false } } : undefined), 120_000);
    const open = await waitForConnections(server, conns, 30_000);
    await sleep(SETTLE_MS);
    const settled = procRss(server.pid);
    const after = await server.stats(true);
    let afterEcho: ServerStats | null = null;
    if (impl !== 'floor') {
      await pool.all((i) => (shares[i] ? { cmd: 'once' } : undefined), 60_000);
      await sleep(500);
      afterEcho = await server.stats(true);
    }
    const kept = (s: ServerStats) => s.rss - s.youngGeneration;
    return {
      conns: open,
      rssPerConn: (after.rss - before.rss) / open,
      keptRssPerConn: (kept(after) - kept(before)) / open,
      heapPerConn: (after.heapUsed - before.heapUsed) / open,
      externalPerConn: (after.external - before.external) / open,
      keptRssAfterEchoPerConn: afterEcho ? (kept(afterEcho) - kept(before)) / open : Number.NaN,
      heapAfterEchoPerConn: afterEcho ? (afterEcho.heapUsed - before.heapUsed) / open : Number.NaN,
      settledRssPerConn: (settled - settled0) / open,
    };
  } finally {
    await pool.stop();
    await server.stop();
  }
}

/** runMemory measures wskit (both reading styles), ws, the floor and `wskit serve` in turn, `memoryRounds` times, at `idleConns` connections (capped by the fd limit). */
export async function runMemory(opts: BenchOptions, log: (line: string) => void): Promise<MemoryResult> {
  const limit = fdLimit();
  let conns = opts.idleConns;
  let note = '';
  if (conns + 200 > limit) {
    conns = Math.max(100, limit - 200);
    note = `open-file limit ${limit} (ulimit -n) allowed only ${conns} of the ${opts.idleConns} connections asked for; raise it with \`ulimit -n ${opts.idleConns + 1000}\` before npm run bench`;
    log(`memory: ${note}`);
  }
  const result: MemoryResult = { conns, samples: { wskit: [], 'wskit-on-message': [], ws: [], floor: [], serve: [] }, note };
  for (let round = 0; round < opts.memoryRounds; round++) {
    for (const impl of ['wskit', 'wskit-on-message', 'ws', 'floor', 'serve'] as const) {
      const sample = await measure(impl, conns);
      result.samples[impl].push(sample);
      log(`  memory ${impl} ${sample.conns} conns: RSS ${Math.round(sample.rssPerConn)} B/conn (${Math.round(sample.keptRssPerConn)} without the young generation), heap ${Math.round(sample.heapPerConn)} B/conn, external ${Math.round(sample.externalPerConn)} B/conn, RSS ${SETTLE_MS / 1000} s after the storm with no forced GC ${Math.round(sample.settledRssPerConn)} B/conn`);
    }
  }
  return result;
}

/** memoryMedians returns the median per-connection figures of one server. */
export function memoryMedians(samples: MemorySample[]): { rss: number; keptRss: number; heap: number; external: number; keptRssAfterEcho: number; heapAfterEcho: number; settledRss: number } {
  return {
    settledRss: median(samples.map((s) => s.settledRssPerConn)),
    rss: median(samples.map((s) => s.rssPerConn)),
    keptRss: median(samples.map((s) => s.keptRssPerConn)),
    keptRssAfterEcho: median(samples.map((s) => s.keptRssAfterEchoPerConn)),
    heapAfterEcho: median(samples.map((s) => s.heapAfterEchoPerConn)),
    heap: median(samples.map((s) => s.heapPerConn)),
    external: median(samples.map((s) => s.externalPerConn)),
  };
}
