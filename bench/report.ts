/**
 * Markdown rendering of the results: one table per section, medians of the
 * rounds, the wskit ÷ ws ratio per row (and, in the echo rows, wskit/ws's
 * ratios to ws and to wskit) and every server's CPU so a saturated load
 * generator shows.
 */
import type { CoreResult } from './core.js';
import { compatTarget, sizeLabel, type EchoResult, type Impl, type Sample } from './suites/echo.js';
import { bestRates, CLUSTER_MASTERS, CPU_RATE, CPU_TARGET, cpuAtRate, medianOfBest, REDIS_NODES, type FanoutRedisResult, type FanoutResult, type FanoutSample } from './suites/fanout.js';
import type { Http2Result } from './suites/http2.js';
import { memoryMedians, type MemoryResult } from './suites/memory.js';
import { STORM_TARGETS, type StormRow } from './suites/storm.js';
import { median } from './stats.js';

/** fmt writes a number with about three significant figures and thousands separators. */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

/** ratio writes a/b as "1.23×", or – when either is missing. */
export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–';
}

function ms(us: number): string {
  return Number.isFinite(us) ? fmt(us / 1000) : '–';
}

/** table renders a markdown table from a header and rows of cells. */
export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const m = (samples: Sample[] | undefined, key: keyof Sample) => median((samples ?? []).map((s) => s[key]));

/** GEN_SATURATED is the generator CPU share (% of one core per worker) above which a row is marked. */
export const GEN_SATURATED = 90;

function cpu(samples: Sample[] | undefined, workers: number): string {
  if (!samples) return '–';
  const gen = m(samples, 'genCpu');
  const mark = gen / workers >= GEN_SATURATED ? ' ⚠' : '';
  return `${fmt(m(samples, 'serverCpu'), 2)}/${fmt(gen, 2)}${mark}`;
}

/** targetCell writes wskit/ws ÷ ws, followed by the row's target and whether it is met (✓ or ✗). */
function targetCell(compat: number, ws: number, target: number | undefined): string {
  const cell = ratio(compat, ws);
  if (target === undefined || cell === '–') return cell;
  return `${cell} (≥ ${target}× ${compat / ws >= target ? '✓' : '✗'})`;
}

/**
 * echoTable renders the echo rows (with TCP columns when `withTcp`). When the
 * results hold wskit/ws samples (ws's API on wskit), three columns show it:
 * its msg/s, its ratio to ws with the row's {@link compatTarget}, and its
 * ratio to wskit's native API (what the compatibility layer costs).
 */
export function echoTable(results: EchoResult[], withTcp: boolean, workers: number): string {
  const withCompat = results.some((r) => r.samples['wskit/ws'] !== undefined);
  const header = ['row', 'wskit msg/s', 'ws msg/s', 'wskit ÷ ws', 'wskit MB/s', 'ws MB/s'];
  if (withCompat) header.push('wskit/ws msg/s', 'wskit/ws ÷ ws (target)', 'wskit/ws ÷ wskit');
  if (withTcp) header.push('TCP msg/s', 'wskit ÷ TCP', 'ws ÷ TCP');
  header.push('srv CPU µs/msg wskit / ws');
  if (withTcp) header.push('srv CPU µs/msg TCP', 'above TCP wskit ÷ ws (≤ 0.5)');
  header.push('p50 ms wskit / ws', 'p99 ms wskit / ws', 'CPU % srv/gen wskit', 'CPU % srv/gen ws');
  if (withCompat) header.push('CPU % srv/gen wskit/ws');
  header.push('other CPU %');
  const rows = results.map(({ row, samples }) => {
    const rate = (impl: Impl) => m(samples[impl], 'msgsPerSec');
    const cells = [row.id, fmt(rate('wskit')), fmt(rate('ws')), ratio(rate('wskit'), rate('ws')), fmt(m(samples.wskit, 'mbPerSec')), fmt(m(samples.ws, 'mbPerSec'))];
    if (withCompat) cells.push(fmt(rate('wskit/ws')), targetCell(rate('wskit/ws'), rate('ws'), compatTarget(row)), ratio(rate('wskit/ws'), rate('wskit')));
    if (withTcp) cells.push(fmt(rate('tcp')), ratio(rate('wskit'), rate('tcp')), ratio(rate('ws'), rate('tcp')));
    const us = (impl: Impl) => m(samples[impl], 'cpuUsPerMsg');
    cells.push(`${fmt(us('wskit'), 2)} / ${fmt(us('ws'), 2)}`);
    if (withTcp) cells.push(fmt(us('tcp'), 2), ratio(us('wskit') - us('tcp'), us('ws') - us('tcp')));
    const lat = (key: keyof Sample) => (row.inflight === 1 ? `${ms(m(samples.wskit, key))} / ${ms(m(samples.ws, key))}` : '–');
    const all = Object.values(samples).flat();
    cells.push(lat('p50us'), lat('p99us'), cpu(samples.wskit, workers), cpu(samples.ws, workers));
    if (withCompat) cells.push(cpu(samples['wskit/ws'], workers));
    cells.push(fmt(median(all.map((s) => s.otherCpu)), 2));
    const errors = [...(samples.wskit ?? []), ...(samples['wskit/ws'] ?? []), ...(samples.ws ?? [])].reduce((n, s) => n + s.errors, 0);
    if (errors > 0) cells[0] += ` (${errors} errors)`;
    return cells;
  });
  return table(header, rows);
}

