/**
 * `npm run bench`: wskit's server against the npm `ws` server, side by side
 * on this machine with the same `ws`-client load generator, alternating the
 * servers round by round. Writes the markdown tables to stdout and
 * bench/results/latest.md, and every sample to bench/results/latest.json.
 * Flags are documented in bench/options.ts (`--quick` for a one-minute smoke run).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { parseOptions, type BenchOptions } from './options.js';
import { runCore } from './core.js';
import { coreTable, echoTable, fanoutCpuTable, fanoutTable, http2Table, memoryTable, stormTable } from './report.js';
import { runEcho, type EchoResult } from './suites/echo.js';
import { runHttp2, type Http2Result } from './suites/http2.js';
import { CLUSTER_MASTERS, CPU_RATE, CPU_TARGET, P99_LIMIT_MS, REDIS_NODES, runFanout, runFanoutRedis } from './suites/fanout.js';
import { median } from './stats.js';
import { runMemory } from './suites/memory.js';
import { runStorm } from './suites/storm.js';
import { buildNativeClient, compilerVersion } from './load/native.js';
import { wskitAvailable } from './targets.js';

/** NOISY_OTHER_CPU: when over a fifth of the windows saw other processes use more than this share of a core, the report warns. */
const NOISY_OTHER_CPU = 20;

const log = (line: string) => process.stderr.write(`${line}\n`);

