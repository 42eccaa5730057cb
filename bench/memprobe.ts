/**
 * The memory probe (`npm run bench:mem`): where each idle connection's bytes
 * go, by constructor. For each server it takes a heap snapshot before and
 * after opening N idle connections (and again after one echo each), and
 * prints the growth per connection by group, largest first, with RSS read
 * from /proc with no forced GC (3 s after the storm) beside it.
 *
 * Servers: `wskit serve`'s /echo (the real route: idle timer, log lines,
 * connection limits), its chat socket /ws (`chat`: members spread evenly
 * over `--rooms` rooms, default 4, each with a name of its own; idle only,
 * since one message each would be a broadcast to every room), the documented `for await` style
 * (bench/servers/echo-wskit.ts), the documented `conn.onMessage` style (the
 * same server with `--on-message`), ws (bench/servers/echo-ws.ts) and the
 * floor (bench/servers/idle-floor.ts). Snapshots come from
 * `--heapsnapshot-signal`, so each server runs unchanged; a snapshot forces
 * a full GC, which is why RSS is read before it.
 *
 * Flags: `--conns N` (default 2,000), `--top N` rows (default 14),
 * `--only a,b` (serve, chat, for-await, on-message, ws, floor), `--no-echo`, `--keep` (leave
 * the snapshots in their temp directory, to open in Chrome DevTools).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffHeapTotals, readHeapTotals, type HeapTotals } from './heap-diff.js';
import { Child } from './ipc.js';
import { Pool, sleep } from './pool.js';
import { startWskitServe } from './targets.js';

/** ProbeTarget names a probed server. */
type ProbeTarget = 'serve' | 'chat' | 'for-await' | 'on-message' | 'ws' | 'floor';

const ALL: ProbeTarget[] = ['serve', 'chat', 'for-await', 'on-message', 'ws', 'floor'];
const PER_WORKER = 2_500;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** rssOf reads a process's resident set from /proc, in bytes, without touching its heap. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

interface Running {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

async function start(target: ProbeTarget, dir: string): Promise<Running> {
  const nodeArgs = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`];
  if (target === 'serve' || target === 'chat') {
    const s = await startWskitServe([], nodeArgs);
    return { pid: s.pid, port: s.port, stop: () => s.stop() };
  }
  const file = target === 'for-await' || target === 'on-message' ? 'echo-wskit' : target === 'ws' ? 'echo-ws' : 'idle-floor';
  const args = target === 'on-message' ? ['--on-message'] : [];
  const child = new Child(target, fileURLToPath(new URL(`./servers/${file}.js`, import.meta.url)), args, nodeArgs);
  await child.nextEvent(15_000);
  const { port } = await child.request({ cmd: 'info' });
  return { pid: child.pid, port: port as number, stop: () => child.stop() };
}

/** snapshot signals the server to write a heap snapshot and waits until the file is whole. */
async function snapshot(pid: number, dir: string): Promise<HeapTotals> {
  const known = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    await sleep(300);
    const file = readdirSync(dir).find((f) => !known.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const path = join(dir, file);
    const size = statSync(path).size;
    await sleep(300);
    if (size === 0 || statSync(path).size !== size) continue;
    try {
      return readHeapTotals(path);
    } catch {
      // Still being written: try again.
    }
  }
  throw new Error(`Cannot read a heap snapshot of process ${pid}: none complete in ${dir} within 60 s`);
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(2)} KiB`;
}

async function probe(target: ProbeTarget, conns: number, top: number, echo: boolean, rooms: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-memprobe-'));
  const server = await start(target, dir);
  // Chat: one worker per room, so each worker's connections share one URL but for the name.
  const workers = target === 'chat' ? rooms : Math.max(1, Math.ceil(conns / PER_WORKER));
  const pool = new Pool('echo-worker', workers);
  try {
    const base = `ws://127.0.0.1:${server.port}`;
    const url = (worker: number) => (target === 'chat' ? `${base}/ws?room=mem${worker}&name=u${worker}-{i}` : `${base}/echo`);
    const load = (worker: number, n: number) => ({ url: url(worker), transport: 'ws', conns: n, size: 32, inflight: 1, deflate: false });
    // One connection first, so lazily loaded code is not counted per connection.
    await pool.all((i) => (i === 0 ? { cmd: 'open', load: load(i, 1) } : undefined));
    if (target !== 'floor') await pool.all((i) => (i === 0 ? { cmd: 'once' } : undefined));
    await pool.all((i) => (i === 0 ? { cmd: 'close' } : undefined));
    await sleep(1_000);
    const rss0 = rssOf(server.pid);
    const before = await snapshot(server.pid, dir);
    const shares = pool.share(conns);
    await pool.all((i) => (shares[i] ? { cmd: 'open', load: load(i, shares[i]!) } : undefined), 120_000);
    await sleep(3_000);
    const rss1 = rssOf(server.pid);
    const idle = await snapshot(server.pid, dir);
    const report = (label: string, after: HeapTotals, rss: number) => {
      const { rows, total } = diffHeapTotals(before, after, conns);
      console.log(`\n${target} (${label}), ${conns} connections: heap ${kib(total)}/conn (snapshot, after GC), RSS ${kib((rss - rss0) / conns)}/conn (3 s after, no forced GC)`);
      console.log('   B/conn  objs/conn  group');
      for (const r of rows.slice(0, top)) console.log(`${r.bytesPerConn.toFixed(0).padStart(9)}  ${r.countPerConn.toFixed(2).padStart(9)}  ${r.group}`);
    };
    report('idle', idle, rss1);
    if (echo && target !== 'floor' && target !== 'chat') {
      await pool.all((i) => (shares[i] ? { cmd: 'once' } : undefined), 60_000);
      await sleep(3_000);
      const rss2 = rssOf(server.pid);
      report('after one echo each', await snapshot(server.pid, dir), rss2);
    }
  } finally {
    await pool.stop();
    await server.stop();
    if (process.argv.includes('--keep')) console.log(`snapshots kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const conns = Number(flag('conns') ?? 2_000);
const top = Number(flag('top') ?? 14);
const rooms = Number(flag('rooms') ?? 4);
if (!Number.isInteger(rooms) || rooms < 1) throw new RangeError(`Invalid --rooms: ${flag('rooms')}; expected a whole number of at least 1`);
const only = (flag('only')?.split(',') ?? ALL) as ProbeTarget[];
for (const t of only) if (!ALL.includes(t)) throw new RangeError(`Cannot probe ${t}: the servers are ${ALL.join(', ')}`);
for (const target of only) await probe(target, conns, top, !process.argv.includes('--no-echo'), rooms);
process.exit(0);