/**
 * memoryTable renders the idle-connection memory rows, with the floor (a
 * server that holds only the upgraded socket) beside them: floor ÷ ws is the
 * lowest wskit ÷ ws that any server on `net.Socket` could show.
 */
export function memoryTable(result: MemoryResult): string {
  const w = memoryMedians(result.samples.wskit);
  const s = memoryMedians(result.samples.ws);
  const f = result.samples.floor.length > 0 ? memoryMedians(result.samples.floor) : undefined;
  const v = (result.samples.serve ?? []).length > 0 ? memoryMedians(result.samples.serve) : undefined;
  const h = (result.samples['wskit-on-message'] ?? []).length > 0 ? memoryMedians(result.samples['wskit-on-message']) : undefined;
  const kib = (bytes: number) => (Number.isFinite(bytes) ? fmt(bytes / 1024) : '–');
  const floor = (key: keyof typeof w) => (f && Number.isFinite(f[key]) ? f[key] : undefined);
  // Issue 16's measure: what a server adds above the floor, as a fraction of what ws adds.
  const above = (x: number, key: keyof typeof w) => {
    const lowest = floor(key);
    return lowest === undefined || !Number.isFinite(x) ? '–' : ratio(x - lowest, s[key] - lowest);
  };
  const row = (label: string, key: keyof typeof w) => {
    const lowest = floor(key);
    const serve = v ? v[key] : Number.NaN;
    const onMessage = h ? h[key] : Number.NaN;
    return [label, kib(w[key]), kib(onMessage), kib(serve), kib(s[key]), lowest === undefined ? '–' : kib(lowest), ratio(w[key], s[key]), lowest === undefined ? '–' : ratio(lowest, s[key]), above(w[key], key), above(onMessage, key), above(serve, key)];
  };
  return table(['per idle connection', 'wskit KiB', 'wskit onMessage KiB', 'wskit serve /echo KiB', 'ws KiB', 'floor KiB', 'wskit ÷ ws', 'floor ÷ ws', 'wskit above floor ÷ ws above floor', 'onMessage above floor ÷ ws above floor', 'serve above floor ÷ ws above floor'], [
      row('server RSS', 'rss'),
      row('server RSS without V8 young generation', 'keptRss'),
      row('JS heap', 'heap'),
      row('external (Buffers)', 'external'),
      row('RSS without young generation, after one echo each', 'keptRssAfterEcho'),
      row('JS heap, after one echo each', 'heapAfterEcho'),
      row('RSS 3 s after the storm, no forced GC (from /proc)', 'settledRss'),
    ]);
}

/** NO_WS marks a cell with no ws counterpart (the Redis row has no ws cluster to compare with). */
const NO_WS = '—';

/**
 * fanoutTable renders the fan-out rows, one per configuration: the single-node
 * row against the ws broadcast server, and the 2-node Redis row (wskit only,
 * "—" for ws and the ratio). Either result may be absent when its section was
 * not run.
 */
