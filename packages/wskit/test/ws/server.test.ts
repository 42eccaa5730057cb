/**
 * wskit/ws's WebSocketServer over real loopback sockets: options, events,
 * verifyClient, handleProtocols, noServer with handleUpgrade, path, client
 * tracking, and the HTTP answers to bad requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from '../../src/ws/index.js';
import { accepted, closeServer, connect, listen, next, WAIT_MS } from './helpers.js';

/** Send a raw upgrade request and return the status line, headers and body of the answer. */
async function rawUpgrade(url: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const port = Number(new URL(url).port);
  const req = http.request({ host: '127.0.0.1', port, method, path: '/', headers, timeout: WAIT_MS });
  req.end();
  const [res] = (await next(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

const UPGRADE = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' };

test('wskit/ws WebSocketServer requires exactly one of port, server and noServer', () => {
  assert.throws(() => new WebSocketServer({}), TypeError);
  assert.throws(() => new WebSocketServer({ port: 0, noServer: true }), TypeError);
  assert.throws(() => new WebSocketServer({ noServer: true, server: http.createServer() }), TypeError);
});

test('wskit/ws WebSocketServer emits connection with the socket and request, and echoes messages', async (t) => {
  const { wss, url } = await listen(t);
  wss.on('connection', (ws, req) => {
    assert.equal(req.url, '/chat?room=1');
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const client = await connect(t, `${url}/chat?room=1`);
  client.send('hello');
  const [data, isBinary] = await next(client, 'message');
  assert.deepEqual(data, Buffer.from('hello'));
  assert.equal(isBinary, false);
});

test('wskit/ws WebSocketServer answers plain HTTP requests with 426', async (t) => {
  const { url } = await listen(t);
  const res = await rawUpgrade(url, {});
  assert.equal(res.status, 426);
  assert.equal(res.body, 'Upgrade Required');
});

test('wskit/ws WebSocketServer refuses bad handshakes with the status ws uses', async (t) => {
  const { url } = await listen(t);
  assert.equal((await rawUpgrade(url, { Connection: 'Upgrade', Upgrade: 'websocket' }, 'POST')).status, 405);
  const noKey = await rawUpgrade(url, { Connection: 'Upgrade', Upgrade: 'websocket' });
  assert.equal(noKey.status, 400);
  assert.equal(noKey.body, 'Missing or invalid Sec-WebSocket-Key header');
  const badVersion = await rawUpgrade(url, { ...UPGRADE, 'Sec-WebSocket-Version': '12' });
  assert.equal(badVersion.status, 400);
  assert.equal(badVersion.headers['sec-websocket-version'], '13, 8');
  const badProtocol = await rawUpgrade(url, { ...UPGRADE, 'Sec-WebSocket-Protocol': 'a;b' });
  assert.equal(badProtocol.status, 400);
});

test('wskit/ws WebSocketServer reports refused handshakes to wsClientError listeners instead of answering', async (t) => {
  const { wss, url } = await listen(t);
  wss.on('wsClientError', (err, socket, req) => {
    assert.ok(err instanceof Error);
    assert.equal(req.method, 'POST');
    socket.end('HTTP/1.1 418 Teapot\r\nContent-Length: 0\r\n\r\n');
  });
  assert.equal((await rawUpgrade(url, { Connection: 'Upgrade', Upgrade: 'websocket' }, 'POST')).status, 418);
});

test('wskit/ws WebSocketServer calls verifyClient with origin, secure and req', async (t) => {
  let seen: { origin?: string; secure: boolean; req: IncomingMessage } | undefined;
  const { url } = await listen(t, {
    verifyClient: (info: { origin?: string; secure: boolean; req: IncomingMessage }) => {
      seen = info;
      return info.req.headers['x-token'] === 'yes';
    },
  });
  await connect(t, url, undefined, { origin: 'https://example.com', headers: { 'x-token': 'yes' } });
  assert.equal(seen?.origin, 'https://example.com');
  assert.equal(seen?.secure, false);
  assert.equal(seen?.req.headers['x-token'], 'yes');
  const refused = new WebSocket(url);
  const [err] = await next(refused, 'error');
  assert.match((err as Error).message, /401/);
});

test('wskit/ws WebSocketServer lets an async verifyClient refuse with a status and headers', async (t) => {
  const { url } = await listen(t, {
    verifyClient: (_info: unknown, cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) =>
      setImmediate(cb, false, 503, 'Busy', { 'Retry-After': '5' }),
  });
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  const [, res] = (await next(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '5');
  res.resume();
  ws.terminate();
});

test('wskit/ws WebSocketServer picks the subprotocol with handleProtocols', async (t) => {
  const { wss, url } = await listen(t, { handleProtocols: (protocols) => (protocols.has('b') ? 'b' : false) });
  const server = accepted(wss);
  const client = await connect(t, url, ['a', 'b']);
  assert.equal(client.protocol, 'b');
  assert.equal((await server).protocol, 'b');
});

test('wskit/ws WebSocketServer in noServer mode upgrades through handleUpgrade and checks path', async (t) => {
  const wss = new WebSocketServer({ noServer: true, path: '/ws' });
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => {
    if (!wss.shouldHandle(req)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.listen(0, '127.0.0.1');
  await next(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  assert.throws(() => wss.address(), /noServer/);
  wss.on('connection', (ws) => ws.send('welcome'));
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws?x=1`);
  t.after(() => client.terminate());
  const [data] = await next(client, 'message');
  assert.equal(String(data), 'welcome');
  const wrong = new WebSocket(`ws://127.0.0.1:${port}/other`);
  wrong.on('error', () => {});
  const [, res] = (await next(wrong, 'unexpected-response')) as [unknown, IncomingMessage];
  assert.equal(res.statusCode, 404);
  res.resume();
  wrong.terminate();
  // With an external server, close waits for the tracked clients to go.
  const closed = new Promise((resolve) => wss.close(resolve));
  client.terminate();
  await closed;
});

test('wskit/ws WebSocketServer tracks clients and forgets them when they close', async (t) => {
  const { wss, url } = await listen(t);
  const server = accepted(wss);
  const client = await connect(t, url);
  const ws = await server;
  assert.equal(wss.clients?.size, 1);
  client.close();
  await next(ws, 'close');
  assert.equal(wss.clients?.size, 0);
  const untracked = new WebSocketServer({ noServer: true, clientTracking: false });
  assert.equal(untracked.clients, undefined);
  untracked.close();
});

test('wskit/ws WebSocketServer lets headers listeners add response headers', async (t) => {
  const { wss, url } = await listen(t);
  wss.on('headers', (headers: string[]) => headers.push('Set-Cookie: id=42'));
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  const [res] = (await next(ws, 'upgrade')) as [IncomingMessage];
  assert.deepEqual(res.headers['set-cookie'], ['id=42']);
});

test('wskit/ws WebSocketServer makes connections with the WebSocket option class', async (t) => {
  class Tagged extends WebSocket {
    tag = 'mine';
  }
  const { wss, url } = await listen(t, { WebSocket: Tagged });
  const server = accepted(wss);
  await connect(t, url);
  const ws = await server;
  assert.ok(ws instanceof Tagged);
});

test('wskit/ws WebSocketServer close stops listening, emits close and reports a second close', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await next(wss, 'listening');
  await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
  assert.equal(wss.address(), null);
  const err = await new Promise<Error | undefined>((resolve) => wss.close(resolve));
  assert.match(String(err?.message), /not running/);
});

test('wskit/ws WebSocketServer emits error when its port is taken', async (t) => {
  const { wss } = await listen(t);
  const port = (wss.address() as AddressInfo).port;
  const second = new WebSocketServer({ port, host: '127.0.0.1' });
  const [err] = await next(second, 'error');
  assert.equal((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
});

test('wskit/ws WebSocketServer reads frames that arrive with the upgrade request', async (t) => {
  const { wss, url } = await listen(t);
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  t.after(() => socket.destroy());
  // A masked text frame "hi" right behind the request head.
  const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Key: ${UPGRADE['Sec-WebSocket-Key']}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  socket.write(frame);
  // The frame is read after 'connection', once its listeners are in place.
  const message = new Promise<unknown>((resolve) => wss.once('connection', (ws) => ws.once('message', resolve)));
  assert.equal(String(await message), 'hi');
});

test('wskit/ws WebSocketServer with perMessageDeflate answers the offer and round-trips compressed messages', async (t) => {
  const { wss, url } = await listen(t, { perMessageDeflate: { threshold: 0 } });
  wss.on('connection', (ws) => {
    assert.equal(ws.extensions, 'permessage-deflate');
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const client = await connect(t, url);
  assert.equal(client.extensions, 'permessage-deflate');
  const big = 'x'.repeat(100_000);
  client.send(big);
  const [data] = await next(client, 'message');
  assert.equal(String(data), big);
  await closeServer(wss);
});

test('wskit/ws closeTimeout: a close the peer never answers ends the connection with 1006 once it passes', async (t) => {
  const { wss, url } = await listen(t, { closeTimeout: 200 });
  const connection = next(wss, 'connection');
  // A raw client that completes the handshake, then never answers the close frame.
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  t.after(() => socket.destroy());
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\n${Object.entries(UPGRADE).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
  socket.on('data', () => {});
  const [ws] = (await connection) as [WebSocket];
  const closed = next(ws, 'close');
  const started = Date.now();
  ws.close(1000, 'bye');
  const [code] = await closed;
  assert.equal(code, 1006);
  // Not at once: the timer waited for an answer first (ws's default would be 30 s, past WAIT_MS).
  assert.ok(Date.now() - started >= 150, `closed after ${Date.now() - started} ms`);
});

test('wskit/ws client closeTimeout: an unanswered close ends the connection with 1006 once it passes', async (t) => {
  // A raw server that completes the handshake, then never answers the close frame.
  const server = net.createServer((socket) => {
    socket.once('data', (head) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(String(head))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.on('data', () => {});
    });
  });
  server.listen(0, '127.0.0.1');
  await next(server, 'listening');
  t.after(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { closeTimeout: 200 });
  t.after(() => ws.terminate());
  await next(ws, 'open');
  const closed = next(ws, 'close');
  const started = Date.now();
  ws.close(1000);
  const [code] = await closed;
  assert.equal(code, 1006);
  assert.ok(Date.now() - started >= 150, `closed after ${Date.now() - started} ms`);
});
