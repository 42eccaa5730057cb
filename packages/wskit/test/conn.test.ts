/**
 * Conn over real loopback sockets: reading and writing, JSON, iteration,
 * deadlines, ping/pong, the closing handshake, backpressure both ways and
 * prepared messages. Peers are wskit Conns or the npm `ws` package.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { WebSocket as WsClient } from 'ws';
import {
  CloseError,
  type Conn,
  dial,
  type DialOptions,
  isCloseError,
  isUnexpectedCloseError,
  PreparedMessage,
  ProtocolError,
  TimeoutError,
  Upgrader,
  type UpgraderOptions,
  WebSocketError,
} from '../src/index.js';

type After = { after: (fn: () => unknown) => void };

/** A server on 127.0.0.1 that hands each upgraded Conn to `accepted` (in order). */
async function listen(t: After, options: UpgraderOptions = {}) {
  const upgrader = new Upgrader(options);
  const conns: Conn[] = [];
  const waiting: ((conn: Conn) => void)[] = [];
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrader.upgrade(req, socket, head).then((conn) => {
      conns.push(conn);
      waiting.shift()?.(conn);
    }, () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let taken = 0;
  t.after(async () => {
    for (const conn of conns) conn.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    /** The next accepted server-side Conn. */
    accepted(): Promise<Conn> {
      const index = taken++;
      if (conns[index]) return Promise.resolve(conns[index]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** A connected pair: a wskit client Conn and its server Conn. */
async function pair(t: After, serverOptions: UpgraderOptions = {}, dialOptions: DialOptions = {}) {
  const server = await listen(t, serverOptions);
  const accepted = server.accepted();
  const { conn: client } = await dial(server.url, dialOptions);
  const conn = await accepted;
  t.after(() => client.terminate());
  return { client, server: conn, port: server.port };
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  return !settled;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP relay between client and server that records, in wire order, when
 * each side sends its FIN: proof of who closed TCP first.
 */
async function finRecorder(t: After, targetPort: number) {
  const fins: string[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect(targetPort, '127.0.0.1');
    down.on('data', (chunk) => up.write(chunk));
    up.on('data', (chunk) => down.write(chunk));
    down.on('end', () => {
      fins.push('client FIN');
      up.end();
    });
    up.on('end', () => {
      fins.push('server FIN');
      down.end();
    });
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.after(() => new Promise((resolve) => relay.close(resolve)));
  return { url: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}/`, fins };
}

test('Conn read and write carry text and binary both ways', async (t) => {
  const { client, server } = await pair(t);
  await client.write('text', 'héllo');
  await client.write('binary', Uint8Array.from([0, 255, 7]));
  assert.deepEqual(await server.read(), { type: 'text', data: Buffer.from('héllo') });
  assert.deepEqual(await server.read(), { type: 'binary', data: Buffer.from([0, 255, 7]) });
  await server.write('text', 'back');
  await server.write('binary', Buffer.alloc(70_000, 1));
  assert.equal((await client.read()).data.toString(), 'back');
  const big = await client.read();
  assert.equal(big.type, 'binary');
  assert.equal(big.data.length, 70_000);
  assert.equal(client.subprotocol, '');
  assert.match(server.remoteAddress, /^127\.0\.0\.1:\d+$/);
});

test('Conn remoteAddress names the peer, and still does after the connection has closed', async (t) => {
  const { client, server } = await pair(t);
  const address = server.remoteAddress;
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  await client.close();
  await server.closed;
  assert.equal(server.remoteAddress, address, 'unchanged once the socket is gone');
  assert.match(client.remoteAddress, /^127\.0\.0\.1:\d+$/);
});

test('Conn write rejects an unknown message type with TypeError', async (t) => {
  const { client } = await pair(t);
  await assert.rejects(client.write('ping' as 'text', 'x'), TypeError);
});

test('Conn readJSON and writeJSON round-trip values', async (t) => {
  const { client, server } = await pair(t);
  await client.writeJSON({ A: 7, list: [1, 'two', null] });
  assert.deepEqual(await server.readJSON(), { A: 7, list: [1, 'two', null] });
});

test('Conn readJSON rejects invalid JSON with ERR_INVALID_JSON and the connection stays usable', async (t) => {
  const { client, server } = await pair(t);
  await client.write('text', '{not json');
  await assert.rejects(server.readJSON(), (err: WebSocketError) => err instanceof WebSocketError && err.code === 'ERR_INVALID_JSON');
  await client.writeJSON({ ok: true });
  assert.deepEqual(await server.readJSON(), { ok: true });
  await server.writeJSON('still open');
  assert.equal(await client.readJSON(), 'still open');
});

test('Conn for await ends after a normal close and yields every message before it', async (t) => {
  for (const code of [1000, 1001]) {
    const { client, server } = await pair(t);
    for (let i = 0; i < 5; i++) await server.write('text', `m${i}`);
    await server.close(code, 'bye');
    const got: string[] = [];
    for await (const m of client) got.push(m.data.toString());
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
  }
});

test('Conn readers waiting at once get messages in call order, and a close ends a waiting for await quietly', async (t) => {
  const { client, server } = await pair(t);
  // Three reads and an iterator all waiting before anything arrives.
  const reads = [client.read(), client.read(), client.read()];
  const iterator = client[Symbol.asyncIterator]();
  const fromLoop = iterator.next();
  for (let i = 0; i < 4; i++) await server.write('text', `m${i}`);
  assert.deepEqual((await Promise.all(reads)).map((m) => m.data.toString()), ['m0', 'm1', 'm2']);
  const result = await fromLoop;
  assert.equal(result.done, false);
  assert.equal(result.value?.data.toString(), 'm3');
  // Waiting again when the peer says goodbye: the loop ends, a plain read rejects.
  const waitingLoop = iterator.next();
  const waitingRead = client.read().then(
    () => null,
    (err: unknown) => err,
  );
  await server.close(1000, 'bye');
  assert.deepEqual(await waitingLoop, { value: undefined, done: true });
  const err = await waitingRead;
  assert.ok(isCloseError(err, 1000), `the read rejected with ${String(err)}`);
  assert.deepEqual(await iterator.next(), { value: undefined, done: true }, 'and stays ended');
});

test('Conn for await throws CloseError for a 1002-class close', async (t) => {
  const { client, server } = await pair(t);
  await server.write('text', 'before');
  void server.close(1002, 'you broke it');
  const got: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const m of client) got.push(m.data.toString());
    })(),
    (err: CloseError) => err instanceof CloseError && err.closeCode === 1002 && err.reason === 'you broke it',
  );
  assert.deepEqual(got, ['before']);
});

test('Conn for await throws ProtocolError 1007 when an npm ws peer sends invalid UTF-8, and the peer sees 1007', async (t) => {
  const server = await listen(t);
  const ws = new WsClient(server.url);
  t.after(() => ws.terminate());
  const peerClose = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await once(ws, 'open');
  const conn = await server.accepted();
  ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
  await assert.rejects(
    (async () => {
      for await (const _ of conn) assert.fail('no message expected');
    })(),
    (err: ProtocolError) => err instanceof ProtocolError && err.closeCode === 1007,
  );
  assert.equal(await peerClose, 1007);
});

test('Conn read deadline: a silent peer makes the pending read reject TimeoutError and the connection ends', async (t) => {
  const { client, server } = await pair(t);
  server.setReadDeadline(Date.now() + 150);
  await assert.rejects(server.read(), TimeoutError);
  assert.equal((await server.closed).closeCode, 1006);
  assert.equal((await client.closed).closeCode, 1006);
  await assert.rejects(server.read(), TimeoutError);
});

test('Conn read deadline extended on each message keeps a live peer connected', async (t) => {
  const { client, server } = await pair(t);
  const window = 200;
  server.setReadDeadline(Date.now() + window);
  const sending = (async () => {
    for (let i = 0; i < 8; i++) {
      await sleep(60);
      await client.write('text', String(i));
    }
  })();
  const got: string[] = [];
  for (let i = 0; i < 8; i++) {
    got.push((await server.read()).data.toString());
    server.setReadDeadline(Date.now() + window);
  }
  await sending;
  assert.deepEqual(got, ['0', '1', '2', '3', '4', '5', '6', '7']);
  // 8 × 60 ms is well past one window: only the extensions kept it open. Now let it lapse.
  await assert.rejects(server.read(), TimeoutError);
});

test('Conn write deadline: writes to a peer that never reads reject TimeoutError', async (t) => {
  const server = await listen(t);
  const ws = new WsClient(server.url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.pause();
  const conn = await server.accepted();
  conn.setWriteDeadline(Date.now() + 300);
  const chunk = Buffer.alloc(1024 * 1024);
  await assert.rejects(async () => {
    // Bounded: 256 MiB would never fit in loopback buffers, so the deadline must hit first.
    for (let i = 0; i < 256; i++) await conn.write('binary', chunk);
  }, TimeoutError);
  assert.equal((await conn.closed).closeCode, 1006);
  await assert.rejects(conn.write('text', 'after'), WebSocketError);
});

test('Conn answers pings by default and a custom pong handler sees the data', async (t) => {
  const { client, server } = await pair(t);
  const pong = new Promise<Buffer>((resolve) => server.setPongHandler(resolve));
  await server.ping('are you there');
  assert.equal((await pong).toString(), 'are you there');

  const clientPong = new Promise<Buffer>((resolve) => client.setPongHandler(resolve));
  await client.ping(Uint8Array.from([1, 2, 3]));
  assert.deepEqual([...(await clientPong)], [1, 2, 3]);
});

test('Conn custom ping handler replaces the automatic pong', async (t) => {
  const { client, server } = await pair(t);
  const seen: string[] = [];
  client.setPingHandler((data) => {
    seen.push(data.toString());
    void client.pong(`custom:${data}`);
  });
  const pong = new Promise<Buffer>((resolve) => server.setPongHandler(resolve));
  await server.ping('p1');
  assert.equal((await pong).toString(), 'custom:p1');
  assert.deepEqual(seen, ['p1']);
});

test('Conn ping rejects data over 125 bytes with RangeError', async (t) => {
  const { client, server } = await pair(t);
  await assert.rejects(client.ping('x'.repeat(126)), RangeError);
  await assert.rejects(server.ping(new Uint8Array(200)), RangeError);
  await client.ping('x'.repeat(125));
});

/** A client Conn dialled through a {@link finRecorder} relay, and its server Conn. */
async function relayedPair(t: After) {
  const server = await listen(t);
  const relay = await finRecorder(t, server.port);
  const accepted = server.accepted();
  const { conn: client } = await dial(relay.url);
  t.after(() => client.terminate());
  return { conn: await accepted, client, relay };
}

test('Conn close from the server: the client reads the code and reason, both closed promises settle, the server sends FIN first', async (t) => {
  const { conn, client, relay } = await relayedPair(t);
  await conn.close(4000, 'server done');
  await assert.rejects(client.read(), (err: CloseError) => isCloseError(err, 4000) && err.reason === 'server done');
  const [atServer, atClient] = await Promise.all([conn.closed, client.closed]);
  assert.equal(atClient.closeCode, 4000);
  assert.equal(atClient.reason, 'server done');
  assert.equal(atServer.closeCode, 4000);
  await sleep(20);
  assert.deepEqual(relay.fins, ['server FIN', 'client FIN']);
});

test('Conn close from the client: the server reads the code and reason, and still sends FIN first', async (t) => {
  const { conn, client, relay } = await relayedPair(t);
  const reading = conn.read().catch((err: unknown) => err);
  await client.close(4001, 'client done');
  const err = await reading;
  assert.ok(isCloseError(err, 4001));
  assert.equal(err.reason, 'client done');
  assert.equal((await client.closed).closeCode, 4001);
  assert.equal((await conn.closed).reason, 'client done');
  await sleep(20);
  assert.deepEqual(relay.fins, ['server FIN', 'client FIN']);
});

/** Both ends of `client`/`server` still carry messages, and nothing (no close frame) was sent before them. */
async function stillOpen(client: Conn, server: Conn): Promise<void> {
  assert.equal(client.writable, true);
  await client.write('text', 'still open');
  assert.deepEqual(await server.read(), { type: 'text', data: Buffer.from('still open') });
  await server.write('text', 'and back');
  assert.deepEqual(await client.read(), { type: 'text', data: Buffer.from('and back') });
}

test('Conn.close rejects 1005, 1006 and 1015 with a RangeError', async (t) => {
  const { client, server } = await pair(t);
  for (const code of [1005, 1006, 1015]) {
    // Thrown at once, not a rejected promise: nothing is sent.
    assert.throws(() => client.close(code), RangeError, `code ${code}`);
    assert.throws(() => server.close(code, 'bye'), RangeError, `code ${code}`);
  }
  await stillOpen(client, server);
});

test('Conn.close rejects a code outside 1000–1003, 1007–1014 and 3000–4999 with a RangeError', async (t) => {
  const { client, server } = await pair(t);
  for (const code of [0, 999, 1004, 1016, 2000, 2999, 5000, 65535, 1000.5, Number.NaN]) {
    assert.throws(() => client.close(code), RangeError, `code ${code}`);
  }
  await stillOpen(client, server);
  // The edges of the ranges are taken.
  const closing = client.close(1014, 'last registered code');
  assert.ok(isCloseError(await server.read().catch((e: unknown) => e), 1014));
  await closing;
});

test('Conn.close rejects a reason over 123 bytes of UTF-8 with a RangeError, and takes 123', async (t) => {
  const { client, server } = await pair(t);
  assert.throws(() => client.close(1000, 'x'.repeat(124)), RangeError);
  assert.throws(() => client.close(1000, 'é'.repeat(62)), RangeError, '62 characters, 124 bytes');
  await stillOpen(client, server);
  const reason = 'é'.repeat(61) + 'x';
  const closing = client.close(4000, reason);
  const err = await server.read().catch((e: unknown) => e);
  assert.ok(isCloseError(err, 4000));
  assert.equal(err.reason, reason);
  await closing;
});

test('Conn close timeout drops a peer that never answers the close frame', async (t) => {
  const server = await listen(t, { closeTimeout: 200 });
  const ws = new WsClient(server.url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.pause();
  const conn = await server.accepted();
  await conn.close(1000, 'bye');
  assert.equal((await conn.closed).closeCode, 1006);
});

test('isUnexpectedCloseError tells a normal goodbye from a dropped connection', async (t) => {
  {
    const { client, server } = await pair(t);
    await server.close(1001, 'going away');
    const err = await client.read().catch((e: unknown) => e);
    assert.equal(isUnexpectedCloseError(err, 1000, 1001), false);
    assert.equal(isUnexpectedCloseError(err, 1000), true);
  }
  {
    const { client, server } = await pair(t);
    server.terminate();
    const err = await client.read().catch((e: unknown) => e);
    assert.ok(isCloseError(err, 1006));
    assert.equal(isUnexpectedCloseError(err, 1000, 1001), true);
  }
  assert.equal(isUnexpectedCloseError(new TimeoutError('t'), 1000), false);
});

/** The test process's own memory after a full GC: heap plus Buffers. */
const gc = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();
function heapAndBuffers(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** An npm ws client in a child process sending `count` 1 MiB messages, reporting its bufferedAmount. */
const SENDER_SOURCE = `
const { WebSocket } = await import(process.env.WS_MODULE);
const ws = new WebSocket(process.env.URL, { perMessageDeflate: false });
ws.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
ws.on('open', () => {
  const count = Number(process.env.COUNT);
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.alloc(1024 * 1024, i & 0xff);
    chunk.writeUInt32BE(i, 0);
    ws.send(chunk);
  }
  const started = Date.now();
  const timer = setInterval(() => {
    console.log(JSON.stringify({ buffered: ws.bufferedAmount }));
    if (ws.bufferedAmount === 0 || Date.now() - started > 30000) { clearInterval(timer); ws.close(); }
  }, 25);
});
ws.on('close', () => process.exit(0));
`;

test('Conn backpressure: an unread 100 MiB from an npm ws client stays in the client, then arrives in order', async (t) => {
  const count = 100;
  const server = await listen(t, { maxMessageSize: 2 * 1024 * 1024 });
  const baseline = heapAndBuffers();
  const child = spawn(process.execPath, ['--input-type=module', '--eval', SENDER_SOURCE], {
    env: { ...process.env, WS_MODULE: import.meta.resolve('ws'), URL: server.url, COUNT: String(count) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill());
  const reports: number[] = [];
  let grew!: () => void;
  const grown = new Promise<void>((resolve) => (grew = resolve));
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const report = JSON.parse(line) as { buffered?: number };
      if (report.buffered !== undefined) reports.push(report.buffered);
      if ((report.buffered ?? 0) > 64 * 1024 * 1024) grew();
    }
  });
  const conn = await server.accepted();
  await grown;
  // Give the server time to take in whatever it would buffer.
  await sleep(200);
  const held = heapAndBuffers() - baseline;
  t.diagnostic(`server heap+buffers grew ${(held / 1048576).toFixed(1)} MiB; client bufferedAmount ${reports.at(-1)}`);
  assert.ok(held < 24 * 1024 * 1024, `server holds ${(held / 1048576).toFixed(1)} MiB while not reading; should stay far below 100 MiB`);
  const stuck = reports.at(-1)!;
  assert.ok(stuck > 64 * 1024 * 1024, `client bufferedAmount ${stuck}`);

  for (let i = 0; i < count; i++) {
    const m = await conn.read();
    assert.equal(m.type, 'binary');
    assert.equal(m.data.length, 1024 * 1024);
    assert.equal(m.data.readUInt32BE(0), i);
    assert.equal(m.data[m.data.length - 1], i & 0xff);
  }
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.equal(reports.at(-1), 0);
});

test('Conn write waits while the peer does not read and resolves once it reads', async (t) => {
  const { client, server } = await pair(t, { writeBufferSize: 64 * 1024 }, { maxMessageSize: 8 * 1024 * 1024 });
  const big = Buffer.alloc(8 * 1024 * 1024, 3);
  assert.equal(server.needsDrain, false);
  // Loopback buffers take a few MiB; keep writing until a write has to wait (bounded).
  let blocked: Promise<void> | null = null;
  let written = 0;
  for (let i = 0; i < 16 && blocked === null; i++) {
    const w = server.write('binary', big);
    written++;
    if (await pendingAfter(w, 100)) blocked = w;
  }
  assert.ok(blocked, 'a write should wait while the client does not read');
  assert.ok(server.bufferedAmount > 64 * 1024, `bufferedAmount ${server.bufferedAmount}`);
  assert.equal(server.needsDrain, true, 'needsDrain tells a broadcaster to queue instead of writing');
  assert.equal(server.writable, true, 'a slow peer does not make the connection unwritable');
  for (let i = 0; i < written; i++) assert.equal((await client.read()).data.length, big.length);
  await blocked;
  assert.ok(server.bufferedAmount <= 64 * 1024);
  assert.equal(server.needsDrain, false);
});

test('Conn writable is true while open and false once a close frame is sent or received, or the socket dropped', async (t) => {
  const first = await pair(t);
  assert.equal(first.server.writable, true);
  assert.equal(first.client.writable, true);
  const closing = first.server.close(1000, 'bye');
  assert.equal(first.server.writable, false, 'after sending a close frame');
  await assert.rejects(first.server.write('text', 'late'), CloseError);
  await assert.rejects(first.client.read(), CloseError);
  assert.equal(first.client.writable, false, 'after receiving a close frame');
  await closing;

  const second = await pair(t);
  second.client.terminate();
  await second.server.closed;
  assert.equal(second.server.writable, false, 'after the peer dropped TCP');

  const third = await pair(t);
  third.server.setWriteDeadline(Date.now() - 1);
  assert.equal(third.server.writable, false, 'after the write deadline passed');
});

test('PreparedMessage sent to many connections arrives intact at each', async (t) => {
  const server = await listen(t);
  const clients: Conn[] = [];
  const conns: Conn[] = [];
  for (let i = 0; i < 5; i++) {
    const accepted = server.accepted();
    const { conn } = await dial(server.url);
    t.after(() => conn.terminate());
    clients.push(conn);
    conns.push(await accepted);
  }
  const text = new PreparedMessage('text', 'broadcast ✓ '.repeat(100));
  const binary = new PreparedMessage('binary', Buffer.alloc(100_000, 0xab));
  for (const conn of conns) {
    await conn.writePrepared(text);
    await conn.writePrepared(binary);
  }
  for (const client of clients) {
    assert.deepEqual(await client.read(), { type: 'text', data: Buffer.from('broadcast ✓ '.repeat(100)) });
    assert.deepEqual(await client.read(), { type: 'binary', data: Buffer.alloc(100_000, 0xab) });
  }
});

test('PreparedMessage works from a client Conn, masked per frame', async (t) => {
  const { client, server } = await pair(t);
  const prepared = new PreparedMessage('binary', Uint8Array.from([9, 8, 7, 6]));
  await client.writePrepared(prepared);
  await client.writePrepared(prepared);
  assert.deepEqual(await server.read(), { type: 'binary', data: Buffer.from([9, 8, 7, 6]) });
  assert.deepEqual(await server.read(), { type: 'binary', data: Buffer.from([9, 8, 7, 6]) });
});
