/**
 * The echo rows: every size × connection count × in-flight depth, measured on
 * wskit, ws and (without permessage-deflate) wskit/ws and raw TCP,
 * alternating the servers within each round so slow drift of the machine
 * hits all of them alike.
 */
import { performance } from 'node:perf_hooks';
import { busyCpuMs, cpuMs } from '../ipc.js';
import type { BenchOptions } from '../options.js';
import { Pool, sleep } from '../pool.js';
import { settle } from '../settle.js';
import { Histogram } from '../stats.js';
import { startEchoServer, wskitWsMissing, type Server } from '../targets.js';

/** MAX_INFLIGHT_BYTES caps a pipelined row's total outstanding payload; the row id shows a reduced depth. */
export const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;

/** FILL_LIMIT_MS bounds the wait, after the warm-up, for the first echoes of a deep pipeline. */
const FILL_LIMIT_MS = 8_000;
/** MIN_ECHOES: a measured window is extended (by at most EXTEND_LIMIT_MS) until this many echoes are counted. */
const MIN_ECHOES = 20;
const EXTEND_LIMIT_MS = 5_000;

/** EchoRow is one line of the echo table. */
export interface EchoRow {
  id: string;
  size: number;
  conns: number;
  inflight: number;
  deflate: boolean;
}

/** Sample is one measured window against one server. */
export interface Sample {
  msgsPerSec: number;
  mbPerSec: number;
  p50us: number;
  p99us: number;
  /** serverCpu and genCpu are percentages of one core over the window. */
  serverCpu: number;
  /** Server CPU per echoed message in µs, from /proc over the window (issue 16 compares what it adds above raw TCP). */
  cpuUsPerMsg: number;
  genCpu: number;
  /** otherCpu is CPU used by everything else on the machine (other users' jobs, the kernel's softirqs), % of one core. */
  otherCpu: number;
  errors: number;
}

/** Impl names the echo servers: wskit's native API, ws's API on wskit (wskit/ws), the npm ws package, raw TCP. */
export type Impl = 'wskit' | 'wskit/ws' | 'ws' | 'tcp';

/**
 * compatTarget is the speed wskit/ws should reach on a row, as a multiple of
 * ws's msg/s (issue 12): at least 1.3× on the pipelined rows of small
 * messages (under 64 KiB) and 1.5× on every row of large ones (64 KiB and
 * up). Other rows, and the permessage-deflate rows, have none.
 */
export function compatTarget(row: EchoRow): number | undefined {
  if (row.deflate) return undefined;
  if (row.size >= 64 * 1024) return 1.5;
  return row.inflight > 1 ? 1.3 : undefined;
}

/** EchoResult holds every round's sample of one row, by server. */
export interface EchoResult {
  row: EchoRow;
  samples: Partial<Record<Impl, Sample[]>>;
}

/** sizeLabel writes a byte count as 32 B, 1 KiB or 1 MiB. */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** echoRows lists the rows `opts` selects, permessage-deflate or not. */
export function echoRows(opts: BenchOptions, deflate: boolean): EchoRow[] {
  const rows: EchoRow[] = [];
  for (const size of opts.sizes) {
    for (const conns of opts.conns) {
      for (const inflight of opts.inflight) {
        const mode = inflight === 1 ? 'closed' : `pipe${inflight}`;
        const id = `${deflate ? 'pmd ' : ''}${sizeLabel(size).replace(' ', '')} x${conns} ${mode}`;
        if (opts.rows.length > 0 && !opts.rows.some((r) => id.includes(r))) continue;
        // Bound the bytes in flight: 1 MiB × 50 × 16 would queue 800 MiB and take longer to
        // reach a steady state than a whole round lasts.
        const depth = inflight === 1 ? 1 : Math.max(1, Math.min(inflight, Math.floor(MAX_INFLIGHT_BYTES / (size * conns))));
        rows.push({ id: depth === inflight ? id : `${id} (depth ${depth})`, size, conns, inflight: depth, deflate });
      }
    }
  }
  return rows;
}

function measure(pool: Pool, server: Server, impl: Impl, row: EchoRow, opts: BenchOptions): Promise<Sample> {
  // The TCP ceiling is measured with the same generator as the WebSocket rows, unframed.
  const transport = impl !== 'tcp' ? opts.gen : opts.gen === 'native' ? 'native-tcp' : 'tcp';
  const url = impl === 'tcp' ? `tcp://127.0.0.1:${server.port}` : `ws://127.0.0.1:${server.port}/echo`;
  return measureLoad(pool, server, row, opts, transport, url);
}

/**
 * measureLoad measures one window of `row` against `server`: the pool's
 * workers open their share of the connections to `url` with the echo
 * worker's `transport` (ws, raw, native, tcp, native-tcp or h2), warm up,
 * count echoes and CPU over the measured window, and close.
 */
