/**
 * Runs the Python `websockets` peer (test/interop/python-peer.py) with
 * Debian's /usr/bin/python3. Tests skip when python3-websockets is missing,
 * unless WSKIT_REQUIRE_SERVICES=1, when they must run (and so fail).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { matrix, type Sample, SMALL_SIZES } from './peers.js';

/** The interpreter Debian's python3-websockets is installed for. */
export const PYTHON = '/usr/bin/python3';

/** The peer script, in the source tree (tsc does not copy .py files into dist/). */
export const PEER_SCRIPT = fileURLToPath(new URL('../../../test/interop/python-peer.py', import.meta.url));

/** One JSON report line of the peer. */
export type Report = Record<string, unknown> & { event: string };

/** The installed websockets version, or null when it cannot be imported. */
export function websocketsVersion(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

/** The `skip` option for a Python interop test: a reason when the peer cannot run and services are optional. */
export function pythonSkip(): string | false {
  if (process.env.WSKIT_REQUIRE_SERVICES === '1') return false;
  return websocketsVersion() === null
    ? `${PYTHON} cannot import websockets (install python3-websockets, or set WSKIT_REQUIRE_SERVICES=1 to fail instead)`
    : false;
}

function collect(child: ChildProcess, reports: Report[], onReport: () => void): { stderr: () => string } {
  let pending = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) reports.push(JSON.parse(line) as Report);
      onReport();
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 64 * 1024) stderr += chunk;
  });
  return { stderr: () => stderr };
}

/**
 * runPythonClient runs the peer as a client against `url` with the samples
 * ("text:125,binary:0") and resolves with its reports once it exits.
 */
export function runPythonClient(url: string, compression: boolean, samples: string, timeoutMs: number): Promise<Report[]> {
  const child = spawn(PYTHON, [PEER_SCRIPT, 'client', url, compression ? 'deflate' : 'none', samples], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reports: Report[] = [];
  const output = collect(child, reports, () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Python client took over ${timeoutMs} ms; stderr: ${output.stderr()}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(reports);
      else reject(new Error(`Python client exited with ${code}; stderr: ${output.stderr()}`));
    });
  });
}

/** A running Python echo server. */
export interface PythonServer {
  url: string;
  reports: Report[];
  /** Wait until a report matching `match` has arrived (bounded by `timeoutMs`). */
  waitFor(match: (report: Report) => boolean, timeoutMs?: number): Promise<Report>;
  stop(): Promise<void>;
}

/** startPythonServer starts the peer's echo server and resolves once it listens. */
export async function startPythonServer(compression: boolean): Promise<PythonServer> {
  const child = spawn(PYTHON, [PEER_SCRIPT, 'server', compression ? 'deflate' : 'none'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const reports: Report[] = [];
  const wakers = new Set<() => void>();
  const output = collect(child, reports, () => {
    for (const wake of wakers) wake();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = async (match: (report: Report) => boolean, timeoutMs = 10_000): Promise<Report> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = reports.find(match);
      if (found) return found;
      if (child.exitCode !== null) throw new Error(`Python server exited with ${child.exitCode}; stderr: ${output.stderr()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Python server did not report in ${timeoutMs} ms; stderr: ${output.stderr()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 500));
        function done() {
          clearTimeout(timer);
          wakers.delete(done);
          resolve();
        }
        wakers.add(done);
      });
    }
  };
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.stdin!.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const listening = await waitFor((r) => r.event === 'listening');
    return { url: `ws://127.0.0.1:${listening.port as number}`, reports, waitFor, stop };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

/**
 * The messages each Python interop test exchanges: the matrix up to 1 MiB,
 * then 16 MiB once per mode (binary without compression, text with it), as
 * the slow pure-Python peer would take minutes over the whole matrix.
 */
export function pythonSamples(compression: boolean): Sample[] {
  return [...matrix(SMALL_SIZES), { type: compression ? 'text' : 'binary', size: 16 * 1024 * 1024 }];
}
