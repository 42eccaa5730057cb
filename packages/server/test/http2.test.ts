/**
 * `wskit serve` with TLS speaks HTTP/2 and HTTP/1.1 on one port: the page,
 * /metrics and every WebSocket route (/echo, /add, /ws) over both, the
 * WebSockets of HTTP/2 as streams of one connection (RFC 8441), /metrics
 * counting them by protocol, limits and refusals answered on the stream, a
 * plain GET of a WebSocket route and an HTTP/1.1 CONNECT answered without
 * harm, and shutdown closing HTTP/2 WebSockets with 1001.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { dial, HandshakeError } from 'wskit';
import { createTestCa, hasOpenssl } from 'wskit-testing/tls';
import { type RunningServer, type ServerOptions, startServer } from '../src/server.js';
import { tempDataDir } from './chat/harness.js';

const REQUIRED = process.env.WSKIT_REQUIRE_SERVICES === '1';
const skip = !REQUIRED && !hasOpenssl() ? 'the openssl command is not installed (set WSKIT_REQUIRE_SERVICES=1 to fail instead)' : false;

type T = { after(fn: () => unknown): void };

/** wskit serve over TLS with a throwaway CA, its log kept; stopped at the end of the test. */
async function serveTls(t: T, options: Partial<ServerOptions> = {}): Promise<{ running: RunningServer; ca: Buffer; log: string[]; wss: string }> {
  const ca = createTestCa();
  t.after(() => ca.remove());
  const log: string[] = [];
  const running = await startServer({ port: 0, host: '127.0.0.1', tls: ca.issue('server'), chat: { dataDir: tempDataDir(t) }, log: (line) => log.push(line), ...options });
  t.after(() => running.shutdown());
  return { running, ca: ca.cert, log, wss: running.url.replace('https:', 'wss:') };
}

/** An HTTP/2 session to `url` trusting `ca`, closed at the end of the test. */
function connect(t: T, url: string, ca: Buffer): ClientHttp2Session {
  const session = http2.connect(url, { ca });
  session.on('error', () => {});
  t.after(() => session.destroy());
  return session;
}

/** GET `path` over HTTP/2: status, headers and body. */
function get(session: ClientHttp2Session, path: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let body = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    stream.once('response', (headers) => stream.once('end', () => resolve({ status: Number(headers[':status']), headers, body })));
    stream.once('error', reject);
  });
}

/** A sample of a Prometheus counter or gauge with a protocol label, 0 when absent. */
function sample(metrics: string, name: string, protocol: 'h1' | 'h2'): number {
  const match = new RegExp(`^${name}\\{protocol="${protocol}"\\} (\\d+)$`, 'm').exec(metrics);
  return match ? Number(match[1]) : 0;
}

test('wskit serve over TLS: the page and every WebSocket route over HTTP/2 on one connection, and /metrics counts them as h2', { skip, timeout: 30_000 }, async (t) => {
  const { running, ca, log, wss } = await serveTls(t);
  const session = connect(t, running.url, ca);
  const page = await get(session, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  assert.equal(session.alpnProtocol, 'h2');

  const { conn: echo } = await dial(`${wss}/echo`, { http2: session, compression: true });
  assert.equal(echo.httpVersion, '2');
  await echo.write('binary', Buffer.alloc(200_000, 3));
  assert.equal((await echo.read()).data.length, 200_000);
  const { conn: add } = await dial(`${wss}/add`, { http2: session });
  await add.writeJSON({ A: 7, B: 4 });
  assert.deepEqual(await add.readJSON(), { Sum: 11 });
  const { conn: chat } = await dial(`${wss}/ws?room=lobby&name=ada`, { http2: session, headers: { Origin: running.url } });
  assert.equal(((await chat.readJSON()) as { type: string }).type, 'history');
  await chat.writeJSON({ type: 'message', text: 'over h2' });
  let message: { type: string; text?: string };
  do message = await chat.readJSON();
  while (message.type !== 'message');
  assert.equal(message.text, 'over h2');

  const metrics = (await get(session, '/metrics')).body;
  assert.equal(sample(metrics, 'wskit_websocket_connections_total', 'h2'), 3);
  assert.equal(sample(metrics, 'wskit_websocket_connections_open', 'h2'), 3);
  assert.equal(sample(metrics, 'wskit_websocket_connections_total', 'h1'), 0);
  assert.equal((await running.connections()).tcp, 1, 'the page, /metrics and three WebSockets share one TCP connection');
  assert.ok(log.some((line) => /^open \/echo 127\.0\.0\.1:\d+ http\/2$/.test(line)), log.join('\n'));
  await Promise.all([echo.close(), add.close(), chat.close()]);
  const deadline = Date.now() + 5_000;
  while (sample((await get(session, '/metrics')).body, 'wskit_websocket_connections_open', 'h2') !== 0) {
    if (Date.now() > deadline) assert.fail('the gauge of open h2 WebSockets did not return to 0');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

test('wskit serve over TLS: HTTP/1.1 clients get the page and WebSockets on the same port, counted as h1', { skip, timeout: 30_000 }, async (t) => {
  const { running, ca, wss } = await serveTls(t);
  const page = await new Promise<{ status: number; version: string }>((resolve, reject) => {
    httpsRequest(`${running.url}/`, { ca }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion }));
    }).once('error', reject).end();
  });
  assert.deepEqual(page, { status: 200, version: '1.1' });
  const { conn, response } = await dial(`${wss}/echo`, { tls: { ca } });
  assert.equal(response.status, 101);
  assert.equal(conn.httpVersion, '1.1');
  await conn.write('text', 'over h1');
  assert.equal((await conn.read()).data.toString(), 'over h1');
  const viaFallback = await dial(`${wss}/echo`, { tls: { ca }, http2: true, http1Fallback: true });
  assert.equal(viaFallback.conn.httpVersion, '2', 'the server allows extended CONNECT, so no fallback is needed');
  const session = connect(t, running.url, ca);
  const metrics = (await get(session, '/metrics')).body;
  assert.equal(sample(metrics, 'wskit_websocket_connections_total', 'h1'), 1);
  assert.equal(sample(metrics, 'wskit_websocket_connections_total', 'h2'), 1);
  await Promise.all([conn.close(), viaFallback.conn.close()]);
});

