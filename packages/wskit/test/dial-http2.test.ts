/**
 * dial with `http2` (RFC 8441) on 127.0.0.1: wss: with ALPN h2 and h2c,
 * sessions shared per origin and TLS settings and closed when idle, the
 * caller's own session, and each way the handshake fails: a server without
 * SETTINGS_ENABLE_CONNECT_PROTOCOL or without HTTP/2 (a HandshakeError, or
 * HTTP/1.1 with `http1Fallback`), a refusal with a body, a subprotocol not
 * offered, a silent server, an abort, nobody listening, bad options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import http2, { type Http2ServerRequest } from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createTestCa, hasOpenssl } from 'wskit-testing/tls';
import { type Conn, dial, HandshakeError, rejectUpgrade, TimeoutError, Upgrader } from '../src/index.js';
import { startHttp2Server } from './helpers/http2-server.js';

type After = { after: (fn: () => unknown) => void };

const skipTls = !hasOpenssl() && process.env.WSKIT_REQUIRE_SERVICES !== '1' ? 'openssl not installed' : false;

/** A test certificate for 127.0.0.1 from a throwaway CA: the server's pair and the CA to trust. */
function certificate(t: After): { cert: Buffer; key: Buffer; ca: Buffer } {
  const ca = createTestCa();
  t.after(() => ca.remove());
  const issued = ca.issue('server');
  return { cert: readFileSync(issued.certFile), key: readFileSync(issued.keyFile), ca: ca.cert };
}

/** An echo handler for a server's `connect` (HTTP/2) event. */
function echoing(upgrader = new Upgrader()) {
  return (req: Http2ServerRequest) => {
    upgrader.upgrade(req, req.stream).then(async (conn) => {
      for await (const m of conn) await conn.write(m.type, m.data);
    }).catch(() => {});
  };
}

/** An echo handler for an HTTP/1.1 server's `upgrade` event. */
function echoingUpgrades(upgrader = new Upgrader()) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrader.upgrade(req, socket, head).then(async (conn) => {
      for await (const m of conn) await conn.write(m.type, m.data);
    }).catch(() => {});
  };
}

async function echoes(conn: Conn, text: string): Promise<void> {
  await conn.write('text', text);
  assert.equal((await conn.read()).data.toString(), text);
}

