/**
 * dial over real loopback sockets: successful handshakes (ws:// and wss://),
 * and each way a handshake fails: an HTTP error, a bad 101, an unoffered
 * subprotocol, a silent server, nobody listening, a bad URL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { computeAccept } from '../src/protocol/handshake.js';
import { dial, HandshakeError, rejectUpgrade, TimeoutError, Upgrader } from '../src/index.js';

type After = { after: (fn: () => unknown) => void };

async function start(t: After, server: Server | net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

/** A server whose upgrade handler writes `respond(req)` raw and reports the socket's close. */
async function rawServer(t: After, respond: (req: IncomingMessage) => string) {
  const server = createServer();
  const sockets: Socket[] = [];
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    sockets.push(socket as Socket);
    socket.on('error', () => {});
    socket.write(respond(req));
  });
  // Registered first: server.close() waits for these upgraded sockets.
  t.after(() => sockets.forEach((s) => s.destroy()));
  const port = await start(t, server);
  return { url: `ws://127.0.0.1:${port}/`, sockets };
}

/** Whether the peer closes `socket` (its 'end' or 'close' arrives) within `ms`. */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.resume();
  });
}

test('dial connects, sends the given headers, and returns the 101 response', async (t) => {
  const server = createServer();
  const upgrader = new Upgrader();
  let cookie: string | undefined;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    cookie = req.headers.cookie;
    upgrader.upgrade(req, socket, head, { 'X-Hello': 'there' }).then(async (conn) => {
      for await (const m of conn) await conn.write(m.type, m.data);
    }, () => {});
  });
  const port = await start(t, server);
  const { conn, response } = await dial(`ws://127.0.0.1:${port}/path?q=1`, { headers: { Cookie: 'name=zcy' } });
  assert.equal(cookie, 'name=zcy');
  assert.equal(response.status, 101);
  assert.equal(response.headers['x-hello'], 'there');
  assert.equal(response.headers.upgrade?.toLowerCase(), 'websocket');
  await conn.write('text', 'ping?');
  assert.equal((await conn.read()).data.toString(), 'ping?');
  await conn.close();
});

test('dial rejects HandshakeError with status, headers and body for a 403 response', async (t) => {
  const body = 'Forbidden: you shall not pass\n';
  const server = await rawServer(
    t,
    () => `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: test\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  const err = await dial(server.url).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.code, 'ERR_HANDSHAKE');
  assert.equal(err.status, 403);
  assert.equal(err.headers['x-reason'], 'test');
  assert.equal(err.headers['content-type'], 'text/plain');
  assert.equal(err.body, body);
});

test('dial rejects HandshakeError for a 404 from rejectUpgrade, with its plain-text body', async (t) => {
  const server = createServer();
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => rejectUpgrade(socket, 404, 'No WebSocket endpoint here'));
  const port = await start(t, server);
  const err = await dial(`ws://127.0.0.1:${port}/missing`).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.status, 404);
  assert.match(err.headers['content-type'] ?? '', /^text\/plain/);
  assert.ok(err.body.includes('No WebSocket endpoint here'));
});

test('dial rejects a 101 with a wrong Sec-WebSocket-Accept and closes the socket', async (t) => {
  const server = await rawServer(
    t,
    () =>
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${computeAccept('AAAAAAAAAAAAAAAAAAAAAA==')}\r\n\r\n`,
  );
  const err = await dial(server.url).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.status, 101);
  assert.equal(await closesWithin(server.sockets[0]!, 2000), true, 'the client must close the socket');
});

test('dial rejects a 101 that picks a subprotocol the client did not offer', async (t) => {
  const server = await rawServer(
    t,
    (req) =>
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${computeAccept(String(req.headers['sec-websocket-key']))}\r\nSec-WebSocket-Protocol: surprise\r\n\r\n`,
  );
  const err = await dial(server.url, { subprotocols: ['expected'] }).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
});

test('dial rejects a 101 that accepts an extension the client did not offer', async (t) => {
  const server = await rawServer(
    t,
    (req) =>
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${computeAccept(String(req.headers['sec-websocket-key']))}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
  );
  const err = await dial(server.url).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
});

/** A TCP server that accepts connections and never answers; `held` lists its sockets. */
async function silentServer(t: After) {
  const held: Socket[] = [];
  const server = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => {});
  });
  t.after(() => held.forEach((s) => s.destroy()));
  return { port: await start(t, server), held };
}

test('dial handshake timeout: a server that accepts TCP but never answers gives TimeoutError', async (t) => {
  const { port, held } = await silentServer(t);
  const err = await dial(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 200 }).catch((e: unknown) => e);
  assert.ok(err instanceof TimeoutError);
  assert.equal(err.code, 'ERR_TIMEOUT');
  // The client gave up on the socket too.
  assert.equal(await closesWithin(held[0]!, 2000), true, 'the client must close the socket');
});

