/**
 * The join-storm rows (issue 17): N distinct users join one room in waves
 * while a member already in it publishes 10 msg/s, on one `wskit serve` node
 * and on two `--redis` nodes. Each row reports the presence bytes all
 * clients received, the time until every user had its snapshot, the
 * delivery p99 of messages sent during the storm, the server CPU over the
 * storm, whether every client's final view of presence is exact (names up
 * to --presence-max-users, the count above) and whether any message was
 * lost or doubled, against the targets of the issue.
 *
 * The publisher (this process) is user 0, so a row of N users ends with N
 * names online: the 1,000 row ends listing names, the 5,000 row counting.
 * The joining users live in two storm-worker processes (one per node with
 * Redis), away from the server's file descriptors and CPU.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { busyCpuMs, cpuMs } from '../ipc.js';
import type { BenchOptions } from '../options.js';
import { Pool, sleep } from '../pool.js';
import { redisMissing, startRedis, type BenchRedis } from '../redis-server.js';
import { settle } from '../settle.js';
import { Histogram } from '../stats.js';
import { startWskitServe, type Server } from '../targets.js';

const ROOM = 'storm';
/** Users each worker opens at once; the next wave starts when all of them have their snapshot. */
const WAVE = 25;
const WORKERS = 2;
const PUBLISH_EVERY_MS = 100;
/** The server's default --presence-max-users: the row's final view lists names up to it and counts above. */
const MAX_USERS = 1_000;
/** How long presence may take to settle after the last join, and messages to drain after the last send. */
const SETTLE_MS = 15_000;
/** A row waits up to this long for other processes to quieten down before it starts. */
const QUIET_WAIT_MS = 60_000;
/** Other processes' CPU, % of one core, under which the machine counts as quiet. */
const QUIET_CPU = 25;

/** The targets for one row. */
export const STORM_TARGETS = {
  presenceBytes: 40_000_000,
  p99Ms: 250,
  joinMs: (users: number) => (users <= 1_000 ? 5_000 : 20_000),
} as const;

/** StormRow is one measured row. */
export interface StormRow {
  users: number;
  nodes: number;
  /** skipped says why the row did not run; unset when it ran. */
  skipped?: string;
  presenceBytes: number;
  presenceFrames: number;
  joinMs: number;
  p50ms: number;
  p99ms: number;
  deliveries: number;
  /** Server CPU over the storm, % of one core (all nodes and redis-server summed). */
  serverCpu: number;
  /** Joining processes' CPU over the storm, % of one core. */
  genCpu: number;
  /** CPU of every other process on the machine over the storm, % of one core: a busy neighbour skews the row. */
  otherCpu: number;
  /** From opening a connection to its presence snapshot: median and p99 over the users, ms. */
  joinP50ms: number;
  joinP99ms: number;
  /** Clients (the publisher included) whose final view was exact, of `users`. */
  exactViews: number;
  /** Frames no correct presence stream sends, seen by any client; 0 expected. */
  viewErrors: number;
  /** Messages a user never got though it got a later one (a gap in its sequence). */
  lost: number;
  /** Messages still not delivered when the drain window (15 s after the last send) ended. */
  late: number;
  doubled: number;
  /** Connection attempts that failed and were made again (up to 3 per user); a retried join counts in the join time. */
  retries: number;
  /** Users whose connection the server closed before the end (evicted as too slow to read); their missed messages count as lost. */
  dropped: number;
  /** Time from the last join until every view was exact, ms; NaN when some never were. */
  settleMs: number;
  pass: boolean;
}

/** The user names of a row: u00000 (the publisher) to u0NNNN. */
function userName(i: number): string {
  return `u${String(i).padStart(5, '0')}`;
}

