/**
 * Conn over HTTP/2 streams (RFC 8441), wskit's client against wskit's
 * server on 127.0.0.1: echoes of every size, text and binary, with and
 * without permessage-deflate; a hundred WebSockets on one session;
 * backpressure through HTTP/2 flow control, both ways; the closing
 * handshake and its codes; a stream reset; a read deadline; and a session
 * that dies with streams open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import { type Conn, dial, type DialOptions, TimeoutError, Upgrader, type UpgraderOptions } from '../src/index.js';
import { startEchoServer } from './helpers/echo-server.js';
import { startHttp2Server, within } from './helpers/http2-server.js';

type After = { after: (fn: () => unknown) => void };

const MiB = 1024 * 1024;

/** An h2c server that upgrades every extended CONNECT and hands each Conn, with its stream, to the test in order. */
async function listen(t: After, options: UpgraderOptions = {}) {
  const upgrader = new Upgrader(options);
  const accepted: { conn: Conn; stream: ServerHttp2Stream }[] = [];
  const waiting: ((entry: { conn: Conn; stream: ServerHttp2Stream }) => void)[] = [];
  const server = await startHttp2Server(t, (req: Http2ServerRequest) => {
    upgrader.upgrade(req, req.stream).then((conn) => {
      const entry = { conn, stream: req.stream };
      const next = waiting.shift();
      if (next) next(entry);
      else accepted.push(entry);
    }, () => {});
  });
  return {
    ...server,
    /** The next connection the server accepted. */
    next(): Promise<{ conn: Conn; stream: ServerHttp2Stream }> {
      const ready = accepted.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

async function open(t: After, url: string, options: DialOptions = {}): Promise<Conn> {
  const { conn } = await dial(url, { http2: true, ...options });
  t.after(() => conn.terminate());
  return conn;
}

/** Text of exactly `size` bytes of UTF-8, with two- and three-byte characters where they fit. */
function text(size: number): string {
  const unit = 'aé€';
  let out = unit.repeat(Math.floor(size / 6));
  while (Buffer.byteLength(out) < size) out += 'a';
  return out;
}

test('Conn over an HTTP/2 stream echoes 0 B to 16 MiB, text and binary, with and without permessage-deflate', { timeout: 120_000 }, async (t) => {
  const server = await startEchoServer({ http2: true });
  t.after(() => server.stop());
  const sizes = [0, 1, 125, 126, 65_535, 65_536, 1 * MiB, 16 * MiB];
  for (const compression of [false, true]) {
    const conn = await open(t, server.url, { compression, maxMessageSize: 16 * MiB });
    assert.equal(conn.httpVersion, '2');
    assert.equal(conn.extensions !== '', compression);
    for (const size of sizes) {
      const body = text(size);
      await conn.write('text', body);
      const echoedText = await conn.read();
      assert.equal(echoedText.type, 'text');
      assert.ok(echoedText.data.equals(Buffer.from(body)), `text of ${size} bytes, compression ${compression}`);
      const bytes = randomBytes(size);
      await conn.write('binary', bytes);
      const echoedBinary = await conn.read();
      assert.equal(echoedBinary.type, 'binary');
      assert.ok(echoedBinary.data.equals(bytes), `binary of ${size} bytes, compression ${compression}`);
    }
    await conn.close();
  }
});

test('Conn over HTTP/2: a hundred WebSockets dialled to one origin share one session and each echoes its own messages', { timeout: 60_000 }, async (t) => {
  const server = await listen(t);
  const conns = await Promise.all(Array.from({ length: 100 }, () => open(t, server.url)));
  const accepted = await Promise.all(conns.map(() => server.next()));
  for (const { conn } of accepted) {
    void (async () => {
      for await (const message of conn) await conn.write(message.type, message.data);
    })().catch(() => {});
  }
  await Promise.all(
    conns.map(async (conn, i) => {
      for (let round = 0; round < 3; round++) {
        await conn.write('text', `conn ${i} round ${round}`);
        assert.equal((await conn.read()).data.toString(), `conn ${i} round ${round}`);
      }
    }),
  );
  // One TCP connection carried them all.
  assert.equal(server.opened(), 1);
  assert.equal(new Set(accepted.map(({ conn }) => conn.remoteAddress)).size, 1);
  assert.ok(accepted.every(({ conn }) => conn.httpVersion === '2'));
  await Promise.all(conns.map((conn) => conn.close()));
});

test('Conn over HTTP/2: a server that stops reading makes the client writer wait, with bounded memory, then everything arrives in order', { timeout: 60_000 }, async (t) => {
  const server = await listen(t, { readBufferSize: 64 * 1024 });
  const client = await open(t, server.url);
  const { conn: reader } = await server.next();
  const chunk = Buffer.alloc(64 * 1024, 1);
  const cap = 256 * MiB;
  let sent = 0;
  let stalled = false;
  // Writes until one has not resolved in 500 ms: the reader's flow-control window and buffers are full.
  while (sent < cap) {
    chunk.writeUInt32BE(sent / chunk.length, 0);
    const done = await within(client.write('binary', chunk).then(() => true), 500, false);
    sent += chunk.length;
    if (!done) {
      stalled = true;
      break;
    }
  }
  assert.ok(stalled, `the writer never waited: ${sent} bytes went out to a peer that reads nothing`);
  t.diagnostic(`${sent} bytes taken before the writer waited`);
  // Bounded: the stream window (64 KiB), the read buffer, the stream's own buffers and the client's write buffer.
  assert.ok(sent <= 8 * MiB, `${sent} bytes were taken before the writer waited`);
  for (let i = 0; i < sent / chunk.length; i++) {
    const message = await reader.read();
    assert.equal(message.data.length, chunk.length);
    assert.equal(message.data.readUInt32BE(0), i, `message ${i} in order`);
  }
  await client.close();
});

test('Conn over HTTP/2: a client that stops reading makes the server writer wait, then catches up', { timeout: 60_000 }, async (t) => {
  const server = await listen(t);
  const client = await open(t, server.url, { readBufferSize: 64 * 1024 });
  const { conn: writer } = await server.next();
  const chunk = Buffer.alloc(64 * 1024, 2);
  let sent = 0;
  let stalled = false;
  while (sent < 256 * MiB) {
    const done = await within(writer.write('binary', chunk).then(() => true), 500, false);
    sent += chunk.length;
    if (!done) {
      stalled = true;
      break;
    }
  }
  assert.ok(stalled, `the server never waited: ${sent} bytes went out to a client that reads nothing`);
  t.diagnostic(`${sent} bytes taken before the writer waited`);
  assert.ok(sent <= 8 * MiB, `${sent} bytes were taken before the writer waited`);
  for (let i = 0; i < sent / chunk.length; i++) assert.equal((await client.read()).data.length, chunk.length);
  await writer.close();
});

test('Conn over HTTP/2: close codes and reasons reach the other end, which ends the stream without a reset', async (t) => {
  const server = await listen(t);
  const a = await open(t, server.url);
  const { conn: serverA, stream: streamA } = await server.next();
  await a.close(4001, 'client done');
  assert.equal((await serverA.closed).closeCode, 4001);
  assert.equal((await serverA.closed).reason, 'client done');
  assert.equal((await a.closed).closeCode, 4001);
  assert.equal(streamA.rstCode, 0, 'the stream ended with END_STREAM both ways (RFC 8441 §5), not RST_STREAM');

  const b = await open(t, server.url);
  const { conn: serverB } = await server.next();
  const reading = b.read().catch((err: unknown) => err);
  await serverB.close(1001, 'going away');
  const err = await reading;
  assert.equal((err as { closeCode?: number }).closeCode, 1001);
  assert.equal((await b.closed).reason, 'going away');
});

test('Conn over HTTP/2: terminate resets the stream (CANCEL); the peer sees 1006 and the session carries on', async (t) => {
  const server = await listen(t);
  const a = await open(t, server.url);
  const b = await open(t, server.url);
  const { conn: serverA, stream: streamA } = await server.next();
  const { conn: serverB } = await server.next();
  a.terminate();
  assert.equal((await serverA.closed).closeCode, 1006);
  assert.equal(streamA.rstCode, 8, 'RST_STREAM with CANCEL');
  await b.write('text', 'still here');
  assert.equal((await serverB.read()).data.toString(), 'still here');
  serverB.terminate();
  assert.equal((await b.closed).closeCode, 1006);
  assert.equal(server.opened(), 1);
  assert.equal(server.sessions.size, 1, 'the session outlives its streams being reset');
});

test('Conn over HTTP/2: a passed read deadline rejects with TimeoutError and resets only that stream', async (t) => {
  const server = await listen(t);
  const client = await open(t, server.url);
  const other = await open(t, server.url);
  const { conn: serverConn } = await server.next();
  const { conn: serverOther } = await server.next();
  client.setReadDeadline(Date.now() + 50);
  await assert.rejects(client.read(), TimeoutError);
  assert.equal((await serverConn.closed).closeCode, 1006);
  await other.write('text', 'unaffected');
  assert.equal((await serverOther.read()).data.toString(), 'unaffected');
});

test('Conn over HTTP/2: a session that dies with streams open ends every WebSocket on it with 1006, and the next dial opens a new one', async (t) => {
  const server = await listen(t);
  const clients = await Promise.all([open(t, server.url), open(t, server.url), open(t, server.url)]);
  const serverConns = await Promise.all(clients.map(() => server.next()));
  for (const session of server.sessions) session.destroy();
  for (const conn of clients) assert.equal((await conn.closed).closeCode, 1006);
  for (const { conn } of serverConns) assert.equal((await conn.closed).closeCode, 1006);
  const again = await open(t, server.url);
  const { conn: serverAgain } = await server.next();
  await again.write('text', 'new session');
  assert.equal((await serverAgain.read()).data.toString(), 'new session');
  assert.equal(server.opened(), 2);
});
