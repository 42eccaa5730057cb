/**
 * Starting and stopping the servers under test. Each runs in its own child
 * process on 127.0.0.1 with an ephemeral port; the runner learns the port over
 * IPC (bench servers) or from the `wskit listening on` line (`packages/server/bin/wskit`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from './ipc.js';

/** ServerStats are a server's own memory figures (bytes) and open connection count. */
export interface ServerStats {
  rss: number;
  heapUsed: number;
  external: number;
  /**
   * Resident bytes of V8's young generation. It grows with the allocation
   * rate (up to twice the semi-space size), not with what is kept, so the
   * memory row reports RSS both with and without it.
   */
  youngGeneration: number;
  connections: number;
}

/** Server is one running server under test. */
export interface Server {
  /** label names it in the table: wskit, wskit/ws, ws or tcp. */
  label: string;
  pid: number;
  port: number;
  /** stats returns memory figures measured inside the server; NaN where the server cannot report them. */
  stats(gc: boolean): Promise<ServerStats>;
  stop(): Promise<void>;
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const repoRoot = here('../../');

/** wskitAvailable reports whether the compiled wskit library and its bench echo server exist. */
export function wskitAvailable(): boolean {
  return existsSync(join(repoRoot, 'packages/wskit/dist/src/index.js')) && existsSync(here('./servers/echo-wskit.js'));
}

/**
 * wskitWsMissing says why the wskit/ws echo column cannot run (the library is
 * not built, or wskit/ws does not export WebSocketServer yet), or returns
 * undefined when it can.
 */
export async function wskitWsMissing(): Promise<string | undefined> {
  if (!wskitAvailable() || !existsSync(join(repoRoot, 'packages/wskit/dist/src/ws/index.js'))) return 'the wskit library is not built';
  const mod = (await import('wskit/ws')) as Record<string, unknown>;
  return typeof mod.WebSocketServer === 'function' ? undefined : 'wskit/ws does not export WebSocketServer';
}

/**
 * startBenchServer forks `bench/servers/<file>.js` and waits until it listens.
 * `exposeGc` lets the memory row force a full GC before reading the heap.
 */
export async function startBenchServer(label: string, file: string, args: string[] = [], exposeGc = false): Promise<Server> {
  const execArgv = exposeGc ? ['--expose-gc'] : [];
  // BENCH_CPU_PROF=DIR profiles every bench server (and `wskit serve`, below); summarise with dist/bench/profile-summary.js.
  if (process.env.BENCH_CPU_PROF) execArgv.push('--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF, '--cpu-prof-name', `${label.replace(/[^\w.-]+/g, '-')}-${file}-${Date.now()}.cpuprofile`);
  const child = new Child(label, here(`./servers/${file}.js`), args, execArgv);
  await child.nextEvent(15_000);
  const { port } = await child.request({ cmd: 'info' });
  return {
    label,
    pid: child.pid,
    port: port as number,
    async stats(gc) {
      const r = await child.request({ cmd: 'stats', gc }, 30_000);
      return { rss: r.rss as number, heapUsed: r.heapUsed as number, external: r.external as number, youngGeneration: r.youngGeneration as number, connections: r.connections as number };
    },
    stop: () => child.stop(),
  };
}

/**
 * startEchoServer starts the echo server of `impl` (wskit, wskit/ws — ws's
 * API on wskit, ws or tcp), with permessage-deflate when `deflate`; wskit's
 * reads in `style`, a `for await` loop or one `conn.onMessage` handler. Until the
 * wskit library is built, the wskit slot runs the ws server so the harness
 * can still be exercised, and its label says so; check {@link wskitWsMissing}
 * before asking for wskit/ws.
 */
export function startEchoServer(impl: 'wskit' | 'wskit/ws' | 'ws' | 'tcp', deflate: boolean, exposeGc = false, style: 'for-await' | 'on-message' = 'for-await'): Promise<Server> {
  const args = deflate ? ['--deflate'] : [];
  if (impl === 'tcp') return startBenchServer('tcp', 'echo-tcp', [], exposeGc);
  if (impl === 'ws') return startBenchServer('ws', 'echo-ws', args, exposeGc);
  if (impl === 'wskit/ws') return startBenchServer('wskit/ws', 'echo-ws', [...args, '--wskit-ws'], exposeGc);
  if (wskitAvailable()) {
    return style === 'on-message' ? startBenchServer('wskit onMessage', 'echo-wskit', [...args, '--on-message'], exposeGc) : startBenchServer('wskit', 'echo-wskit', args, exposeGc);
  }
  return startBenchServer('wskit(stand-in: ws)', 'echo-ws', args, exposeGc);
}

/**
 * startWskitServe runs `node packages/server/bin/wskit serve` on 127.0.0.1 port 0 with the chat
 * rate limit and the per-address connection limit lifted (every bench client
 * connects from 127.0.0.1) and a throw-away data directory, and resolves once
 * it prints its listening line (within 20 s). `nodeArgs` go to node before the
 * script (the memory probe passes `--heapsnapshot-signal`).
 */
export function startWskitServe(extraArgs: string[] = [], nodeArgs: string[] = []): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wskit-bench-'));
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF, '--cpu-prof-name', `wskit-serve-${Date.now()}.cpuprofile`] : [];
  const proc = spawn(
    process.execPath,
    [...profile, ...nodeArgs, join(repoRoot, 'packages/server/bin/wskit'), 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-limit', '0', '--max-connections-per-ip', '20000', '--data', dataDir, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  process.on('exit', () => proc.kill('SIGKILL'));
  let stderr = '';
  // Read both streams to the end: the server logs a line per connection and would block on a full pipe.
  proc.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  return new Promise<Server>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      cleanup();
      reject(new Error(`wskit serve printed no listening line within 20 s; stderr: ${stderr.slice(0, 500)}`));
    }, 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`wskit serve exited with code ${code} before listening; stderr: ${stderr.slice(0, 500)}`));
    });
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const m = /wskit listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (!m) {
        if (stdout.length > 65_536) stdout = stdout.slice(-1024);
        return;
      }
      clearTimeout(timer);
      stdout = '';
      proc.stdout.removeAllListeners('data');
      proc.stdout.resume();
      resolve({
        label: 'wskit',
        pid: proc.pid ?? -1,
        port: Number(m[1]),
        stats: async () => ({ rss: Number.NaN, heapUsed: Number.NaN, external: Number.NaN, youngGeneration: Number.NaN, connections: Number.NaN }),
        async stop() {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
          cleanup();
        },
      });
    });
  });
}
