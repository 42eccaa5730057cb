/**
 * A throw-away `redis-server` for the Redis fan-out row: in-memory only, on a
 * free 127.0.0.1 port, in its own temporary directory. (test/helpers has a
 * fuller one for tests; the bench needs the pid too, to count Redis's CPU.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long to wait for "Ready to accept connections". */
const READY_TIMEOUT_MS = 10_000;
/** How long a stopping server may take before it is killed. */
const STOP_TIMEOUT_MS = 5_000;
/** Attempts when another process takes the free port first. */
const PORT_ATTEMPTS = 5;

/** BenchRedis is one running redis-server. */
export interface BenchRedis {
  pid: number;
  url: string;
  /** stop ends the process (SIGTERM, SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

/** redisMissing returns why `redis-server` cannot run here, or undefined when it can. */
export function redisMissing(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.status === 0 ? undefined : 'redis-server is not installed (apt-get install redis-server)';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function spawnOnce(port: number, dir: string): Promise<BenchRedis> {
  // --port 0 would disable TCP, so the port comes from freePort.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const onExit = () => child.kill('SIGKILL');
  process.on('exit', onExit);
  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    const fail = (why: string) => {
      if (ready) return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      process.off('exit', onExit);
      reject(new Error(`redis-server on port ${port} ${why}: ${output.slice(-500)}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('error', (err) => fail(`failed to start (${err.message})`));
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
    child.stderr.on('data', (chunk: Buffer) => {
      if (output.length < 4096) output += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (output.length < 4096) output += chunk.toString();
      if (!output.includes('Ready to accept connections')) return;
      ready = true;
      clearTimeout(timer);
      // Keep draining both pipes so a chatty server never blocks.
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      child.stderr.removeAllListeners('data');
      child.stderr.resume();
      resolve({
        pid: child.pid ?? -1,
        url: `redis://127.0.0.1:${port}`,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
            child.kill('SIGTERM');
            await exited;
            clearTimeout(kill);
          }
          process.off('exit', onExit);
        },
      });
    });
  });
}

/** startRedis starts redis-server on a free 127.0.0.1 port in a temporary directory; throws with its output if it cannot. */
export async function startRedis(): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-bench-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    try {
      const redis = await spawnOnce(await freePort(), dir);
      return {
        ...redis,
        async stop() {
          await redis.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`Cannot start redis-server after ${PORT_ATTEMPTS} attempts: ${String(lastError)}`);
}
