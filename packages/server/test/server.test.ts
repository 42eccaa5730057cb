/**
 * The `wskit serve` routes over loopback, in-process through startServer:
 * 404s, /echo (text, binary, permessage-deflate), /add (sums, errors that
 * keep the connection open, idle timeout) and the connection log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, type ServerOptions, startServer } from '../src/server.js';
import { type Conn, dial, HandshakeError, isCloseError } from 'wskit';

const dataDir = mkdtempSync(join(tmpdir(), 'wskit-server-test-'));
let lines: string[];
let server: RunningServer;
let wsBase: string;

/** A server of its own on 127.0.0.1 with `options`, chat data under `dir`, its log lines kept. */
async function startLogged(dir: string, options: Partial<ServerOptions> = {}): Promise<{ running: RunningServer; log: string[]; ws: string }> {
  const log: string[] = [];
  const running = await startServer({ port: 0, host: '127.0.0.1', chat: { dataDir: join(dataDir, dir) }, log: (line) => log.push(line), ...options });
  return { running, log, ws: running.url.replace('http:', 'ws:') };
}

before(async () => {
  ({ running: server, log: lines, ws: wsBase } = await startLogged('main'));
});

after(async () => {
  await server.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Poll (bounded) until `predicate` holds. */
async function until(predicate: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function add(conn: Conn, request: unknown): Promise<unknown> {
  await conn.write('text', typeof request === 'string' ? request : JSON.stringify(request));
  return conn.readJSON();
}

test('server answers an upgrade to an unknown path with a plain-text 404', async () => {
  const err = await dial(`${wsBase}/nowhere`).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.status, 404);
  assert.match(err.headers['content-type'] ?? '', /^text\/plain/);
});

test('server answers a plain GET of an unknown path with a plain-text 404, and of /add with 426', async () => {
  const missing = await fetch(`${server.url}/nowhere`);
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get('content-type') ?? '', /^text\/plain/);
  await missing.text();
  const add = await fetch(`${server.url}/add`);
  assert.equal(add.status, 426);
  assert.equal(add.headers.get('upgrade'), 'websocket');
  await add.text();
});

test('server /echo echoes text and binary messages with their types', async () => {
  const { conn } = await dial(`${wsBase}/echo`);
  await conn.write('text', 'hello echo ✓');
  await conn.write('binary', Uint8Array.from([0, 1, 2, 255]));
  assert.deepEqual(await conn.read(), { type: 'text', data: Buffer.from('hello echo ✓') });
  assert.deepEqual(await conn.read(), { type: 'binary', data: Buffer.from([0, 1, 2, 255]) });
  await conn.close();
});

test('server /echo negotiates permessage-deflate and echoes large compressed messages intact', async () => {
  const { conn } = await dial(`${wsBase}/echo`, { compression: true, maxMessageSize: 4 * 1024 * 1024 });
  assert.match(conn.extensions, /^permessage-deflate/);
  const text = 'the quick brown fox '.repeat(100_000);
  const binary = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < binary.length; i += 4) binary.writeUInt32LE(i, i);
  await conn.write('text', text);
  await conn.write('binary', binary);
  const first = await conn.read();
  assert.equal(first.type, 'text');
  assert.equal(first.data.toString(), text);
  const second = await conn.read();
  assert.equal(second.type, 'binary');
  assert.ok(second.data.equals(binary));
  await conn.close();
});

test('server /add answers {"A":7,"B":4} with {"Sum":11}', async () => {
  const { conn } = await dial(`${wsBase}/add`);
  assert.deepEqual(await add(conn, { A: 7, B: 4 }), { Sum: 11 });
  assert.deepEqual(await add(conn, { A: -10, B: 3 }), { Sum: -7 });
  assert.deepEqual(await add(conn, { A: Number.MAX_SAFE_INTEGER - 1, B: 1 }), { Sum: Number.MAX_SAFE_INTEGER });
  await conn.close();
});

test('server /add answers bad requests with {"error"} and keeps the connection open', async () => {
  const { conn } = await dial(`${wsBase}/add`);
  const bad: unknown[] = [
    '{not json',
    { B: 4 },
    { A: 7 },
    { A: 1.5, B: 1 },
    { A: '7', B: 4 },
    { A: 2 ** 53, B: 0 },
    { A: -(2 ** 53), B: 0 },
    { A: Number.MAX_SAFE_INTEGER, B: 1 },
    [7, 4],
    'null',
  ];
  for (const request of bad) {
    const answer = (await add(conn, request)) as Record<string, unknown>;
    assert.equal(typeof answer.error, 'string', `request ${JSON.stringify(request)} answered ${JSON.stringify(answer)}`);
    assert.equal(answer.Sum, undefined);
  }
  await conn.write('binary', Buffer.from('{"A":1,"B":2}'));
  assert.equal(typeof ((await conn.readJSON()) as { error?: string }).error, 'string');
  // Still open and still adding.
  assert.deepEqual(await add(conn, { A: 7, B: 4 }), { Sum: 11 });
  await conn.close();
});

test('server logs one line per open and close with the remote address, the HTTP version and the close code', async () => {
  const before = lines.length;
  const { conn } = await dial(`${wsBase}/add`);
  await until(() => lines.slice(before).some((l) => l.startsWith('open /add ')), 'the open log line');
  const open = lines.slice(before).find((l) => l.startsWith('open /add '))!;
  const address = /^open \/add (127\.0\.0\.1:\d+) http\/1\.1$/.exec(open)?.[1];
  assert.ok(address, `open line ${JSON.stringify(open)}`);
  await conn.close(4000, 'bye');
  await until(() => lines.slice(before).some((l) => l.startsWith(`close /add ${address} `)), 'the close log line');
  const close = lines.slice(before).find((l) => l.startsWith(`close /add ${address} `))!;
  assert.match(close, / code=4000( |$)/);
});

test('server /add closes an idle connection after addIdleTimeoutMs', async () => {
  const idle = await startLogged('idle', { addIdleTimeoutMs: 300 });
  try {
    const { conn } = await dial(`${idle.ws}/add`);
    assert.deepEqual(await add(conn, { A: 1, B: 2 }), { Sum: 3 });
    const err = await conn.read().catch((e: unknown) => e);
    assert.ok(isCloseError(err, 1000), `got ${String(err)}`);
    assert.equal((await conn.closed).closeCode, 1000);
    await until(() => idle.log.some((l) => /^close \/add 127\.0\.0\.1:\d+ code=1000/.test(l)), 'the close log line');
  } finally {
    await idle.running.shutdown();
  }
});

test('server /echo closes an idle connection after echoIdleTimeoutMs, with reason "idle timeout"', async () => {
  const idle = await startLogged('echo-idle', { echoIdleTimeoutMs: 300 });
  try {
    const { conn } = await dial(`${idle.ws}/echo`);
    await conn.write('text', 'still here');
    assert.equal((await conn.read()).data.toString(), 'still here');
    const err = await conn.read().catch((e: unknown) => e);
    assert.ok(isCloseError(err, 1000), `got ${String(err)}`);
    assert.equal((err as { reason: string }).reason, 'idle timeout');
    await until(() => idle.log.some((l) => /^echo: 127\.0\.0\.1:\d+ idle for 300 ms/.test(l)), 'the idle log line');
  } finally {
    await idle.running.shutdown();
  }
});

test('server shutdown closes open connections with 1001', async () => {
  const other = await startLogged('shutdown');
  const { conn } = await dial(`${other.ws}/echo`);
  const reading = conn.read().catch((e: unknown) => e);
  await other.running.shutdown();
  assert.ok(isCloseError(await reading, 1001));
});