export async function measureLoad(pool: Pool, server: Server, row: EchoRow, opts: BenchOptions, transport: string, url: string): Promise<Sample> {
  const shares = pool.share(row.conns);
  const only = (req: Record<string, unknown> & { cmd: string }) => (i: number) => (shares[i] ? req : undefined);
  await pool.all((i) => (shares[i] ? { cmd: 'open', load: { url, transport, conns: shares[i], size: row.size, inflight: row.inflight, deflate: row.deflate } } : undefined));
  try {
    await pool.all(only({ cmd: 'go' }));
    const count = async (key: 'total' | 'echoes') => (await pool.all(only({ cmd: 'count' }))).reduce((n, r) => n + ((r[key] as number) || 0), 0);
    await sleep(opts.warmupMs);
    // Deep pipelines of large (or compressed) messages take longer than the warm-up to fill:
    // wait, within a bound, until about one echo per connection has come back.
    const filled = performance.now() + FILL_LIMIT_MS;
    while ((await count('total')) < row.conns && performance.now() < filled) await sleep(50);
    await pool.all(only({ cmd: 'mark' }));
    const cpu0 = cpuMs(server.pid);
    const busy0 = busyCpuMs();
    const t0 = performance.now();
    await sleep(opts.measureMs);
    // Slow rows (1 MiB compressed over 50 connections) may need a longer window for a meaningful count.
    const extended = performance.now() + EXTEND_LIMIT_MS;
    while ((await count('echoes')) < MIN_ECHOES && performance.now() < extended) await sleep(100);
    const stops = (await pool.all(only({ cmd: 'stop' }))).filter((r) => !r.skipped);
    const cpu1 = cpuMs(server.pid);
    const busy1 = busyCpuMs();
    const wallMs = performance.now() - t0;
    const histogram = new Histogram();
    let echoes = 0;
    let genCpuMs = 0;
    let errors = 0;
    let elapsedMs = 0;
    for (const r of stops) {
      echoes += r.echoes as number;
      genCpuMs += r.cpuMs as number;
      errors += r.errors as number;
      elapsedMs = Math.max(elapsedMs, r.elapsedMs as number);
      histogram.merge(new Histogram(r.histogram as number[]));
    }
    const msgsPerSec = (echoes * 1000) / elapsedMs;
    return {
      msgsPerSec,
      mbPerSec: (msgsPerSec * row.size) / 1e6,
      p50us: row.inflight === 1 ? histogram.percentile(50) : Number.NaN,
      p99us: row.inflight === 1 ? histogram.percentile(99) : Number.NaN,
      serverCpu: ((cpu1 - cpu0) / wallMs) * 100,
      cpuUsPerMsg: echoes > 0 ? ((cpu1 - cpu0) * 1000) / echoes : Number.NaN,
      genCpu: (genCpuMs / elapsedMs) * 100,
      otherCpu: Math.max(0, ((busy1 - busy0 - (cpu1 - cpu0) - genCpuMs) / wallMs) * 100),
      errors,
    };
  } finally {
    await pool.all(only({ cmd: 'close' }));
    await settle(server.pid);
  }
}

/**
 * runEcho measures every selected row: for each row, `rounds` rounds, each
 * running wskit, wskit/ws, ws and TCP once in that order (without
 * permessage-deflate; with it, wskit and ws only, which keeps a full run
 * within its 10 minutes). wskit/ws is left out, with a line in the log, when
 * the library does not provide it yet. Progress goes to `log`.
 */
export async function runEcho(opts: BenchOptions, deflate: boolean, log: (line: string) => void): Promise<EchoResult[]> {
  const rows = echoRows(opts, deflate);
  if (rows.length === 0) return [];
  const impls: Impl[] = deflate ? ['wskit', 'ws'] : ['wskit', 'wskit/ws', 'ws', 'tcp'];
  if (impls.includes('wskit/ws')) {
    const missing = await wskitWsMissing();
    if (missing) {
      log(`echo: no wskit/ws column: ${missing}`);
      impls.splice(impls.indexOf('wskit/ws'), 1);
    }
  }
  const servers = new Map<Impl, Server>();
  const pool = new Pool('echo-worker', opts.workers);
  try {
    for (const impl of impls) servers.set(impl, await startEchoServer(impl, deflate, false, opts.wskitStyle));
    log(`echo${deflate ? ' (permessage-deflate)' : ''}: ${rows.length} rows × ${opts.rounds} rounds × ${impls.join(' ')}; wskit is "${servers.get('wskit')!.label}"`);
    const results: EchoResult[] = [];
    for (const row of rows) {
      const result: EchoResult = { row, samples: {} };
      for (let round = 0; round < opts.rounds; round++) {
        for (const impl of impls) {
          const sample = await measure(pool, servers.get(impl)!, impl, row, opts);
          (result.samples[impl] ??= []).push(sample);
        }
      }
      results.push(result);
      log(`  ${row.id.padEnd(22)} ${impls.map((impl) => `${impl} ${fmtRate(result.samples[impl]!)}`).join('  ')}`);
    }
    return results;
  } finally {
    await pool.stop();
    for (const server of servers.values()) await server.stop();
  }
}

function fmtRate(samples: Sample[]): string {
  return samples.map((s) => `${Math.round(s.msgsPerSec)}/s(${Math.round(s.serverCpu)}%|${Math.round(s.genCpu)}%)`).join(',');
}
