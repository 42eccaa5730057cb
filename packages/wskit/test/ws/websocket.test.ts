/**
 * wskit/ws's WebSocket over real loopback sockets: client options and URL
 * forms, redirects, sending (callbacks, fragments, binary types), ping and
 * pong, pause and resume, closing both ways, and the EventTarget emulation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type VerifyClientInfo, WebSocket, WebSocketServer, WsCloseEvent, WsMessageEvent } from '../../src/ws/index.js';
import { accepted, connect, listen, next } from './helpers.js';

test('wskit/ws WebSocket has the ready-state constants on the class and on instances', () => {
  assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
  const descriptor = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'OPEN');
  assert.deepEqual(descriptor, { value: 1, writable: false, enumerable: true, configurable: false });
  assert.equal(WebSocket.Server, WebSocketServer);
  assert.equal(WebSocket.WebSocketServer, WebSocketServer);
  assert.equal(WebSocket.WebSocket, WebSocket);
});

test('wskit/ws WebSocket rejects bad URLs, subprotocols and protocol versions synchronously', () => {
  assert.throws(() => new WebSocket('nope'), SyntaxError);
  assert.throws(() => new WebSocket('ftp://example.com'), SyntaxError);
  assert.throws(() => new WebSocket('ws://example.com/#frag'), SyntaxError);
  assert.throws(() => new WebSocket('ws://127.0.0.1:1', ['a', 'a']), SyntaxError);
  assert.throws(() => new WebSocket('ws://127.0.0.1:1', { protocolVersion: 7 }), RangeError);
});

test('wskit/ws WebSocket maps http: to ws: and reports CONNECTING until open', async (t) => {
  const { url } = await listen(t);
  const ws = new WebSocket(url.replace('ws:', 'http:') + '/');
  t.after(() => ws.terminate());
  assert.equal(ws.url, url + '/');
  assert.equal(ws.readyState, WebSocket.CONNECTING);
  assert.throws(() => ws.send('early'), /not open: readyState 0/);
  await next(ws, 'open');
  assert.equal(ws.readyState, WebSocket.OPEN);
});

test('wskit/ws WebSocket connects over ws+unix: to a server on a UNIX socket', async (t) => {
  const path = join(tmpdir(), `wskit-ws-${process.pid}-${Date.now()}.sock`);
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  server.listen(path);
  await next(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const connection = next(wss, 'connection');
  const ws = await connect(t, `ws+unix:${path}:/inner?q=1`);
  const [, req] = (await connection) as [WebSocket, IncomingMessage];
  assert.equal(req.url, '/inner?q=1');
  ws.close();
});

test('wskit/ws WebSocket sends headers and origin, offers permessage-deflate by default', async (t) => {
  const { wss, url } = await listen(t);
  const connection = next(wss, 'connection');
  await connect(t, url, undefined, { headers: { Cookie: 'a=1' }, origin: 'https://app.example' });
  const [, req] = (await connection) as [WebSocket, IncomingMessage];
  assert.equal(req.headers.cookie, 'a=1');
  assert.equal(req.headers.origin, 'https://app.example');
  assert.equal(req.headers['sec-websocket-extensions'], 'permessage-deflate; client_max_window_bits');
});

test('wskit/ws WebSocket with protocolVersion 8 sends Sec-WebSocket-Origin, which the server accepts', async (t) => {
  const { wss, url } = await listen(t, { verifyClient: (info: VerifyClientInfo) => info.origin === 'https://old.example' });
  const connection = next(wss, 'connection');
  await connect(t, url, undefined, { protocolVersion: 8, origin: 'https://old.example' });
  const [, req] = (await connection) as [WebSocket, IncomingMessage];
  assert.equal(req.headers['sec-websocket-version'], '8');
  assert.equal(req.headers['sec-websocket-origin'], 'https://old.example');
});

test('wskit/ws WebSocket fails with error then close 1006 when the handshake times out', async (t) => {
  const server = net.createServer((socket) => socket.on('data', () => {}));
  server.listen(0, '127.0.0.1');
  await next(server, 'listening');
  t.after(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { handshakeTimeout: 100 });
  const closed = next(ws, 'close');
  const [err] = await next(ws, 'error');
  assert.equal((err as Error).message, 'Opening handshake has timed out');
  const [code] = await closed;
  assert.equal(code, 1006);
});

test('wskit/ws WebSocket follows redirects when asked and stops at maxRedirects', async (t) => {
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/final') wss.handleUpgrade(req, socket, head, (ws) => ws.close(1000, 'bye'));
    else socket.end(`HTTP/1.1 302 Found\r\nLocation: ${req.url === '/loop' ? '/loop' : '/final'}\r\n\r\n`);
  });
  server.listen(0, '127.0.0.1');
  await next(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ws = new WebSocket(`${base}/start`, { followRedirects: true });
  const [redirected] = await next(ws, 'redirect');
  assert.equal(redirected, `${base}/final`);
  const [code, reason] = await next(ws, 'close');
  assert.equal(code, 1000);
  assert.equal(String(reason), 'bye');
  assert.equal(ws.url, `${base}/final`);

  const looping = new WebSocket(`${base}/loop`, { followRedirects: true, maxRedirects: 2 });
  const [err] = await next(looping, 'error');
  assert.equal((err as Error).message, 'Maximum redirects exceeded');

  const notFollowed = new WebSocket(`${base}/start`);
  const [err2] = await next(notFollowed, 'error');
  assert.equal((err2 as Error).message, 'Unexpected server response: 302');
});

test('wskit/ws WebSocket uses createConnection and calls finishRequest', async (t) => {
  const { wss, url } = await listen(t);
  const port = Number(new URL(url).port);
  let finished = false;
  const connection = next(wss, 'connection');
  await connect(t, 'ws://example.invalid/', undefined, {
    createConnection: () => net.connect(port, '127.0.0.1'),
    finishRequest: (req) => {
      finished = true;
      req.setHeader('X-Late', 'yes');
      req.end();
    },
  });
  const [, req] = (await connection) as [WebSocket, IncomingMessage];
  assert.ok(finished);
  assert.equal(req.headers['x-late'], 'yes');
});

test('wskit/ws WebSocket delivers binary messages per binaryType and text as Buffer with isBinary false', async (t) => {
  const { wss, url } = await listen(t);
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const ws = await connect(t, url);
  const payload = Buffer.from([1, 2, 3]);
  for (const [type, check] of [
    ['nodebuffer', (d: unknown) => assert.deepEqual(d, payload)],
    ['arraybuffer', (d: unknown) => assert.deepEqual(Buffer.from(d as ArrayBuffer), payload)],
    ['fragments', (d: unknown) => assert.deepEqual(Buffer.concat(d as Buffer[]), payload)],
    ['blob', (d: unknown) => assert.ok(d instanceof Blob)],
  ] as const) {
    ws.binaryType = type;
    ws.send(payload);
    const [data, isBinary] = await next(ws, 'message');
    assert.equal(isBinary, true);
    check(data);
  }
  ws.send('text');
  const [text, isBinary] = await next(ws, 'message');
  assert.equal(isBinary, false);
  assert.deepEqual(text, Buffer.from('text'));
});

test('wskit/ws WebSocket sends a message in fragments with fin false and calls each callback once written', async (t) => {
  const { wss, url } = await listen(t);
  const server = accepted(wss);
  const ws = await connect(t, url);
  const peer = await server;
  const done: string[] = [];
  ws.send('one ', { fin: false }, (err) => done.push(`a${err ?? ''}`));
  ws.send('two ', { fin: false }, (err) => done.push(`b${err ?? ''}`));
  ws.send('three', { fin: true }, (err) => done.push(`c${err ?? ''}`));
  const [data, isBinary] = await next(peer, 'message');
  assert.equal(String(data), 'one two three');
  assert.equal(isBinary, false);
  assert.deepEqual(done, ['a', 'b', 'c']);
});

test('wskit/ws WebSocket passes the send callback an error once closed and counts the bytes in bufferedAmount', async (t) => {
  const { url } = await listen(t);
  const ws = await connect(t, url);
  ws.close();
  const err = await new Promise<Error | null | undefined>((resolve) => ws.send('late', resolve));
  assert.match(String(err?.message), /not open: readyState 2 \(CLOSING\)/);
  assert.ok(ws.bufferedAmount >= 4);
});

test('wskit/ws WebSocket pings and pongs, answering pings unless autoPong is false', async (t) => {
  const { wss, url } = await listen(t);
  const server = accepted(wss);
  const ws = await connect(t, url);
  const peer = await server;
  peer.ping('are you there');
  const [ping] = await next(ws, 'ping');
  assert.equal(String(ping), 'are you there');
  const [pong] = await next(peer, 'pong');
  assert.equal(String(pong), 'are you there');
  assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError);

  const quiet = await connect(t, url, undefined, { autoPong: false });
  const quietPeer = [...(wss.clients ?? [])].find((c) => c !== peer)!;
  let ponged = false;
  quietPeer.on('pong', () => (ponged = true));
  quietPeer.ping();
  await next(quiet, 'ping');
  quietPeer.ping();
  await next(quiet, 'ping');
  assert.equal(ponged, false);
});

test('wskit/ws WebSocket pause stops message events until resume', async (t) => {
  const { wss, url } = await listen(t);
  const server = accepted(wss);
  const ws = await connect(t, url);
  const peer = await server;
  ws.pause();
  assert.equal(ws.isPaused, true);
  let got = 0;
  ws.on('message', () => got++);
  peer.send('x');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(got, 0);
  ws.resume();
  await next(ws, 'message');
  assert.equal(ws.isPaused, false);
});

test('wskit/ws WebSocket closes with code and reason in both directions', async (t) => {
  const { wss, url } = await listen(t);
  const server = accepted(wss);
  const ws = await connect(t, url);
  const peer = await server;
  assert.throws(() => ws.close(1006), TypeError);
  assert.throws(() => ws.close(1000, 'x'.repeat(124)), RangeError);
  const peerClosed = next(peer, 'close');
  const closed = next(ws, 'close');
  ws.close(4001, 'client done');
  const [code, reason] = await peerClosed;
  assert.equal(code, 4001);
  assert.deepEqual(reason, Buffer.from('client done'));
  const [myCode, myReason] = await closed;
  assert.equal(myCode, 4001);
  assert.equal(String(myReason), 'client done');
  assert.equal(ws.readyState, WebSocket.CLOSED);

  const server2 = accepted(wss);
  const ws2 = await connect(t, url);
  (await server2).close();
  const [code2, reason2] = await next(ws2, 'close');
  assert.equal(code2, 1005);
  assert.equal((reason2 as Buffer).length, 0);
});

test('wskit/ws WebSocket terminate reports 1006 on both sides', async (t) => {
  const { wss, url } = await listen(t);
  const server = accepted(wss);
  const ws = await connect(t, url);
  const peer = await server;
  ws.terminate();
  const [[code], [peerCode]] = await Promise.all([next(ws, 'close'), next(peer, 'close')]);
  assert.equal(code, 1006);
  assert.equal(peerCode, 1006);
});

test('wskit/ws WebSocket close while connecting emits error then close', async (t) => {
  const { url } = await listen(t);
  const ws = new WebSocket(url);
  ws.close();
  const closed = next(ws, 'close');
  const [err] = await next(ws, 'error');
  assert.equal((err as Error).message, 'WebSocket was closed before the connection was established');
  const [code] = await closed;
  assert.equal(code, 1006);
});

test('wskit/ws WebSocket supports the EventTarget API and on<event> attributes', async (t) => {
  const { wss, url } = await listen(t);
  wss.on('connection', (ws) => {
    ws.send('hi');
    ws.close(1000, 'done');
  });
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  const events: string[] = [];
  const onMessage = (event: WsMessageEvent) => events.push(`message:${String(event.data)}`);
  ws.addEventListener('message', onMessage);
  ws.addEventListener('message', onMessage); // added once only
  ws.onopen = (event) => events.push(`open:${event.type}`);
  assert.equal(typeof ws.onopen, 'function');
  const closed = new Promise<WsCloseEvent>((resolve) => {
    ws.onclose = resolve;
  });
  const event = await closed;
  assert.ok(event instanceof WsCloseEvent);
  assert.equal(event.code, 1000);
  assert.equal(event.reason, 'done');
  assert.equal(event.wasClean, true);
  assert.equal(event.target, ws);
  assert.deepEqual(events, ['open:open', 'message:hi']);
  ws.removeEventListener('message', onMessage);
  assert.equal(ws.listenerCount('message'), 0);
  ws.onopen = null;
  assert.equal(ws.onopen, null);
});

test('wskit/ws WebSocket masks with generateMask and enforces maxPayload', async (t) => {
  const { wss, url } = await listen(t, { maxPayload: 1024 });
  const server = accepted(wss);
  const ws = await connect(t, url, undefined, { generateMask: (mask) => mask.fill(0) });
  const peer = await server;
  peer.on('error', () => {});
  ws.send('under the limit');
  assert.equal(String((await next(peer, 'message'))[0]), 'under the limit');
  ws.send(Buffer.alloc(2048));
  const [code] = await next(ws, 'close');
  assert.equal(code, 1009);
});
