/**
 * `wskit serve` in a child process, for attack tests that measure memory or
 * must survive a crash: the child runs `startServer` with the given options
 * (the same code as the binary) and answers over IPC with its memory after a
 * full GC and its connection counts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ServerOptions } from '../../src/server.js';

/** Memory of the child after two forced GCs, in bytes. */
export interface MemorySample {
  rss: number;
  /** Peak RSS of the child's life so far (getrusage), in bytes. */
  maxRss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** A server running in a child process. */
export interface ChildServer {
  port: number;
  /** `ws://127.0.0.1:port`. */
  wsBase: string;
  process: ChildProcess;
  memory(): Promise<MemorySample>;
  connections(): Promise<{ tcp: number; webSockets: number }>;
  /** Settles when the child exits, with its exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Graceful stop (shutdown, then exit); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Log lines the server wrote (the last 2,000). */
  log(): Promise<string[]>;
}

const SERVER_MODULE = fileURLToPath(new URL('../../src/server.js', import.meta.url));

/** The child's program: start the server, report the port, answer requests by id. */
const CHILD_SOURCE = `
const { startServer } = await import(process.env.WSKIT_SERVER_MODULE);
const options = JSON.parse(process.env.WSKIT_SERVER_OPTIONS);
const lines = [];
const server = await startServer({ ...options, log: (line) => { lines.push(line); if (lines.length > 2000) lines.shift(); } });
process.on('message', async (m) => {
  if (m.type === 'memory') {
    globalThis.gc(); await new Promise((r) => setImmediate(r)); globalThis.gc();
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.send({ id: m.id, value: { rss, maxRss: process.resourceUsage().maxRSS * 1024, heapUsed, external, arrayBuffers } });
  } else if (m.type === 'connections') {
    process.send({ id: m.id, value: await server.connections() });
  } else if (m.type === 'log') {
    process.send({ id: m.id, value: lines });
  } else if (m.type === 'stop') {
    await server.shutdown();
    process.exit(0);
  }
});
process.send({ type: 'listening', port: server.port });
`;

/**
 * startChildServer forks a server with `options` (JSON-serializable; `log`
 * is captured in the child) and resolves once it listens on 127.0.0.1.
 */
export async function startChildServer(options: Omit<ServerOptions, 'log' | 'port' | 'host'>, execArgv: string[] = []): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--expose-gc', ...execArgv, '--input-type=module', '--eval', CHILD_SOURCE], {
    env: {
      ...process.env,
      WSKIT_SERVER_MODULE: SERVER_MODULE,
      WSKIT_SERVER_OPTIONS: JSON.stringify({ ...options, port: 0, host: '127.0.0.1' }),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('The child server did not start within 10 s')), 10_000);
    child.on('message', (m: { type?: string; port?: number }) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve(m.port!);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`The child server exited with ${code} before listening`));
    });
  });
  let nextId = 0;
  const ask = <T>(type: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (m: { id?: number; value?: T }) => {
        if (m.id !== id) return;
        child.off('message', onMessage);
        resolve(m.value as T);
      };
      child.on('message', onMessage);
      if (!child.connected) return reject(new Error(`Cannot ask the child server for ${type}: it has exited`));
      child.send({ type, id });
    });
  return {
    port,
    wsBase: `ws://127.0.0.1:${port}`,
    process: child,
    memory: () => ask<MemorySample>('memory'),
    connections: () => ask('connections'),
    log: () => ask<string[]>('log'),
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      if (child.connected) child.send({ type: 'stop' });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The `wskit` binary of this checkout. */
export const WSKIT_BIN = fileURLToPath(new URL('../../../bin/wskit', import.meta.url));

/** A `wskit serve` process started from the binary. */
export interface ServeProcess {
  process: ChildProcess;
  /** `ws://127.0.0.1:port`, or `wss://` when it serves TLS. */
  wsBase: string;
  /** `http://127.0.0.1:port`, or `https://` when it serves TLS. */
  httpBase: string;
  port: number;
  /** Everything it printed on stdout so far. */
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send `signal` (default SIGTERM) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * spawnServe runs `wskit serve --port 0 --host 127.0.0.1 ...args` and
 * resolves once it prints its listening line.
 */
export async function spawnServe(args: string[]): Promise<ServeProcess> {
  const child = spawn(process.execPath, [WSKIT_BIN, 'serve', '--port', '0', '--host', '127.0.0.1', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (out = (out + text).slice(-200_000)));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (err = (err + text).slice(-20_000)));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const { port, secure } = await new Promise<{ port: number; secure: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wskit serve did not start within 10 s: ${out}${err}`)), 10_000);
    const check = () => {
      const match = /wskit listening on http(s?):\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve({ port: Number(match[2]), secure: match[1] === 's' });
      }
    };
    child.stdout!.on('data', check);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`wskit serve exited with ${code} before listening: ${err}`));
    });
  });
  return {
    process: child,
    port,
    wsBase: `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    httpBase: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    stdout: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