function machine(): string {
  const require = createRequire(import.meta.url);
  const wsVersion = (require('ws/package.json') as { version: string }).version;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout: the commit is simply unknown.
  }
  const cpu = cpus();
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu[0]?.model ?? 'unknown CPU'} × ${cpu.length} · ${Math.round(totalmem() / 2 ** 30)} GiB · Node ${process.version} · ws ${wsVersion} · wskit ${commit}${wskitAvailable() ? '' : ' (library not built: wskit column runs ws as a stand-in)'}`;
}

function generator(gen: BenchOptions['gen']): string {
  if (gen === 'ws') return 'the npm `ws` client';
  if (gen === 'raw') return 'the raw pre-encoded client of bench/load/raw-client.ts';
  return `the C generator of bench/load/native-client.c (pre-encoded frames, one write per message; ${compilerVersion()})`;
}

function settings(o: BenchOptions): string {
  return `${o.quick ? '**Quick smoke run** — not for comparison. ' : ''}Medians of ${o.rounds} rounds (wskit, wskit/ws, ws, TCP in turn each round), ${o.warmupMs} ms warm-up + ${o.measureMs} ms measured per window, ${o.workers} load worker process(es) using ${generator(o.gen)}.`;
}

async function timed<T>(name: string, run: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await run();
  log(`${name} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return result;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  if (opts.gen === 'native') {
    const unavailable = buildNativeClient();
    if (unavailable) {
      log(`The C load generator is unavailable, so the echo rows use the raw Node client: ${unavailable}`);
      opts.gen = 'raw';
    }
  }
  const started = Date.now();
  const sections: string[] = [`# wskit vs ws benchmark\n\n${machine()}\n\n${settings(opts)}`];
  const raw: Record<string, unknown> = { options: opts };
  if (opts.sections.includes('echo')) {
    const results = await timed('echo', () => runEcho(opts, false, log));
    raw.echo = results;
    if (results.length) sections.push(`## Echo\n\nText frames, masked client frames. wskit's echo server reads ${opts.wskitStyle === 'on-message' ? 'with one `conn.onMessage` handler for every connection, the callback style ws\'s server is written in (`--wskit-style for-await` measures a `for await` loop per connection instead)' : 'with a `for await` loop per connection (`--wskit-style for-await`; the default is one `conn.onMessage` handler)'}. MB/s counts payload bytes echoed (10⁶ B). CPU is % of one core (server / all load workers); ⚠ marks a saturated load generator. wskit/ws is bench/servers/echo-ws.ts with its import changed to \`wskit/ws\` (ws's API on wskit); its target against ws (issue 12) is ≥ 1.3× on the pipelined rows of small messages and ≥ 1.5× on the rows of 64 KiB and up.\n\n${echoTable(results, true, opts.workers)}`);
  }
  if (opts.sections.includes('deflate')) {
    const results = await timed('deflate', () => runEcho(opts, true, log));
    raw.deflate = results;
    if (results.length) sections.push(`## Echo with permessage-deflate\n\nBoth ends negotiate permessage-deflate; clients compress every message, servers use their default threshold (1 KiB for both).\n\n${echoTable(results, false, opts.workers)}`);
  }
  if (opts.sections.includes('http2')) {
    const result = await timed('http2', () => runHttp2(opts, log));
    raw.http2 = result;
    sections.push(`## Echo over HTTP/2 streams (RFC 8441)\n\nwskit's echo with each WebSocket a stream of one h2c connection (bench/servers/echo-wskit-http2.ts: a node:http2 server allowing extended CONNECT) beside the same echo over HTTP/1.1 with a TCP connection per WebSocket (bench/servers/echo-wskit.ts). Both loads come from the Node raw client of bench/load/raw-client.ts (pre-encoded masked frames; for h2 one session per load worker carrying every stream, bench/load/http2-client.ts), not the C generator, which speaks no HTTP/2; so compare the two columns with each other, not with the echo table. Medians of ${opts.rounds} rounds, h2 then h1 in each.\n\n${http2Table(result, opts.workers)}`);
  }
  if (opts.sections.includes('memory')) {
    const result = await timed('memory', () => runMemory(opts, log));
    raw.memory = result;
    sections.push(`## Memory per idle connection\n\n${result.conns.toLocaleString('en-US')} idle WebSocket connections to the echo server (no permessage-deflate), opened from ${Math.ceil(result.conns / 2500)} client processes; deltas after a full GC inside the server, divided by N; medians of ${opts.memoryRounds} fresh-server rounds. The floor is bench/servers/idle-floor.ts: \`node:http\` completing the handshake by hand, then holding the socket with no WebSocket state; no server on \`net.Socket\` can go below it. V8's young generation is emptied by the GC but keeps its pages: it grows with how much a server allocated while connections opened (up to 32 MiB), not with what it keeps, so RSS is also shown without it. The last two rows are read again after every connection has sent one 32 B message and had it echoed: what a connection keeps once it has carried traffic. The last row is what a user's ps shows: RSS read from /proc 3 s after the connections opened, with no forced GC (garbage and the grown young generation included); the \`wskit\` column is the documented \`for await\` style, \`wskit onMessage\` the documented callback style (\`conn.onMessage\`, one handler for every connection); its \`wskit serve /echo\` column is the real route (\`node packages/server/bin/wskit serve\`: idle timer, log lines, limits, metrics), which answers no stats requests, so it has only this row. Where the bytes go, by constructor: \`npm run bench:mem\`.${result.note ? ` **Note:** ${result.note}.` : ''}\n\n${memoryTable(result)}`);
  }
  const fanout = opts.sections.includes('fanout') ? await timed('fanout', () => runFanout(opts, log)) : undefined;
  const fanoutRedis = opts.sections.includes('fanout-redis') ? await timed('fanout-redis', () => runFanoutRedis(opts, log)) : undefined;
  if (fanout) raw.fanout = fanout;
  if (fanoutRedis) raw.fanoutRedis = fanoutRedis;
  if (fanout || fanoutRedis) {
    const clients = opts.fanoutClients.toLocaleString('en-US');
    const half = Math.ceil(opts.fanoutClients / REDIS_NODES).toLocaleString('en-US');
    const rows = [
      fanout ? `The 1-node row runs \`wskit serve --rate-limit 0\` and the ws broadcast server of bench/servers/chat-ws.ts in turn; medians of ${opts.fanoutRounds} searches each.` : '',
      fanoutRedis ? `The Redis row runs ${REDIS_NODES} \`wskit serve --rate-limit 0 --redis\` nodes sharing one redis-server, ${half} subscribers on each node (one subscriber process per node), the publisher on node 1; server CPU sums both nodes and redis-server; median of ${opts.fanoutRedisRounds} search(es). ws has no clustered counterpart, so its cells are "—" (compare with the 1-node wskit row above it). The Redis Cluster row is the same load on the same two nodes through a Redis Cluster of ${CLUSTER_MASTERS} masters made by \`redis-cli --cluster create\` (server CPU sums the nodes and every master); the one room lives on one master, so the row shows the cost of the cluster path (a doorbell per message, then a non-blocking XREAD) rather than the spread of many rooms.` : '',
    ].filter(Boolean).join(' ');
    const cpu = fanout
      ? `\n\nServer CPU per delivery at ${CPU_RATE} msg/s (issue 16, target 3: wskit ≤ ${CPU_TARGET}× ws), CPU over the publishing window divided by deliveries. wskit's and ws's figures are their search trials at ${CPU_RATE} msg/s (the doubling from 50 reaches it; "–" when a search did not try it). The floor is bench/servers/broadcast-floor.ts: \`node:http\` completing the handshake by hand, then writing each published text, as one pre-built frame, to every other socket with one \`socket.write\`, with no ids, history, presence or queues; it runs only one trial at ${CPU_RATE} msg/s per round. Every server that makes one write per subscriber per message spends at least the floor, so floor ÷ ws is the lowest wskit ÷ ws reachable that way: above ${CPU_TARGET}×, the target needs fewer writes than deliveries. (wskit − floor) ÷ (ws − floor) is the share of ws's cost above the floor that wskit spends.\n\n${fanoutCpuTable(fanout)}`
      : '';
    sections.push(`## Chat fan-out\n\n${clients} subscribers in one room (${opts.gen === 'ws' ? 'npm \`ws\` clients' : 'raw clients'}, every one a distinct name) and one publisher; each trial publishes for ${opts.fanoutTrialMs} ms and passes when every subscriber gets every message exactly once and the delivery p99 is within ${P99_LIMIT_MS} ms (2 s drain allowed). Highest passing rate by doubling then bisection, a failing rate tried twice, at most ${opts.fanoutMaxTrials} trials per search. ${rows}\n\n${fanoutTable(fanout, fanoutRedis)}${cpu}`);
  }
  const storm = { single: opts.sections.includes('storm'), redis: opts.sections.includes('storm-redis') };
  if (storm.single || storm.redis) {
    const rows = await timed('join storm', () => runStorm(opts, storm, log));
    raw.storm = rows;
    sections.push(`## Join storm (issue 17)\n\nN distinct users join one room of \`wskit serve\` (default --presence-interval 250ms, --presence-max-users 1000), from two joining processes in waves of 25 each (one process per node with Redis), while user 0, already in the room, publishes 10 msg/s. Presence bytes are the payloads of every presence frame all N users received, snapshots included. "All joined" runs from the first join until the last user had its presence snapshot; the delivery percentiles cover every message sent in that window, to every user already in the room when it arrived; server CPU is over the same window (both nodes and redis-server summed in the Redis rows). Final views are checked after the last join: names (N ≤ 1,000) or the count (N > 1,000), for all N users. Lost and doubled count the publisher's messages each user missed (a later one arrived) or got twice after its history; late counts those still on their way 15 s after the last send (a joining process that fell behind). Other processes' CPU is shown: on this shared 2-core machine a busy neighbour starves the joining processes, and the row then measures their backlog. Targets of issue 17 in the headers; ✓ met, ✗ missed. Run just these rows with \`node dist/bench/run.js --only storm,storm-redis\` (\`--storm-users 5000\` for one size).\n\n${stormTable(rows)}`);
  }
  if (opts.sections.includes('core')) {
    const results = await timed('core', async () => runCore(opts.quick ? 100 : 300, log));
    raw.core = results;
    sections.push(`## Core micro-benchmarks (src/protocol, one thread)\n\nSmall frames are fed in batches of about 64 KiB, as a socket read delivers them. MB/s counts payload bytes.\n\n${coreTable(results)}`);
  }
  const other = [
    ...[...((raw.echo as EchoResult[] | undefined) ?? []), ...((raw.deflate as EchoResult[] | undefined) ?? [])].flatMap((r) => Object.values(r.samples).flat().map((x) => x.otherCpu)),
    ...Object.values((raw.http2 as Http2Result | undefined)?.samples ?? {}).flat().map((x) => x.otherCpu),
    ...[...(fanout?.samples.wskit ?? []), ...(fanout?.samples.ws ?? []), ...(fanoutRedis?.samples ?? []), ...(fanoutRedis?.cluster ?? [])].flatMap((x) => x.trials.map((t) => t.otherCpu)),
    ...(fanout?.floor ?? []).map((t) => t.otherCpu),
  ];
  const noisy = other.filter((x) => x > NOISY_OTHER_CPU).length;
  if (noisy > other.length / 5) {
    sections.splice(1, 0, `> **Warning:** in ${noisy} of ${other.length} measured windows other processes used over ${NOISY_OTHER_CPU} % of a core (median ${median(other).toFixed(0)} %, column "other CPU %"); on a 2-core machine that skews those rows. Re-run on a quiet machine before comparing.`);
  }
  sections.push(`Total run time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  const markdown = sections.join('\n\n') + '\n';
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, 'latest.md'), markdown);
  writeFileSync(join(opts.outDir, 'latest.json'), JSON.stringify(raw, null, 1));
  log(`Tables written to ${join(opts.outDir, 'latest.md')}, samples to latest.json beside it.`);
  process.stdout.write(markdown);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
