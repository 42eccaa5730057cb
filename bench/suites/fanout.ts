/**
 * The fan-out row: one room of N subscribers and one publisher. For each
 * server a bounded search finds the highest publish rate at which every
 * subscriber receives every message exactly once and the delivery p99 stays
 * within 50 ms. wskit runs as `wskit serve` (its real chat route); ws runs the
 * broadcast server of bench/servers/chat-ws.ts, speaking the same envelope.
 * Each round then runs one trial at {@link CPU_RATE} on the broadcast floor
 * of bench/servers/broadcast-floor.ts (one write per subscriber per message
 * and nothing else), so the CPU per delivery of wskit and ws at that rate can
 * be set against the least any such server spends.
 * The Redis row runs the same search on two `wskit serve --redis` nodes
 * sharing one room through a real redis-server (bench/redis-server.ts); the
 * cluster row on the same two nodes through a Redis Cluster of
 * {@link CLUSTER_MASTERS} masters.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { busyCpuMs, cpuMs } from '../ipc.js';
import type { BenchOptions } from '../options.js';
import { Pool, sleep } from '../pool.js';
import { settle } from '../settle.js';
import { Histogram, median } from '../stats.js';
import { redisMissing, startRedis, startRedisClusterBench } from '../redis-server.js';
import { startBenchServer, startWskitServe, wskitAvailable, type Server } from '../targets.js';

/** P99_LIMIT_MS is the delivery-latency bound a sustainable rate must meet. */
export const P99_LIMIT_MS = 50;
/**
 * CPU_RATE is the publish rate at which the servers' CPU per delivery is
 * compared (issue 16, target 3). The searches reach it by doubling from the
 * default start of 50 msg/s; the floor runs only a trial at this rate.
 */
export const CPU_RATE = 100;
/** CPU_TARGET is issue 16's bound on wskit's server CPU per delivery at CPU_RATE, as a fraction of ws's. */
export const CPU_TARGET = 0.7;
const DRAIN_MS = 2_000;
const START_RATE = 50;
const MAX_RATE = 20_000;
const ROOM = 'bench';
const SUBSCRIBER_WORKERS = 2;

/** Trial is one publish-rate attempt. */
export interface Trial {
  rate: number;
  sent: number;
  delivered: number;
  expected: number;
  /** repeats counts messages a subscriber got twice or out of order; a pass needs 0. */
  repeats: number;
  p50ms: number;
  p99ms: number;
  deliveriesPerSec: number;
  serverCpu: number;
  /** Server CPU per delivered message, in µs (CPU over the publishing window, as `serverCpu`). */
  cpuUsPerDelivery: number;
  genCpu: number;
  otherCpu: number;
  pass: boolean;
}

/** FanoutSample is the outcome of one search: the best passing trial (undefined if none passed) and every trial. */
export interface FanoutSample {
  best?: Trial;
  trials: Trial[];
}

/** Measured is what a trial measures: the processes doing the serving (their CPU is "server CPU") and a label for the log. */
interface Measured {
  label: string;
  pids: number[];
}

const sumCpuMs = (pids: number[]) => pids.reduce((n, pid) => n + cpuMs(pid), 0);

/**
 * openSubscribers spreads the room's `fanoutClients` subscribers over the
 * pool's workers (distinct names by their numbering), worker i connecting to
 * `port(i)`. They use the Node raw client, or `ws` with --gen ws: the C
 * generator speaks only echo.
 */
async function openSubscribers(pool: Pool, opts: BenchOptions, port: (worker: number) => number): Promise<void> {
  const shares = pool.share(opts.fanoutClients);
  const starts = shares.map((_, i) => shares.slice(0, i).reduce((a, b) => a + b, 0));
  const transport = opts.gen === 'ws' ? 'ws' : 'raw';
  await pool.all((i) => ({ cmd: 'open', port: port(i), from: starts[i], count: shares[i], transport, room: ROOM }), 120_000);
}

/** FanoutResult holds each server's searches, and the floor's trials at CPU_RATE. */
export interface FanoutResult {
  clients: number;
  wskitLabel: string;
  samples: Record<'wskit' | 'ws', FanoutSample[]>;
  /** floor holds one trial at CPU_RATE per round on bench/servers/broadcast-floor.ts. */
  floor: Trial[];
}