export function fanoutTable(result: FanoutResult | undefined, redis: FanoutRedisResult | undefined): string {
  const side = (samples: FanoutSample[]) => ({
    rate: median(bestRates(samples)),
    deliveries: medianOfBest(samples, 'deliveriesPerSec'),
    p99: medianOfBest(samples, 'p99ms'),
    cpu: `${fmt(medianOfBest(samples, 'serverCpu'), 2)} / ${fmt(medianOfBest(samples, 'genCpu'), 2)}`,
    tried: samples.map((s) => s.trials.map((t) => `${t.rate}${t.pass ? '✓' : '✗'}`).join(' ')).join('; '),
  });
  const rows: string[][] = [];
  if (result) {
    const w = side(result.samples.wskit);
    const s = side(result.samples.ws);
    rows.push([
      `chat fan-out, 1 node (${result.wskitLabel} vs ws broadcast)`,
      fmt(w.rate),
      fmt(s.rate),
      ratio(w.rate, s.rate),
      fmt(w.deliveries),
      fmt(s.deliveries),
      `${fmt(w.p99)} / ${fmt(s.p99)}`,
      `${w.cpu}; ${s.cpu}`,
      `wskit: ${w.tried} — ws: ${s.tried}`,
    ]);
  }
  if (redis) {
    const label = `chat fan-out across ${REDIS_NODES} nodes through Redis`;
    if (redis.skipped) {
      rows.push([label, '–', NO_WS, NO_WS, '–', NO_WS, '–', '–', `skipped: ${redis.skipped}`]);
    } else {
      const r = side(redis.samples);
      rows.push([label, fmt(r.rate), NO_WS, NO_WS, fmt(r.deliveries), NO_WS, `${fmt(r.p99)} / ${NO_WS}`, `${r.cpu}; ${NO_WS}`, `wskit: ${r.tried}`]);
      if (redis.cluster.length > 0) {
        const c = side(redis.cluster);
        rows.push([`chat fan-out across ${REDIS_NODES} nodes through a ${CLUSTER_MASTERS}-master Redis Cluster`, fmt(c.rate), NO_WS, NO_WS, fmt(c.deliveries), NO_WS, `${fmt(c.p99)} / ${NO_WS}`, `${c.cpu}; ${NO_WS}`, `wskit: ${c.tried}`]);
      }
    }
  }
  return table(
    ['row', 'wskit publish msg/s', 'ws publish msg/s', 'wskit ÷ ws', 'wskit deliveries/s', 'ws deliveries/s', 'p99 ms wskit / ws', 'CPU % server / subscribers (wskit; ws)', 'rates tried (✓ pass, ✗ loss, repeat or p99 > 50 ms)'],
    rows,
  );
}

/**
 * fanoutCpuTable renders the server CPU per delivery at CPU_RATE of wskit, ws
 * (their search trials at that rate) and the broadcast floor, medians of the
 * rounds with every round's figure: wskit ÷ ws against issue 16's target,
 * floor ÷ ws (the lowest wskit ÷ ws a server making one write per delivery
 * could show) and (wskit − floor) ÷ (ws − floor), the share of ws's cost
 * above the floor that wskit spends.
 */
export function fanoutCpuTable(result: FanoutResult): string {
  const wskit = cpuAtRate(result.samples.wskit, CPU_RATE);
  const ws = cpuAtRate(result.samples.ws, CPU_RATE);
  const floor = result.floor.map((t) => t.cpuUsPerDelivery);
  const [w, s, f] = [wskit, ws, floor].map((xs) => (xs.length > 0 ? median(xs) : Number.NaN)) as [number, number, number];
  const us = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
  const ratioMarked = ratio(w, s) === '–' ? '–' : `${ratio(w, s)} ${mark(w / s <= CPU_TARGET)}`;
  const lost = result.floor.filter((t) => !t.pass).length;
  return table(
    [`server CPU µs per delivery at ${CPU_RATE} msg/s`, 'wskit', 'ws', 'floor', `wskit ÷ ws (target ≤ ${CPU_TARGET}×)`, 'floor ÷ ws', '(wskit − floor) ÷ (ws − floor)', 'each round: wskit; ws; floor'],
    [[
      `${result.clients.toLocaleString('en-US')} subscribers, 1 node${lost ? ` (${lost} of ${result.floor.length} floor trials missed a delivery or the p99 bound)` : ''}`,
      us(w),
      us(s),
      us(f),
      ratioMarked,
      ratio(f, s),
      ratio(w - f, s - f),
      [wskit, ws, floor].map((xs) => xs.map(us).join(' ')).join('; '),
    ]],
  );
}

/** mark writes ✓ or ✗ after a cell for a target met or missed. */
function mark(ok: boolean): string {
  return ok ? '✓' : '✗';
}

