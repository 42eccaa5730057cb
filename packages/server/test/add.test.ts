/**
 * The add service: the pure `add` function, the service over the wire
 * (startServer), and the `wskit add` command line run as a child process
 * against an independent npm `ws` server implementing /add.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { add } from '../src/add/add.js';
import { startServer } from '../src/server.js';
import { dial } from 'wskit';

type After = { after: (fn: () => unknown) => void };

const MAX = Number.MAX_SAFE_INTEGER;
const WSKIT_BIN = fileURLToPath(new URL('../../bin/wskit', import.meta.url));

test('add sums two integers', () => {
  assert.deepEqual(add({ A: 7, B: 4 }), { Sum: 11 });
  assert.deepEqual(add({ A: -7, B: 4 }), { Sum: -3 });
  assert.deepEqual(add({ A: 0, B: 0 }), { Sum: 0 });
  assert.deepEqual(add({ A: MAX, B: 0 }), { Sum: MAX });
  assert.deepEqual(add({ A: -MAX, B: 0 }), { Sum: -MAX });
  assert.deepEqual(add({ A: MAX, B: -MAX }), { Sum: 0 });
  assert.deepEqual(add({ A: 1, B: 2, C: 'ignored' }), { Sum: 3 });
});

test('add refuses missing, non-integer and out-of-range fields with an error', () => {
  const refused: unknown[] = [
    {},
    { A: 1 },
    { B: 1 },
    { A: 1.5, B: 1 },
    { A: 1, B: '2' },
    { A: null, B: 1 },
    { A: 1, B: true },
    { A: MAX + 1, B: 0 },
    { A: 0, B: -(MAX + 1) },
    { A: 1e300, B: 1 },
    { A: MAX, B: 1 },
    { A: -MAX, B: -1 },
  ];
  for (const request of refused) {
    const answer = add(request);
    assert.ok('error' in answer && typeof answer.error === 'string' && answer.error.length > 0, JSON.stringify(request));
  }
});

test('add refuses a request that is not a JSON object', () => {
  for (const request of [null, 7, 'text', [7, 4], true, undefined]) {
    assert.ok('error' in add(request), JSON.stringify(request));
  }
});

test('add service over the wire answers pipelined requests in order', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wskit-add-test-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startServer({ port: 0, host: '127.0.0.1', chat: { dataDir }, log: () => {} });
  t.after(() => server.shutdown());
  const { conn } = await dial(`${server.url.replace('http:', 'ws:')}/add`);
  for (let i = 0; i < 20; i++) void conn.writeJSON({ A: i, B: 100 });
  for (let i = 0; i < 20; i++) assert.deepEqual(await conn.readJSON(), { Sum: i + 100 });
  await conn.writeJSON({ A: 1 });
  assert.equal(typeof ((await conn.readJSON()) as { error?: string }).error, 'string');
  await conn.close();
});

test('add service answers an external client (npm ws): sums, errors on bad JSON, and the connection stays open', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wskit-add-ws-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startServer({ port: 0, host: '127.0.0.1', chat: { dataDir }, log: () => {} });
  t.after(() => server.shutdown());
  const client = new WebSocket(`${server.url.replace('http:', 'ws:')}/add`);
  await once(client, 'open');
  const answers: unknown[] = [];
  client.on('message', (data, isBinary) => {
    assert.equal(isBinary, false);
    answers.push(JSON.parse(String(data)));
  });
  client.send('{"A":7,"B":4}');
  client.send('{"A":7,');
  client.send(JSON.stringify({ A: 2 ** 53, B: 1 }));
  client.send('{"A":-5,"B":3}');
  for (let i = 0; i < 100 && answers.length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(answers[0], { Sum: 11 });
  assert.equal(typeof (answers[1] as { error?: unknown }).error, 'string');
  assert.equal(typeof (answers[2] as { error?: unknown }).error, 'string');
  assert.deepEqual(answers[3], { Sum: -2 });
  client.close(1000, 'done');
  const [code] = (await once(client, 'close')) as [number];
  assert.equal(code, 1000);
});

/** An npm ws server implementing /add on its own, requiring a cookie, with a marker response header. */
async function wsAddServer(t: After, answer: (request: { A: number; B: number }) => unknown) {
  const cookies: (string | undefined)[] = [];
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/add',
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, status?: number, message?: string) => void) => {
      cookies.push(info.req.headers.cookie);
      if (info.req.headers.cookie === 'name=zcy') done(true);
      else done(false, 403, 'cookie name=zcy required');
    },
  });
  server.on('headers', (headers: string[]) => headers.push('X-Add-Server: npm-ws'));
  server.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(JSON.stringify(answer(JSON.parse(String(data)) as { A: number; B: number }))));
  });
  await once(server, 'listening');
  t.after(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/add`, cookies };
}

/** Run `wskit add` with `args`; resolves with its exit code and output lines (bounded to 15 s). */
async function runCli(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, [WSKIT_BIN, 'add', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
  const timer = setTimeout(() => child.kill(), 15_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, lines: output.split('\n').filter((l) => l !== '') };
}

test('wskit add prints the handshake headers, each request and response, and exits 0', async (t) => {
  const server = await wsAddServer(t, ({ A, B }) => ({ Sum: A + B }));
  const { code, lines } = await runCli(['--url', server.url, '--a', '7', '--b', '4', '--count', '3', '--interval', '10ms', '--header', 'Cookie: name=zcy']);
  assert.equal(code, 0, lines.join('\n'));
  assert.deepEqual(server.cookies, ['name=zcy']);
  assert.equal(lines[0], 'HTTP 101');
  assert.ok(lines.includes('x-add-server: npm-ws'), lines.join('\n'));
  assert.ok(lines.some((l) => /^upgrade: websocket$/i.test(l)));
  assert.ok(lines.some((l) => /^sec-websocket-accept: /.test(l)));
  assert.deepEqual(
    lines.filter((l) => l.startsWith('request ') || l.startsWith('response ')),
    [
      'request {"A":7,"B":4}',
      'response {"Sum":11}',
      'request {"A":8,"B":4}',
      'response {"Sum":12}',
      'request {"A":9,"B":4}',
      'response {"Sum":13}',
    ],
  );
});

test('wskit add exits non-zero on a failed handshake, printing the status and body', async (t) => {
  const server = await wsAddServer(t, ({ A, B }) => ({ Sum: A + B }));
  const { code, lines } = await runCli(['--url', server.url, '--count', '1']);
  assert.notEqual(code, 0);
  assert.ok(lines.some((l) => /\b403\b/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('cookie name=zcy required')), lines.join('\n'));
  assert.ok(!lines.some((l) => l.startsWith('request ')));
});

test('wskit add exits non-zero when the service answers with an error', async (t) => {
  const server = await wsAddServer(t, () => ({ error: 'not today' }));
  const { code, lines } = await runCli(['--url', server.url, '--count', '2', '--interval', '10ms', '--header', 'Cookie: name=zcy']);
  assert.notEqual(code, 0);
  assert.ok(lines.includes('response {"error":"not today"}'), lines.join('\n'));
});

test('wskit add exits non-zero when nothing listens', async (t) => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const { code } = await runCli(['--url', `ws://127.0.0.1:${port}/add`, '--count', '1']);
  assert.notEqual(code, 0);
  t.diagnostic(`exit code ${code}`);
});