function openPublisher(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=${ROOM}&name=publisher`, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

/** publish sends `total` messages at `rate` per second, paced by a 2 ms timer; resolves when all are sent. */
function publish(ws: WebSocket, trial: number, rate: number, total: number): Promise<void> {
  const pad = 'x'.repeat(24);
  return new Promise((resolve) => {
    let sent = 0;
    const start = performance.now();
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) {
        ws.send(JSON.stringify({ type: 'message', text: `bench ${trial} ${sent} ${process.hrtime.bigint()} ${pad}` }));
        sent++;
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
}

async function runTrial(pool: Pool, server: Measured, publisher: WebSocket, id: number, rate: number, clients: number, trialMs: number): Promise<Trial> {
  await pool.all(() => ({ cmd: 'trial', trial: id }));
  const total = Math.max(1, Math.round((rate * trialMs) / 1000));
  const expected = total * clients;
  const cpu0 = sumCpuMs(server.pids);
  const busy0 = busyCpuMs();
  const t0 = performance.now();
  await publish(publisher, id, rate, total);
  const publishMs = performance.now() - t0;
  // CPU over the publishing window: the drain that follows is mostly idle and would dilute it.
  const cpu1 = sumCpuMs(server.pids);
  const busy1 = busyCpuMs();
  const deadline = Date.now() + DRAIN_MS;
  let delivered = 0;
  while (Date.now() < deadline) {
    delivered = (await pool.all(() => ({ cmd: 'count' }))).reduce((n, r) => n + (r.delivered as number), 0);
    if (delivered >= expected) break;
    await sleep(25);
  }
  const reports = await pool.all(() => ({ cmd: 'report' }));
  const histogram = new Histogram();
  let genCpuMs = 0;
  let repeats = 0;
  delivered = 0;
  for (const r of reports) {
    delivered += r.delivered as number;
    repeats += (r.repeats as number | undefined) ?? 0;
    genCpuMs += r.cpuMs as number;
    histogram.merge(new Histogram(r.histogram as number[]));
  }
  const p99ms = histogram.percentile(99) / 1000;
  return {
    rate,
    sent: total,
    delivered,
    expected,
    repeats,
    p50ms: histogram.percentile(50) / 1000,
    p99ms,
    deliveriesPerSec: (delivered * 1000) / publishMs,
    serverCpu: ((cpu1 - cpu0) / publishMs) * 100,
    cpuUsPerDelivery: delivered > 0 ? ((cpu1 - cpu0) * 1000) / delivered : Number.NaN,
    // Subscribers report CPU up to the end of the drain; most of it falls in the publishing window.
    genCpu: (genCpuMs / publishMs) * 100,
    otherCpu: Math.max(0, ((busy1 - busy0 - (cpu1 - cpu0) - genCpuMs) / publishMs) * 100),
    pass: delivered >= expected && repeats === 0 && p99ms <= P99_LIMIT_MS,
  };
}

/** trialLine describes a trial for the log: deliveries, p99, CPU (with µs per delivery) and the verdict. */
function trialLine(label: string, trial: Trial): string {
  return `${label} ${trial.rate} msg/s: ${trial.delivered}/${trial.expected} delivered${trial.repeats ? ` (${trial.repeats} repeated)` : ''}, p99 ${trial.p99ms.toFixed(1)} ms, CPU srv ${Math.round(trial.serverCpu)}% (${trial.cpuUsPerDelivery.toFixed(2)} µs/delivery) gen ${Math.round(trial.genCpu)}% other ${Math.round(trial.otherCpu)}% → ${trial.pass ? 'pass' : 'fail'}`;
}

/**
 * search doubles the rate from START_RATE while trials pass, then bisects
 * between the best pass and the lowest failure until they are within 10 %,
 * stopping after `maxTrials` trials in all. A failing rate is tried twice.
 */
async function search(pool: Pool, server: Measured, publisher: WebSocket, opts: BenchOptions, log: (line: string) => void, label: string): Promise<FanoutSample> {
  const trials: Trial[] = [];
  let best: Trial | undefined;
  let low = 0;
  let high = Number.POSITIVE_INFINITY;
  let rate = opts.fanoutStartRate ?? START_RATE;
  let n = 0;
  while (n < opts.fanoutMaxTrials) {
    let trial: Trial | undefined;
    // A failed rate gets a second try: one stall of a shared machine should not end the search.
    for (let attempt = 0; attempt < 2 && n < opts.fanoutMaxTrials && !trial?.pass; attempt++, n++) {
      for (const pid of server.pids) await settle(pid);
      trial = await runTrial(pool, server, publisher, nextTrialId++, rate, opts.fanoutClients, opts.fanoutTrialMs);
      trials.push(trial);
      log(`    ${trialLine(label, trial)}`);
    }
    if (!trial) break;
    if (trial.pass) {
      low = rate;
      best = trial;
    } else {
      high = rate;
    }
    if (low > 0 && high / low <= 1.1) break;
    if (high === Number.POSITIVE_INFINITY) rate = Math.min(MAX_RATE, rate * 2);
    else rate = low > 0 ? Math.round((low + high) / 2) : Math.max(1, Math.round(high / 2));
    if (rate === low || rate === high || (high === Number.POSITIVE_INFINITY && low === MAX_RATE)) break;
  }
  return { best, trials };
}
let nextTrialId = 1;

async function startChat(impl: 'wskit' | 'ws'): Promise<Server> {
  if (impl === 'ws') return startBenchServer('ws', 'chat-ws');
  if (wskitAvailable() && existsSync(fileURLToPath(new URL('../../../packages/server/dist/src/server.js', import.meta.url)))) return startWskitServe();
  return startBenchServer('wskit(stand-in: ws)', 'chat-ws');
}

/**
 * runFanout runs, `fanoutRounds` times, the search on wskit then ws, then one
 * trial at CPU_RATE on the broadcast floor.
 */
export async function runFanout(opts: BenchOptions, log: (line: string) => void): Promise<FanoutResult> {
  const result: FanoutResult = { clients: opts.fanoutClients, wskitLabel: 'wskit', samples: { wskit: [], ws: [] }, floor: [] };
  log(`fan-out: ${opts.fanoutClients} subscribers, ${opts.fanoutRounds} round(s), ${opts.fanoutTrialMs} ms trials; the floor runs one trial at ${CPU_RATE} msg/s per round`);
  for (let round = 0; round < opts.fanoutRounds; round++) {
    for (const impl of ['wskit', 'ws', 'floor'] as const) {
      const server = impl === 'floor' ? await startBenchServer('floor', 'broadcast-floor') : await startChat(impl);
      if (impl === 'wskit') result.wskitLabel = server.label;
      const pool = new Pool('fanout-worker', SUBSCRIBER_WORKERS);
      let publisher: WebSocket | undefined;
      try {
        await openSubscribers(pool, opts, () => server.port);
        publisher = await openPublisher(server.port);
        if (impl === 'floor') {
          await settle(server.pid);
          const trial = await runTrial(pool, { label: server.label, pids: [server.pid] }, publisher, nextTrialId++, CPU_RATE, opts.fanoutClients, opts.fanoutTrialMs);
          result.floor.push(trial);
          log(`    ${trialLine(server.label, trial)}`);
        } else {
          const sample = await search(pool, { label: server.label, pids: [server.pid] }, publisher, opts, log, server.label);
          result.samples[impl].push(sample);
          log(`  fan-out ${server.label}: best ${sample.best ? `${sample.best.rate} msg/s, ${Math.round(sample.best.deliveriesPerSec)} deliveries/s` : 'none passed'}`);
        }
      } finally {
        publisher?.terminate();
        await pool.stop();
        await server.stop();
      }
    }
  }
  return result;
}

/**
 * cpuAtRate returns, per search, the server CPU per delivery (µs) of its
 * trial at `rate`: the first that passed, else the first tried; NaN for a
 * search that never tried the rate.
 */
export function cpuAtRate(samples: FanoutSample[], rate: number): number[] {
  return samples.map((s) => {
    const tried = s.trials.filter((t) => t.rate === rate);
    return (tried.find((t) => t.pass) ?? tried[0])?.cpuUsPerDelivery ?? Number.NaN;
  });
}

/** bestRates returns the best passing rate of each search (0 when none passed). */
export function bestRates(samples: FanoutSample[]): number[] {
  return samples.map((s) => s.best?.rate ?? 0);
}

/** medianOfBest returns the median of a field over the searches' best trials. */
export function medianOfBest(samples: FanoutSample[], key: keyof Trial): number {
  return median(samples.map((s) => (s.best ? Number(s.best[key]) : Number.NaN)));
}

/** REDIS_NODES is the number of `wskit serve --redis` nodes the Redis row spreads its subscribers over. */
export const REDIS_NODES = 2;

/** CLUSTER_MASTERS is the number of masters of the Redis Cluster row. */
export const CLUSTER_MASTERS = 3;

/** FanoutRedisResult holds the Redis rows' searches, or why they were skipped. */
export interface FanoutRedisResult {
  clients: number;
  /** skipped says why the rows did not run (redis-server or the wskit build missing); unset when they ran. */
  skipped?: string;
  /** The searches through one redis-server. */
  samples: FanoutSample[];
  /** The searches through a Redis Cluster of CLUSTER_MASTERS masters. */
  cluster: FanoutSample[];
}

/**
 * runFanoutRedis runs the fan-out search on two `wskit serve --redis` nodes
 * sharing one redis-server: one subscriber process per node with half the
 * room each, the publisher on node 1, `fanoutRedisRounds` searches. Redis and
 * the nodes are stopped in `finally`. Skips (with the reason) when
 * redis-server or the built wskit server is missing.
 */
export async function runFanoutRedis(opts: BenchOptions, log: (line: string) => void): Promise<FanoutRedisResult> {
  const result: FanoutRedisResult = { clients: opts.fanoutClients, samples: [], cluster: [] };
  const missing = redisMissing() ?? (existsSync(fileURLToPath(new URL('../../../packages/server/dist/src/server.js', import.meta.url))) ? undefined : 'the wskit server is not built (packages/server/dist/src/server.js missing)');
  if (missing) {
    result.skipped = missing;
    log(`fan-out via Redis skipped: ${missing}`);
    return result;
  }
  log(`fan-out via Redis: ${opts.fanoutClients} subscribers over ${REDIS_NODES} nodes, ${opts.fanoutRedisRounds} round(s), ${opts.fanoutTrialMs} ms trials`);
  for (let round = 0; round < opts.fanoutRedisRounds; round++) {
    result.samples.push(await searchThroughRedis(opts, log, `wskit×${REDIS_NODES}+redis`, async () => {
      const redis = await startRedis();
      return { url: redis.url, pids: [redis.pid], stop: () => redis.stop() };
    }));
  }
  log(`fan-out via a ${CLUSTER_MASTERS}-master Redis Cluster: same load, ${opts.fanoutRedisRounds} round(s)`);
  for (let round = 0; round < opts.fanoutRedisRounds; round++) {
    result.cluster.push(await searchThroughRedis(opts, log, `wskit×${REDIS_NODES}+cluster×${CLUSTER_MASTERS}`, async () => {
      const cluster = await startRedisClusterBench(CLUSTER_MASTERS);
      return { url: cluster.url, pids: cluster.pids, stop: () => cluster.stop() };
    }));
  }
  return result;
}

/** The Redis a search runs through: its URL, its processes (their CPU counts as server CPU), and how to stop it. */
interface SearchRedis {
  url: string;
  pids: number[];
  stop(): Promise<void>;
}

/**
 * searchThroughRedis runs one search on REDIS_NODES `wskit serve --redis`
 * nodes sharing the Redis that `start` starts: one subscriber process per
 * node with its share of the room, the publisher on node 1. Everything is
 * stopped in `finally`.
 */
async function searchThroughRedis(opts: BenchOptions, log: (line: string) => void, label: string, start: () => Promise<SearchRedis>): Promise<FanoutSample> {
  let redis: SearchRedis | undefined;
  const nodes: Server[] = [];
  let pool: Pool | undefined;
  let publisher: WebSocket | undefined;
  try {
    redis = await start();
    for (let i = 0; i < REDIS_NODES; i++) nodes.push(await startWskitServe(['--redis', redis.url, ...(opts.redisBatchWait ? ['--redis-batch-wait', opts.redisBatchWait] : [])]));
    await Promise.all(nodes.map((n) => brokerReady(n.port)));
    // One subscriber process per node, so each node holds its share of the room.
    pool = new Pool('fanout-worker', REDIS_NODES);
    await openSubscribers(pool, opts, (worker) => nodes[worker]!.port);
    publisher = await openPublisher(nodes[0]!.port);
    const sample = await search(pool, { label, pids: [...nodes.map((n) => n.pid), ...redis.pids] }, publisher, opts, log, label);
    log(`  fan-out ${label}: mean XREAD batch per node over the search ${(await Promise.all(nodes.map((n) => meanReadBatch(n.port)))).join(', ')}`);
    log(`  fan-out ${label}: best ${sample.best ? `${sample.best.rate} msg/s, ${Math.round(sample.best.deliveriesPerSec)} deliveries/s` : 'none passed'}`);
    return sample;
  } finally {
    publisher?.terminate();
    await pool?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  }
}

/** brokerReady waits (at most 15 s) until a node's /healthz is 200: a node on a Redis Cluster takes a moment to discover it. */
async function brokerReady(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await fetch(`http://127.0.0.1:${port}/healthz`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`wskit serve on port ${port} not ready after 15 s`);
    await sleep(50);
  }
}

/** meanReadBatch reads a node's /metrics and returns the mean messages per broker read, to 2 decimals, or "?" when it cannot. */
async function meanReadBatch(port: number): Promise<string> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const batches = Number(/^wskit_chat_broker_read_batches_total (\d+)/m.exec(text)?.[1]);
    const messages = Number(/^wskit_chat_broker_read_messages_total (\d+)/m.exec(text)?.[1]);
    return batches > 0 ? (messages / batches).toFixed(2) : '?';
  } catch {
    return '?';
  }
}