/** Listens on 127.0.0.1 and closes the server (dropping its connections) at the end of the test. */
async function listen(t: After, server: http.Server | https.Server | net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

test('dial http2 over wss: negotiates h2 by ALPN, answers 200, and the Conn runs over a stream', { skip: skipTls }, async (t) => {
  const tls = certificate(t);
  const server = await startHttp2Server(t, echoing(new Upgrader({ subprotocols: ['chat'] })), { tls });
  const { conn, response } = await dial(`${server.url}/echo`, { http2: true, tls: { ca: tls.ca }, subprotocols: ['chat'] });
  t.after(() => conn.terminate());
  assert.equal(response.status, 200);
  assert.equal(response.headers['sec-websocket-accept'], undefined);
  assert.equal(conn.subprotocol, 'chat');
  assert.equal(conn.httpVersion, '2');
  await echoes(conn, 'over h2 and tls');
  await conn.close();
});

test('dial http2: dials with equal TLS settings share one session; other settings get their own', { skip: skipTls }, async (t) => {
  const tls = certificate(t);
  const server = await startHttp2Server(t, echoing(), { tls });
  const a = await dial(`${server.url}/a`, { http2: true, tls: { ca: tls.ca } });
  const b = await dial(`${server.url}/b`, { http2: true, tls: { ca: Buffer.from(tls.ca) } });
  const c = await dial(`${server.url}/c`, { http2: true, tls: { ca: tls.ca, servername: 'localhost' } });
  t.after(() => [a, b, c].forEach(({ conn }) => conn.terminate()));
  for (const { conn } of [a, b, c]) await echoes(conn, 'shared?');
  assert.equal(server.opened(), 2);
  await Promise.all([a, b, c].map(({ conn }) => conn.close()));
});

test('dial http2: the shared session closes once its last WebSocket has, and the next dial opens another', async (t) => {
  const server = await startHttp2Server(t, echoing());
  const first = await dial(`${server.url}/`, { http2: true });
  const second = await dial(`${server.url}/`, { http2: true });
  await first.conn.close();
  assert.equal(server.sessions.size, 1, 'one WebSocket is still open on the session');
  await second.conn.close();
  const [session] = server.sessions;
  if (session !== undefined && !session.closed) await once(session, 'close');
  assert.equal(server.sessions.size, 0);
  const third = await dial(`${server.url}/`, { http2: true });
  t.after(() => third.conn.terminate());
  await echoes(third.conn, 'new session');
  assert.equal(server.opened(), 2);
});

test("dial http2 over the caller's session: dials share it, and it stays open after their WebSockets close", async (t) => {
  const server = await startHttp2Server(t, echoing());
  const session = http2.connect(server.url.replace('ws:', 'http:'));
  t.after(() => session.destroy());
  // Passed before its SETTINGS have come: dial learns them first.
  const [a, b] = await Promise.all([dial(`${server.url}/`, { http2: session }), dial(`${server.url}/`, { http2: session })]);
  await echoes(a.conn, 'a');
  await echoes(b.conn, 'b');
  await Promise.all([a.conn.close(), b.conn.close()]);
  assert.equal(session.closed, false);
  const c = await dial(`${server.url}/`, { http2: session });
  await echoes(c.conn, 'c');
  await c.conn.close();
  assert.equal(server.opened(), 1);
});

test('dial http2 to a server without SETTINGS_ENABLE_CONNECT_PROTOCOL rejects with a HandshakeError saying so', async (t) => {
  const server = await startHttp2Server(t, echoing(), { enableConnectProtocol: false });
  const err = await dial(`${server.url}/`, { http2: true }).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.status, 0);
  assert.match(err.message, /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
  const session = http2.connect(server.url.replace('ws:', 'http:'));
  t.after(() => session.destroy());
  await assert.rejects(dial(`${server.url}/`, { http2: session }), HandshakeError);
});

test('dial http2 with http1Fallback: a server without the setting is dialled over HTTP/1.1 on the same port', { skip: skipTls }, async (t) => {
  const tls = certificate(t);
  const server = await startHttp2Server(t, echoing(), { tls, allowHTTP1: true, enableConnectProtocol: false, onUpgrade: echoingUpgrades() });
  const { conn, response } = await dial(`${server.url}/`, { http2: true, http1Fallback: true, tls: { ca: tls.ca } });
  t.after(() => conn.terminate());
  assert.equal(response.status, 101);
  assert.equal(conn.httpVersion, '1.1');
  await echoes(conn, 'fell back');
  await conn.close();
});

test('dial http2 to HTTP/1.1-only servers: HandshakeError, or HTTP/1.1 with http1Fallback (h2c and TLS)', { skip: skipTls }, async (t) => {
  const tls = certificate(t);
  const plain = http.createServer((_, res) => res.writeHead(404).end());
  plain.on('upgrade', echoingUpgrades());
  const secure = https.createServer({ cert: tls.cert, key: tls.key }, (_, res) => res.writeHead(404).end());
  secure.on('upgrade', echoingUpgrades());
  const urls = [`ws://127.0.0.1:${await listen(t, plain)}/`, `wss://127.0.0.1:${await listen(t, secure)}/`];
  for (const url of urls) {
    const err = await dial(url, { http2: true, tls: { ca: tls.ca } }).catch((e: unknown) => e);
    assert.ok(err instanceof HandshakeError, `${url}: ${String(err)}`);
    assert.match(err.message, /does not speak HTTP\/2/);
    const { conn } = await dial(url, { http2: true, http1Fallback: true, tls: { ca: tls.ca } });
    assert.equal(conn.httpVersion, '1.1');
    await echoes(conn, url);
    await conn.close();
  }
});

test('dial http2 rejects HandshakeError with the status, headers and body of a refusal; the session stays for others', async (t) => {
  const upgrader = new Upgrader();
  const server = await startHttp2Server(t, (req) => {
    if (req.url === '/full') return rejectUpgrade(req.stream, 429, 'Too many connections', { 'Retry-After': '5' });
    echoing(upgrader)(req);
  });
  const open = await dial(`${server.url}/ok`, { http2: true });
  t.after(() => open.conn.terminate());
  const err = await dial(`${server.url}/full`, { http2: true }).catch((e: unknown) => e);
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.status, 429);
  assert.equal(err.headers['retry-after'], '5');
  assert.equal(err.body, 'Too many connections\n');
  await echoes(open.conn, 'unaffected');
  assert.equal(server.opened(), 1);
});

test('dial http2 rejects a 200 that picks a subprotocol it did not offer, and resets the stream', async (t) => {
  const closed: number[] = [];
  const server = await startHttp2Server(t, (req) => {
    req.stream.respond({ ':status': 200, 'sec-websocket-protocol': 'other' });
    req.stream.on('close', () => closed.push(req.stream.rstCode ?? -1));
  });
  await assert.rejects(dial(`${server.url}/`, { http2: true, subprotocols: ['chat'] }), (err: unknown) => err instanceof HandshakeError && /other/.test(err.message));
  while (closed.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(closed, [8]);
});

test('dial http2: a server that never answers the extended CONNECT gives TimeoutError, and an abort the signal reason', async (t) => {
  const resets: number[] = [];
  const server = await startHttp2Server(t, (req) => req.stream.on('close', () => resets.push(req.stream.rstCode ?? -1)));
  await assert.rejects(dial(`${server.url}/`, { http2: true, handshakeTimeout: 100 }), TimeoutError);
  const controller = new AbortController();
  const dialling = dial(`${server.url}/`, { http2: true, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('stop')), 50);
  await assert.rejects(dialling, { message: 'stop' });
  while (resets.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(resets, [8, 8]);
});

test('dial http2 against a closed port rejects with the socket error, with or without http1Fallback', async () => {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  for (const http1Fallback of [false, true]) {
    const err = await dial(`ws://127.0.0.1:${port}/`, { http2: true, http1Fallback }).catch((e: unknown) => e);
    assert.ok(!(err instanceof HandshakeError));
    assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  }
});

test('dial refuses http2 and http1Fallback values of the wrong type with TypeError', async () => {
  await assert.rejects(dial('ws://127.0.0.1:1/', { http2: 'yes' as unknown as boolean }), TypeError);
  await assert.rejects(dial('ws://127.0.0.1:1/', { http2: {} as unknown as boolean }), TypeError);
  await assert.rejects(dial('ws://127.0.0.1:1/', { http2: true, http1Fallback: 1 as unknown as boolean }), TypeError);
  await assert.rejects(dial('ws://127.0.0.1:1/', { http2: true, headers: { Connection: 'Upgrade' } }), TypeError);
});