/** A publisher that also follows its own presence view, as the workers' clients do. */
class Publisher {
  readonly ws: WebSocket;
  presenceBytes = 0;
  presenceFrames = 0;
  names: Set<string> | undefined;
  count = 0;
  seq = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(port: number) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=${ROOM}&name=${userName(0)}`, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    this.ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { type: string; users?: string[]; count?: number; joined?: string[]; left?: string[] };
      if (frame.type !== 'presence') return;
      this.presenceBytes += data.length;
      this.presenceFrames++;
      if (frame.users) this.names = new Set(frame.users);
      else if (frame.count !== undefined) {
        this.names = undefined;
        this.count = frame.count;
      } else {
        for (const name of frame.joined ?? []) this.names?.add(name);
        for (const name of frame.left ?? []) this.names?.delete(name);
      }
      if (this.names) this.count = this.names.size;
    });
  }

  /** joined resolves once the publisher has its presence snapshot. */
  async joined(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.presenceFrames === 0) {
      if (Date.now() > deadline) throw new Error('the storm publisher got no presence snapshot within 10 s');
      await sleep(10);
    }
  }

  /** start sends `storm <seq> <sentNs>` every 100 ms. */
  start(): void {
    this.#timer = setInterval(() => {
      this.ws.send(JSON.stringify({ type: 'message', text: `storm ${this.seq} ${process.hrtime.bigint()}` }));
      this.seq++;
    }, PUBLISH_EVERY_MS);
  }

  /** stop ends the sending; returns the last sequence number sent. */
  stop(): number {
    clearInterval(this.#timer);
    return this.seq - 1;
  }

  exact(expected: { names?: string[]; count: number }): boolean {
    if (!expected.names) return this.names === undefined && this.count === expected.count;
    return this.names !== undefined && this.names.size === expected.names.length && expected.names.every((name) => this.names!.has(name));
  }
}

/**
 * waitForQuiet waits (up to QUIET_WAIT_MS) until the machine's other
 * processes use under QUIET_CPU % of a core over one second, so a row starts
 * on an idle machine when one comes; the row reports other processes' CPU
 * either way.
 */
async function waitForQuiet(log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  for (;;) {
    const before = busyCpuMs();
    await sleep(1_000);
    const busy = (busyCpuMs() - before) / 10;
    if (!(busy >= QUIET_CPU)) return;
    if (Date.now() > deadline) {
      log(`    the machine stayed busy (${busy.toFixed(0)} % of a core in other processes); measuring anyway`);
      return;
    }
  }
}

async function measure(users: number, nodes: Server[], pids: number[], log: (line: string) => void): Promise<StormRow> {
  await waitForQuiet(log);
  const pool = new Pool('storm-worker', WORKERS);
  const publisher = new Publisher(nodes[0]!.port);
  try {
    await publisher.joined();
    publisher.start();
    await sleep(1_000); // a few messages first, so joiners get a history
    const names = Array.from({ length: users - 1 }, (_, i) => userName(i + 1));
    const shares = pool.share(names.length);
    const starts = shares.map((_, i) => shares.slice(0, i).reduce((a, b) => a + b, 0));
    for (const pid of pids) await settle(pid, 1_000);

    const startNs = Number(process.hrtime.bigint());
    await pool.all(() => ({ cmd: 'start', startNs }));
    const cpu0 = pids.reduce((n, pid) => n + cpuMs(pid), 0);
    const busy0 = busyCpuMs();
    const opened = await pool.all((i) => ({ cmd: 'open', port: nodes[i % nodes.length]!.port, room: ROOM, names: names.slice(starts[i], starts[i]! + shares[i]!), wave: WAVE }), 180_000);
    const endNs = Math.max(...opened.map((r) => r.doneNs as number));
    const cpu1 = pids.reduce((n, pid) => n + cpuMs(pid), 0);
    const busy1 = busyCpuMs();
    await pool.all(() => ({ cmd: 'end', endNs: Number(process.hrtime.bigint()) }));
    const joinMs = (endNs - startNs) / 1e6;
    log(`    ${users} users on ${nodes.length} node(s) joined in ${Math.round(joinMs)} ms`);

    const expected = users > MAX_USERS ? { count: users } : { names: [userName(0), ...names], count: users };
    const settleStart = Date.now();
    let exactViews = 0;
    let settleMs = Number.NaN;
    let example = '';
    while (Date.now() - settleStart < SETTLE_MS) {
      const checks = await pool.all(() => ({ cmd: 'check', expected }), 30_000);
      exactViews = checks.reduce((n, r) => n + (r.exact as number), 0) + (publisher.exact(expected) ? 1 : 0);
      example = checks.map((r) => r.example as string).find(Boolean) ?? (publisher.exact(expected) ? '' : `the publisher sees ${publisher.count}`);
      if (exactViews === users) {
        settleMs = Date.now() - settleStart;
        break;
      }
      await sleep(100);
    }
    if (exactViews !== users) log(`    ${users - exactViews} views not exact after ${SETTLE_MS} ms, e.g. ${example}`);

    const lastSeq = publisher.stop();
    const drainStart = Date.now();
    while (Date.now() - drainStart < SETTLE_MS) {
      const behind = (await pool.all(() => ({ cmd: 'caught-up', lastSeq }))).reduce((n, r) => n + (r.behind as number), 0);
      if (behind === 0) break;
      await sleep(100);
    }
    const reports = await pool.all(() => ({ cmd: 'report', lastSeq }), 30_000);
    const histogram = new Histogram();
    const joins = new Histogram();
    let genCpuMs = 0;
    const sum = (key: string) => reports.reduce((n, r) => n + (r[key] as number), 0);
    for (const r of reports) {
      histogram.merge(new Histogram(r.histogram as number[]));
      joins.merge(new Histogram(r.joinLatency as number[]));
      genCpuMs += r.cpuMs as number;
    }
    const row: StormRow = {
      users,
      nodes: nodes.length,
      presenceBytes: sum('presenceBytes') + publisher.presenceBytes,
      presenceFrames: sum('presenceFrames') + publisher.presenceFrames,
      joinMs,
      p50ms: histogram.percentile(50) / 1000,
      p99ms: histogram.percentile(99) / 1000,
      deliveries: histogram.count,
      serverCpu: ((cpu1 - cpu0) / joinMs) * 100,
      genCpu: (genCpuMs / joinMs) * 100,
      // The runner's own CPU (the publisher) counts as other, like any neighbour's.
      otherCpu: Math.max(0, ((busy1 - busy0 - (cpu1 - cpu0) - genCpuMs) / joinMs) * 100),
      joinP50ms: joins.percentile(50) / 1000,
      joinP99ms: joins.percentile(99) / 1000,
      exactViews,
      viewErrors: sum('viewErrors'),
      lost: sum('lost'),
      late: sum('late'),
      doubled: sum('doubled'),
      dropped: sum('dropped'),
      retries: sum('retries'),
      settleMs,
      pass: false,
    };
    row.pass = stormPasses(row);
    return row;
  } finally {
    publisher.stop();
    publisher.ws.terminate();
    await pool.all(() => ({ cmd: 'close' })).catch(() => []);
    await pool.stop();
  }
}

/** stormPasses tells whether a row meets every target of the issue. */
export function stormPasses(row: StormRow): boolean {
  return (
    row.skipped === undefined &&
    row.presenceBytes <= STORM_TARGETS.presenceBytes &&
    row.joinMs <= STORM_TARGETS.joinMs(row.users) &&
    row.p99ms < STORM_TARGETS.p99Ms &&
    row.exactViews === row.users &&
    row.viewErrors === 0 &&
    row.lost === 0 &&
    row.late === 0 &&
    row.doubled === 0
  );
}

function skippedRow(users: number, nodes: number, reason: string): StormRow {
  const nan = Number.NaN;
  return { users, nodes, skipped: reason, presenceBytes: nan, presenceFrames: nan, joinMs: nan, p50ms: nan, p99ms: nan, deliveries: 0, serverCpu: nan, genCpu: nan, otherCpu: nan, joinP50ms: nan, joinP99ms: nan, exactViews: 0, viewErrors: 0, lost: 0, late: 0, doubled: 0, dropped: 0, retries: 0, settleMs: nan, pass: false };
}

const serverBuilt = () => existsSync(fileURLToPath(new URL('../../../packages/server/dist/src/server.js', import.meta.url)));

/**
 * runStorm runs the join-storm rows for each of `opts.stormUsers`: on one
 * node when `single`, on two Redis nodes when `redis` (skipped, with the
 * reason, without redis-server). Servers, Redis and workers are stopped in
 * `finally`.
 */
export async function runStorm(opts: BenchOptions, which: { single: boolean; redis: boolean }, log: (line: string) => void): Promise<StormRow[]> {
  const rows: StormRow[] = [];
  for (const users of opts.stormUsers) {
    if (which.single) {
      if (!serverBuilt()) rows.push(skippedRow(users, 1, 'the wskit server is not built'));
      else {
        log(`join storm: ${users} users, 1 node`);
        const server = await startWskitServe();
        try {
          rows.push(logged(await measure(users, [server], [server.pid], log), log));
        } finally {
          await server.stop();
        }
      }
    }
    if (which.redis) {
      const missing = redisMissing() ?? (serverBuilt() ? undefined : 'the wskit server is not built');
      if (missing) rows.push(skippedRow(users, 2, missing));
      else {
        log(`join storm: ${users} users, 2 nodes through Redis`);
        let redis: BenchRedis | undefined;
        const nodes: Server[] = [];
        try {
          redis = await startRedis();
          for (let i = 0; i < 2; i++) nodes.push(await startWskitServe(['--redis', redis.url]));
          rows.push(logged(await measure(users, nodes, [...nodes.map((n) => n.pid), redis.pid], log), log));
        } finally {
          await Promise.all(nodes.map((n) => n.stop()));
          await redis?.stop();
        }
      }
    }
  }
  return rows;
}

function logged(row: StormRow, log: (line: string) => void): StormRow {
  log(`  ${row.users} users × ${row.nodes} node(s): ${(row.presenceBytes / 1e6).toFixed(1)} MB presence, joined in ${Math.round(row.joinMs)} ms (each in ${row.joinP50ms.toFixed(0)} ms, p99 ${row.joinP99ms.toFixed(0)} ms), CPU server ${row.serverCpu.toFixed(0)}% joiners ${row.genCpu.toFixed(0)}% other ${row.otherCpu.toFixed(0)}%, p99 ${row.p99ms.toFixed(1)} ms, ${row.exactViews}/${row.users} exact, ${row.lost} lost, ${row.late} late, ${row.doubled} doubled, ${row.dropped} dropped, ${row.retries} handshakes retried → ${row.pass ? 'pass' : 'FAIL'}`);
  return row;
}
