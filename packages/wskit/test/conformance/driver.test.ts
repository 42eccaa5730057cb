/**
 * The Autobahn client driver (autobahn/client-driver.ts) against a small
 * fake fuzzing server built on wskit's Upgrader: `/getCaseCount` answers 3,
 * three scripted `/runCase` cases check every echo (text, binary, a 16 MiB
 * message, compressed messages, pipelined messages with a ping, a close code
 * echoed back), and `/updateReports` must be called last with the agent.
 * Run both in-process (runDriver) and as the CLI (npm run autobahn:client).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Conn, Upgrader } from '../../src/index.js';
import { getCaseCount, runDriver } from '../../autobahn/client-driver.js';
import { bytes, text } from './cases/payloads.js';

const DRIVER = fileURLToPath(new URL('../../autobahn/client-driver.js', import.meta.url));

async function expectEcho(conn: Conn, type: 'text' | 'binary', data: Buffer, what: string): Promise<void> {
  const echo = await conn.read();
  assert.equal(echo.type, type, `type of ${what}`);
  assert.ok(echo.data.equals(data), `${what} came back different (${echo.data.length} bytes)`);
}

/** The scripted cases: each returns once its checks passed, throws otherwise. */
const CASES: Record<number, (conn: Conn) => Promise<void>> = {
  async 1(conn) {
    await conn.write('text', 'Hello, driver');
    await expectEcho(conn, 'text', Buffer.from('Hello, driver'), 'the text message');
    const binary = bytes(65536, 1);
    await conn.write('binary', binary);
    await expectEcho(conn, 'binary', binary, 'the 64 KiB binary message');
    await conn.close(1000);
  },
  async 2(conn) {
    assert.match(conn.extensions, /permessage-deflate/, 'the driver offers permessage-deflate');
    const big = text(1024 * 1024, 2);
    await conn.write('text', big);
    await expectEcho(conn, 'text', big, 'the compressed 1 MiB text message');
    const limit = bytes(16 * 1024 * 1024, 3);
    await conn.write('binary', limit);
    await expectEcho(conn, 'binary', limit, 'the 16 MiB binary message');
    await conn.close(1000);
  },
  async 3(conn) {
    let pong: Buffer | null = null;
    conn.setPongHandler((data) => {
      pong = data;
    });
    const sent = Array.from({ length: 5 }, (_, i) => Buffer.from(`pipelined ${i}`));
    for (const data of sent) void conn.write('text', data);
    await conn.ping('are you there');
    for (const [i, data] of sent.entries()) await expectEcho(conn, 'text', data, `pipelined message ${i}`);
    assert.equal(String(pong), 'are you there', 'the driver answers pings');
    await conn.close(4000, 'case 3 done');
    assert.equal((await conn.closed).closeCode, 4000, 'the driver echoes the close code');
  },
};

interface FakeServer {
  url: string;
  calls: string[];
  agents: string[];
  results: Map<number, string>;
  caseCountAnswer: string;
  stop(): Promise<void>;
}

async function startFakeFuzzingServer(): Promise<FakeServer> {
  const upgrader = new Upgrader({ compression: true, maxMessageSize: 16 * 1024 * 1024, writeBufferSize: 1024 * 1024 });
  const conns = new Set<Conn>();
  const state: Omit<FakeServer, 'url' | 'stop'> = { calls: [], agents: [], results: new Map(), caseCountAnswer: '3' };
  const server = http.createServer((_, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    const target = new URL(req.url ?? '/', 'ws://127.0.0.1');
    state.calls.push(target.pathname);
    upgrader.upgrade(req, socket, head).then(async (conn) => {
      conns.add(conn);
      conn.closed.then(() => conns.delete(conn));
      if (target.pathname === '/getCaseCount') {
        await conn.write('text', state.caseCountAnswer);
        await conn.close(1000);
      } else if (target.pathname === '/runCase') {
        const n = Number(target.searchParams.get('case'));
        state.agents.push(target.searchParams.get('agent') ?? '');
        const script = CASES[n];
        try {
          if (!script) throw new Error(`no case ${n}`);
          await script(conn);
          state.results.set(n, 'ok');
        } catch (err) {
          state.results.set(n, (err as Error).message);
          conn.terminate();
        }
      } else if (target.pathname === '/updateReports') {
        state.agents.push(target.searchParams.get('agent') ?? '');
        await conn.close(1000);
      } else {
        await conn.close(1008, 'unknown path');
      }
    }, () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      for (const conn of conns) conn.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

describe('Autobahn client driver against a fake fuzzing server', () => {
  let fake: FakeServer;
  before(async () => {
    fake = await startFakeFuzzingServer();
  });
  after(() => fake.stop());
  beforeEach(() => {
    fake.calls.length = 0;
    fake.agents.length = 0;
    fake.results.clear();
    fake.caseCountAnswer = '3';
  });

  test('runDriver runs getCaseCount, every case echoing each message, then updateReports', async () => {
    const lines: string[] = [];
    const result = await runDriver(fake.url, { agent: 'test-agent', log: (line) => lines.push(line) });
    assert.deepEqual(fake.calls, ['/getCaseCount', '/runCase', '/runCase', '/runCase', '/updateReports']);
    assert.deepEqual(Object.fromEntries(fake.results), { 1: 'ok', 2: 'ok', 3: 'ok' });
    assert.deepEqual(fake.agents, ['test-agent', 'test-agent', 'test-agent', 'test-agent']);
    assert.equal(result.caseCount, 3);
    assert.deepEqual(
      result.cases.map((c) => [c.case, c.closeCode, c.error]),
      [
        [1, 1000, undefined],
        [2, 1000, undefined],
        [3, 4000, undefined],
      ],
    );
    assert.ok(lines.some((line) => line.includes('reports updated for agent test-agent')), lines.join('\n'));
  });

  test('npm run autobahn:client -- URL AGENT runs the same sequence and exits 0', async () => {
    const child = spawn(process.execPath, [DRIVER, fake.url, 'cli-agent'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    assert.equal(code, 0, `driver exited with ${code}: ${stderr}`);
    assert.deepEqual(fake.calls, ['/getCaseCount', '/runCase', '/runCase', '/runCase', '/updateReports']);
    assert.deepEqual(Object.fromEntries(fake.results), { 1: 'ok', 2: 'ok', 3: 'ok' });
    assert.deepEqual(fake.agents, ['cli-agent', 'cli-agent', 'cli-agent', 'cli-agent']);
    assert.match(stdout, /case 3\/3: closed 4000/);
    assert.match(stdout, /ran 3 cases/);
  });

  test('getCaseCount refuses an answer that is not a case count', async () => {
    fake.caseCountAnswer = 'lots';
    await assert.rejects(getCaseCount(fake.url), /getCaseCount answered "lots"/);
  });
});