test('wskit serve over HTTP/2: refusals are answered on the stream (404, 403, 429) and the session carries on', { skip, timeout: 30_000 }, async (t) => {
  const { running, ca, wss } = await serveTls(t, { maxConnectionsPerIp: 2 });
  const session = connect(t, running.url, ca);
  const refusal = (url: string, headers: Record<string, string> = {}) => dial(url, { http2: session, headers }).catch((e: unknown) => e);
  const missing = await refusal(`${wss}/nowhere`);
  assert.ok(missing instanceof HandshakeError);
  assert.equal(missing.status, 404);
  const foreign = await refusal(`${wss}/ws?room=lobby&name=ada`, { Origin: 'https://evil.example' });
  assert.ok(foreign instanceof HandshakeError);
  assert.equal(foreign.status, 403);
  const a = await dial(`${wss}/echo`, { http2: session });
  const b = await dial(`${wss}/echo`, { http2: session });
  const third = await refusal(`${wss}/echo`);
  assert.ok(third instanceof HandshakeError);
  assert.equal(third.status, 429);
  assert.equal(third.headers['retry-after'], '5');
  await a.conn.write('text', 'still open');
  assert.equal((await a.conn.read()).data.toString(), 'still open');
  await Promise.all([a.conn.close(), b.conn.close()]);
  assert.equal((await get(session, '/healthz')).status, 200);
});

test('wskit serve over HTTP/2: a plain GET of a WebSocket route gets 426 without an Upgrade header; an HTTP/1.1 CONNECT gets 405', { skip, timeout: 30_000 }, async (t) => {
  const { running, ca } = await serveTls(t);
  const session = connect(t, running.url, ca);
  for (const path of ['/ws', '/echo', '/add']) {
    const answer = await get(session, path);
    assert.equal(answer.status, 426, path);
    assert.equal(answer.headers.upgrade, undefined);
  }
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: running.port, method: 'CONNECT', path: 'example.com:443', ca, servername: 'localhost' });
    req.once('connect', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.once('response', (res) => resolve(res.statusCode ?? 0));
    req.once('error', reject);
    req.end();
  });
  assert.equal(status, 405);
  assert.equal((await get(session, '/healthz')).status, 200, 'the server is still up');
});

test('wskit serve over HTTP/2: shutdown closes WebSockets on streams with 1001', { skip, timeout: 30_000 }, async (t) => {
  const { running, ca, wss } = await serveTls(t);
  const session = connect(t, running.url, ca);
  const { conn: echo } = await dial(`${wss}/echo`, { http2: session });
  const { conn: chat } = await dial(`${wss}/ws?room=lobby&name=bo`, { http2: session });
  await running.shutdown();
  assert.equal((await echo.closed).closeCode, 1001);
  assert.equal((await chat.closed).closeCode, 1001);
});
