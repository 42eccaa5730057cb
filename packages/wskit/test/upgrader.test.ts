/**
 * Upgrader options over real loopback sockets: origin checks, subprotocol
 * negotiation, a custom error responder, the message size and fragment limits, response
 * headers, and refusals of malformed upgrade requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { CloseError, type Conn, Defaults, dial, HandshakeError, isCloseError, ProtocolError, Upgrader, type UpgraderOptions } from '../src/index.js';
import { OP } from './conformance/fuzzer.js';
import { openClientFuzzer } from './conformance/raw-client.js';

type After = { after: (fn: () => unknown) => void };

interface Upgrade {
  conn?: Conn;
  error?: HandshakeError;
}

/**
 * A server whose upgrades go through an Upgrader with `options`;
 * `results` receives each upgrade's outcome, `headers` go on every 101.
 */
async function listen(t: After, options: UpgraderOptions = {}, headers: Record<string, string> = {}) {
  const upgrader = new Upgrader(options);
  const results: Upgrade[] = [];
  const waiting: ((u: Upgrade) => void)[] = [];
  const push = (u: Upgrade) => {
    results.push(u);
    waiting.shift()?.(u);
  };
  let taken = 0;
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrader.upgrade(req, socket, head, headers).then(
      (conn) => push({ conn }),
      (error: HandshakeError) => push({ error }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const r of results) r.conn?.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    /** The outcome of the next upgrade attempt. */
    next(): Promise<Upgrade> {
      const index = taken++;
      if (results[index]) return Promise.resolve(results[index]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** Dial `url`, returning the HandshakeError it rejects with (fails the test if it connects). */
async function refused(url: string, options: Parameters<typeof dial>[1] = {}): Promise<HandshakeError> {
  const err = await dial(url, options).then(
    ({ conn }) => {
      conn.terminate();
      return null;
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof HandshakeError, `expected a HandshakeError, got ${String(err)}`);
  return err;
}

/** Send a raw upgrade request with `headers` and return the response status, headers and body. */
async function rawUpgrade(port: number, headers: Record<string, string>, method = 'GET') {
  const req = request({ host: '127.0.0.1', port, path: '/', method, headers, agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  return { status: res.statusCode, headers: res.headers, body };
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

test('Upgrader default origin check refuses a foreign Origin with 403', async (t) => {
  const server = await listen(t);
  const err = await refused(server.url, { headers: { Origin: 'https://evil.example' } });
  assert.equal(err.status, 403);
  assert.match(err.headers['content-type'] ?? '', /^text\/plain/);
  const outcome = await server.next();
  assert.ok(outcome.error instanceof HandshakeError);
  assert.equal(outcome.error.status, 403);
});

test('Upgrader default origin check accepts a same-origin request and one without Origin', async (t) => {
  const server = await listen(t);
  const same = await dial(server.url, { headers: { Origin: `http://127.0.0.1:${server.port}` } });
  same.conn.terminate();
  assert.ok((await server.next()).conn);
  const none = await dial(server.url);
  none.conn.terminate();
  assert.ok((await server.next()).conn);
});

test('Upgrader custom checkOrigin decides with the request', async (t) => {
  const seen: string[] = [];
  const server = await listen(t, {
    checkOrigin: (req) => {
      seen.push(req.headers.origin ?? '(none)');
      return req.headers.origin === 'https://app.example';
    },
  });
  const ok = await dial(server.url, { headers: { Origin: 'https://app.example' } });
  ok.conn.terminate();
  assert.equal((await refused(server.url, { headers: { Origin: `http://127.0.0.1:${server.port}` } })).status, 403);
  assert.equal((await refused(server.url)).status, 403);
  assert.deepEqual(seen, ['https://app.example', `http://127.0.0.1:${server.port}`, '(none)']);
});

test('Upgrader picks the subprotocol by server preference', async (t) => {
  const server = await listen(t, { subprotocols: ['v2.chat', 'v1.chat'] });
  const cases: [string[], string][] = [
    [['v1.chat', 'v2.chat'], 'v2.chat'],
    [['v1.chat'], 'v1.chat'],
    [['other'], ''],
    [[], ''],
  ];
  for (const [offered, expected] of cases) {
    const { conn, response } = await dial(server.url, { subprotocols: offered });
    const accepted = (await server.next()).conn!;
    assert.equal(conn.subprotocol, expected, `offered ${offered.join(',')}`);
    assert.equal(accepted.subprotocol, expected);
    assert.equal(response.headers['sec-websocket-protocol'], expected === '' ? undefined : expected);
    conn.terminate();
  }
});

test('Upgrader onError answers refused handshakes instead of the default response', async (t) => {
  const calls: [number, string][] = [];
  const server = await listen(t, {
    checkOrigin: () => false,
    onError: (_req, socket, status, reason) => {
      calls.push([status, reason]);
      const body = JSON.stringify({ status, refused: true });
      socket.end(`HTTP/1.1 ${status} Custom\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    },
  });
  const err = await refused(server.url, { headers: { Origin: 'https://evil.example' } });
  assert.equal(err.status, 403);
  assert.equal(err.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(err.body), { status: 403, refused: true });
  assert.equal(calls.length, 1);
  assert.equal(calls[0]![0], 403);
  assert.equal((await server.next()).error?.status, 403);
});

test('Upgrader maxMessageSize closes with 1009 and a reason at the client', async (t) => {
  const server = await listen(t, { maxMessageSize: 1024 });
  const { conn } = await dial(server.url);
  const accepted = (await server.next()).conn!;
  const serverRead = accepted.read().catch((e: unknown) => e);
  await conn.write('binary', Buffer.alloc(1024));
  assert.equal((await serverRead as { data: Buffer }).data.length, 1024);
  await conn.write('binary', Buffer.alloc(1025));
  const err = await conn.read().catch((e: unknown) => e);
  assert.ok(isCloseError(err, 1009), `got ${String(err)}`);
  assert.notEqual((err as CloseError).reason, '');
  assert.equal((await accepted.closed).closeCode, 1009);
});

/** The server's pending read rejects with the core's error: its code, and the close code it sent. */
function assertTooManyFragments(err: unknown): void {
  assert.ok(err instanceof ProtocolError, `got ${String(err)}`);
  assert.equal(err.code, 'ERR_TOO_MANY_FRAGMENTS');
  assert.equal(err.closeCode, 1009);
}

test(`Upgrader by default closes with 1009 a message of more than ${Defaults.maxFragments} empty fragments and ends the connection`, async (t) => {
  const server = await listen(t);
  const f = await openClientFuzzer(server.url, undefined, 5_000);
  t.after(() => f.destroy());
  const accepted = (await server.next()).conn!;
  const read = accepted.read().catch((e: unknown) => e);
  const empty = f.frame(OP.CONT, '', { fin: false });
  await f.send(OP.BINARY, '', { fin: false });
  await f.sendRaw(Buffer.concat(Array.from({ length: Defaults.maxFragments }, () => empty)));
  // The close frame, then TCP closed by the server first (the fuzzer checks both).
  const { reason } = await f.expectClose(1009);
  assert.match(reason, new RegExp(`more than ${Defaults.maxFragments} fragments`));
  assertTooManyFragments(await read);
  assert.equal((await accepted.closed).closeCode, 1009);
});

test('Upgrader maxFragments accepts a message of exactly that many fragments and refuses one more with 1009', async (t) => {
  const server = await listen(t, { maxFragments: 3 });
  const f = await openClientFuzzer(server.url, undefined, 5_000);
  t.after(() => f.destroy());
  const accepted = (await server.next()).conn!;
  await f.send(OP.TEXT, 'a', { fin: false });
  await f.send(OP.CONT, '', { fin: false });
  await f.send(OP.CONT, 'b');
  const message = await accepted.read();
  assert.equal(message.data.toString(), 'ab');
  const read = accepted.read().catch((e: unknown) => e);
  await f.send(OP.TEXT, 'a', { fin: false });
  await f.send(OP.CONT, '', { fin: false });
  await f.send(OP.CONT, '', { fin: false });
  await f.send(OP.CONT, 'b');
  await f.expectClose(1009);
  assertTooManyFragments(await read);
});

test('Upgrader maxMessageSize counts the inflated size of a compressed message', async (t) => {
  const server = await listen(t, { maxMessageSize: 64 * 1024, compression: true });
  const { conn } = await dial(server.url, { compression: true });
  assert.match(conn.extensions, /^permessage-deflate/);
  const accepted = (await server.next()).conn!;
  void accepted.read().catch(() => {});
  // 1 MiB of zeros deflates to about 1 KiB on the wire.
  await conn.write('binary', Buffer.alloc(1024 * 1024));
  const err = await conn.read().catch((e: unknown) => e);
  assert.ok(isCloseError(err, 1009), `got ${String(err)}`);
});

test('Upgrader compression resets the server context by default, keeps it on request, and both carry messages both ways', async (t) => {
  const message = Buffer.from('{"price":101.25,"symbol":"WSKT"} '.repeat(100));
  for (const [compression, header] of [
    [true, 'permessage-deflate; server_no_context_takeover'],
    [{ noContextTakeover: false }, 'permessage-deflate'],
    // Every message compressed, the empty one too (64 KiB goes through the thread pool in each case).
    [{ threshold: 0 }, 'permessage-deflate; server_no_context_takeover'],
  ] as const) {
    const server = await listen(t, { compression });
    const { conn } = await dial(server.url, { compression: true });
    assert.equal(conn.extensions, header);
    const accepted = (await server.next()).conn!;
    for (const payload of [message, message, Buffer.alloc(64 * 1024, 'x'), Buffer.alloc(0)]) {
      await accepted.write('text', payload);
      assert.deepEqual((await conn.read()).data, payload);
      await conn.write('text', payload);
      assert.deepEqual((await accepted.read()).data, payload);
    }
    conn.terminate();
  }
});

test('Upgrader adds the given response headers to the 101', async (t) => {
  const server = await listen(t, {}, { 'X-Served-By': 'wskit-test', 'Set-Cookie': 'session=abc' });
  const { conn, response } = await dial(server.url);
  conn.terminate();
  assert.equal(response.status, 101);
  assert.equal(response.headers['x-served-by'], 'wskit-test');
  assert.equal(response.headers['set-cookie'], 'session=abc');
});

test('Upgrader refuses malformed upgrade requests with 400, 405 or 426', async (t) => {
  const server = await listen(t);
  const good = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': KEY };

  const noKey = await rawUpgrade(server.port, { ...good, 'Sec-WebSocket-Key': '' });
  assert.equal(noKey.status, 400);
  assert.match(String(noKey.headers['content-type']), /^text\/plain/);
  assert.equal((await server.next()).error?.status, 400);

  const badKey = await rawUpgrade(server.port, { ...good, 'Sec-WebSocket-Key': 'c2hvcnQ=' });
  assert.equal(badKey.status, 400);
  assert.equal((await server.next()).error?.status, 400);

  const version = await rawUpgrade(server.port, { ...good, 'Sec-WebSocket-Version': '8' });
  assert.equal(version.status, 426);
  assert.equal(version.headers['sec-websocket-version'], '13');
  assert.equal((await server.next()).error?.status, 426);

  const post = await rawUpgrade(server.port, good, 'POST');
  assert.equal(post.status, 405);
  assert.equal((await server.next()).error?.status, 405);
});

test('Upgrader handshake timeout applied with configureServer drops a client that stalls mid-request', async (t) => {
  const upgrader = new Upgrader({ handshakeTimeout: 300 });
  const server = createServer({ connectionsCheckingInterval: 100 });
  upgrader.configureServer(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const net = await import('node:net');
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  socket.on('error', () => {});
  const timer = setTimeout(() => socket.destroy(), 5000);
  await once(socket, 'close');
  clearTimeout(timer);
  assert.match(received, /^HTTP\/1\.1 408/);
});

test('Upgrader: a refused upgrade rejects with HandshakeError carrying the status, not a CloseError', async (t) => {
  const server = await listen(t, { checkOrigin: () => false });
  await refused(server.url);
  const outcome = await server.next();
  assert.ok(outcome.error instanceof HandshakeError);
  assert.ok(!(outcome.error instanceof CloseError));
  assert.equal(outcome.error.status, 403);
});