test('dial with an AbortSignal: aborted before, during the handshake, and after it (no effect once open)', async (t) => {
  const { port: silentPort, held } = await silentServer(t);

  // Already aborted: rejected at once with the signal's reason, nothing connects.
  const reason = new Error('user left the page');
  const before = await dial(`ws://127.0.0.1:${silentPort}/`, { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
  assert.equal(before, reason);

  // Aborted while the server sits on the request: an AbortError, and the socket is closed.
  const controller = new AbortController();
  const dialing = dial(`ws://127.0.0.1:${silentPort}/`, { signal: controller.signal, handshakeTimeout: 10_000 }).catch((e: unknown) => e);
  while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  controller.abort();
  const during = await dialing;
  assert.ok(during instanceof DOMException && during.name === 'AbortError', `got ${String(during)}`);
  assert.equal(await closesWithin(held[0]!, 2000), true, 'the client must close the socket');
  assert.equal(held.length, 1, 'only the aborted dial connected');

  // Aborted after the handshake: the connection carries on.
  const upgrader = new Upgrader();
  const echo = createServer();
  const accepted: Socket[] = [];
  echo.on('upgrade', (req, socket, head) => {
    accepted.push(socket as Socket);
    upgrader.upgrade(req, socket, head).then(
      async (conn) => {
        // Ends with 1006 when the test tears the socket down.
        for await (const m of conn) await conn.write(m.type, m.data).catch(() => {});
      },
      () => {},
    ).catch(() => {});
  });
  // Registered first: server.close() waits for the upgraded sockets.
  t.after(() => accepted.forEach((s) => s.destroy()));
  const port = await start(t, echo);
  const later = new AbortController();
  const { conn } = await dial(`ws://127.0.0.1:${port}/`, { signal: later.signal });
  later.abort();
  await conn.write('text', 'still here');
  assert.equal((await conn.read()).data.toString(), 'still here');
});

test('dial closeTimeout drops the TCP connection when the server never answers the close frame', async (t) => {
  const { url, sockets } = await rawServer(
    t,
    (req) =>
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${computeAccept(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
  );
  const { conn } = await dial(url, { closeTimeout: 150 });
  const started = Date.now();
  await conn.close(1000, 'bye');
  const took = Date.now() - started;
  assert.ok(took >= 140 && took < 3000, `closed after ${took} ms`);
  assert.equal(await closesWithin(sockets[0]!, 2000), true);
});

test('dial against a closed port rejects with the socket error, not a HandshakeError', async (t) => {
  const server = createServer();
  const port = await start(t, server);
  await new Promise((resolve) => server.close(resolve));
  const err = await dial(`ws://127.0.0.1:${port}/`).catch((e: unknown) => e);
  assert.ok(!(err instanceof HandshakeError));
  assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

test('dial rejects bad URLs with TypeError', async () => {
  await assert.rejects(dial('not a url'), TypeError);
  await assert.rejects(dial('http://127.0.0.1:1/'), TypeError);
  await assert.rejects(dial('ws://127.0.0.1:1/#fragment'), TypeError);
});

/** A self-signed certificate for 127.0.0.1 made with the openssl binary, or null when it is missing. */
function selfSignedCert(t: After): { key: Buffer; cert: Buffer } | null {
  const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));
  if (!openssl) return null;
  const dir = mkdtempSync(join(tmpdir(), 'wskit-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    openssl,
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

test('dial wss:// to an https server with a self-signed certificate', async (t) => {
  const tls = selfSignedCert(t);
  if (!tls) {
    if (process.env.WSKIT_REQUIRE_SERVICES === '1') assert.fail('openssl is required to make a test certificate');
    t.skip('openssl not installed');
    return;
  }
  const server = createHttpsServer(tls);
  const upgrader = new Upgrader();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrader.upgrade(req, socket, head).then(
      async (conn) => {
        // Ends with 1006 when the test tears the socket down.
        for await (const m of conn) await conn.write(m.type, m.data).catch(() => {});
      },
      () => {},
    ).catch(() => {});
  });
  const port = await start(t, server);
  const url = `wss://127.0.0.1:${port}/`;

  for (const options of [{ ca: tls.cert }, { rejectUnauthorized: false }]) {
    const { conn } = await dial(url, { tls: options });
    await conn.write('text', 'over tls');
    assert.equal((await conn.read()).data.toString(), 'over tls');
    await conn.close();
  }

  // Without trusting the certificate, the connection is refused by TLS, not by the handshake.
  const err = await dial(url).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.ok(!(err instanceof HandshakeError));
  assert.equal((err as NodeJS.ErrnoException).code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
});