/**
 * stormTable renders the join-storm rows: each cell with a target carries ✓
 * or ✗ (presence ≤ 40 MB, all joined within 5 s for 1,000 users and 20 s
 * for 5,000, p99 < 250 ms, every view exact, nothing lost or doubled).
 */
export function stormTable(rows: StormRow[]): string {
  const body = rows.map((r) => {
    const label = `${r.users.toLocaleString('en-US')} users, ${r.nodes === 1 ? '1 node' : `${r.nodes} nodes + Redis`}`;
    if (r.skipped) return [label, '–', '–', '–', '–', '–', '–', '–', `skipped: ${r.skipped}`];
    return [
      label,
      `${fmt(r.presenceBytes / 1e6)} MB ${mark(r.presenceBytes <= STORM_TARGETS.presenceBytes)} (${r.presenceFrames.toLocaleString('en-US')} frames)`,
      `${fmt(r.joinMs / 1000)} s ${mark(r.joinMs <= STORM_TARGETS.joinMs(r.users))} (each ${fmt(r.joinP50ms)} / ${fmt(r.joinP99ms)} ms${r.retries ? `; ${r.retries} handshakes retried` : ''})`,
      `${fmt(r.p50ms)} / ${fmt(r.p99ms)} ${mark(r.p99ms < STORM_TARGETS.p99Ms)}`,
      r.deliveries.toLocaleString('en-US'),
      `${fmt(r.serverCpu, 2)} / ${fmt(r.genCpu, 2)} / ${fmt(r.otherCpu, 2)}`,
      `${r.exactViews.toLocaleString('en-US')} / ${r.users.toLocaleString('en-US')} ${mark(r.exactViews === r.users && r.viewErrors === 0)}${Number.isFinite(r.settleMs) ? ` (${fmt(r.settleMs / 1000)} s)` : ''}`,
      `${r.lost} / ${r.doubled} / ${r.late} ${mark(r.lost === 0 && r.doubled === 0 && r.late === 0)}${r.dropped ? ` (${r.dropped} users dropped)` : ''}`,
      r.pass ? 'all targets met' : 'target missed',
    ];
  });
  return table(
    ['row', 'presence bytes (≤ 40 MB)', 'all joined (≤ 5 s / 20 s; each join p50 / p99)', 'delivery p50 / p99 ms during the storm (p99 < 250)', 'deliveries measured', 'CPU % server / joiners / other processes', 'exact final views (settled after last join)', 'lost / doubled / late (undelivered 15 s after the last send)', 'result'],
    body,
  );
}

/** coreTable renders the core micro-benchmarks. */
export function coreTable(results: CoreResult[]): string {
  return table(
    ['benchmark', 'size', 'MB/s', 'frames/s', 'ns/frame'],
    results.map((r) => [r.name, sizeLabel(r.size), fmt(r.mbPerSec), fmt(r.framesPerSec), fmt(r.nsPerFrame)]),
  );
}

/**
 * http2Table renders the h2 row: wskit's echo over streams of one HTTP/2
 * connection beside the same echo over one HTTP/1.1 connection per
 * WebSocket, medians of the rounds.
 */
export function http2Table(result: Http2Result, workers: number): string {
  const { row, samples } = result;
  const rate = (impl: 'h2' | 'h1') => m(samples[impl], 'msgsPerSec');
  const lat = (key: keyof Sample) => `${ms(m(samples.h2, key))} / ${ms(m(samples.h1, key))}`;
  const errors = [...samples.h2, ...samples.h1].reduce((n, s) => n + s.errors, 0);
  const all = [...samples.h2, ...samples.h1];
  return table(
    ['row', 'TCP connections h2 / h1', 'h2 msg/s', 'h1 msg/s', 'h2 ÷ h1', 'h2 MB/s', 'h1 MB/s', 'p50 ms h2 / h1', 'p99 ms h2 / h1', 'CPU % srv/gen h2', 'CPU % srv/gen h1', 'other CPU %'],
    [[
      `${row.id}${errors > 0 ? ` (${errors} errors)` : ''}`,
      `${workers} / ${row.conns}`,
      fmt(rate('h2')),
      fmt(rate('h1')),
      ratio(rate('h2'), rate('h1')),
      fmt(m(samples.h2, 'mbPerSec')),
      fmt(m(samples.h1, 'mbPerSec')),
      lat('p50us'),
      lat('p99us'),
      cpu(samples.h2, workers),
      cpu(samples.h1, workers),
      fmt(median(all.map((s) => s.otherCpu)), 2),
    ]],
  );
}
