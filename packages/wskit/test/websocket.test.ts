/**
 * The browser-style WebSocket class over real loopback sockets, against
 * wskit's own Upgrader and against the npm `ws` server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket as WsPeer } from 'ws';
import { CloseEvent, type Conn, rejectUpgrade, Upgrader, type UpgraderOptions, WebSocket } from '../src/index.js';

type After = { after: (fn: () => unknown) => void };

/** An http.Server on 127.0.0.1 whose /ws path is upgraded by wskit and handed to `serve`. */
async function wskitServer(t: After, options: UpgraderOptions, serve: (conn: Conn) => unknown): Promise<string> {
  const upgrader = new Upgrader(options);
  const conns = new Set<Conn>();
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.url !== '/ws') return rejectUpgrade(socket, 404, 'no such endpoint');
    upgrader.upgrade(req, socket, head).then(
      (conn) => {
        conns.add(conn);
        serve(conn);
      },
      () => {},
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const conn of conns) conn.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
}

/** Echo every message back with its type. */
async function echo(conn: Conn): Promise<void> {
  try {
    for await (const m of conn) await conn.write(m.type, m.data);
  } catch {
    // closed abnormally: the tests look at the client side
  }
}

/** An npm `ws` server on 127.0.0.1 calling `onConnection` for each client. */
async function wsServer(t: After, onConnection: (peer: WsPeer) => void, options: object = {}): Promise<string> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  server.on('connection', onConnection);
  await once(server, 'listening');
  t.after(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Resolves with the next event of `type`. */
function next<E extends Event = Event>(ws: WebSocket, type: string): Promise<E> {
  return new Promise((resolve) => ws.addEventListener(type, (e) => resolve(e as E), { once: true }));
}

/** Records every event's type in order, with message data and close details. */
function record(ws: WebSocket): unknown[] {
  const log: unknown[] = [];
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (e) => {
      if (e instanceof MessageEvent) log.push(['message', e.data]);
      else if (e instanceof CloseEvent) log.push(['close', e.code, e.reason, e.wasClean]);
      else log.push([type]);
    });
  }
  return log;
}

function closeEvent(ws: WebSocket): Promise<CloseEvent> {
  return next<CloseEvent>(ws, 'close');
}

test('WebSocket exposes the ready-state constants on the class and on instances', async (t) => {
  const url = await wskitServer(t, {}, echo);
  assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
  const ws = new WebSocket(url);
  assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
  assert.equal(ws.readyState, WebSocket.CONNECTING);
  await next(ws, 'open');
  ws.close();
  await closeEvent(ws);
});

test('WebSocket opens, sends text and receives it in order from a wskit server', async (t) => {
  const url = await wskitServer(t, {}, echo);
  const ws = new WebSocket(url);
  assert.equal(ws.url, url);
  assert.equal(ws.binaryType, 'blob');
  const opened = next(ws, 'open');
  assert.throws(() => ws.send('too early'), (err: DOMException) => err.name === 'InvalidStateError');
  await opened;
  assert.equal(ws.readyState, WebSocket.OPEN);
  const received: string[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  ws.onmessage = (e) => {
    received.push(e.data as string);
    if (received.length === 50) done();
  };
  const sent = Array.from({ length: 50 }, (_, i) => `message ${i} ✓`);
  for (const text of sent) ws.send(text);
  await all;
  assert.deepEqual(received, sent);
  ws.close(1000, 'done');
  const ev = await closeEvent(ws);
  assert.equal(ev.code, 1000);
  assert.equal(ev.wasClean, true);
  assert.equal(ws.readyState, WebSocket.CLOSED);
});

test('WebSocket delivers binary messages as Blob, ArrayBuffer or Buffer per binaryType', async (t) => {
  const url = await wskitServer(t, {}, echo);
  const ws = new WebSocket(url);
  await next(ws, 'open');
  const bytes = Uint8Array.from([0, 1, 2, 250, 255]);

  let ev = next<MessageEvent>(ws, 'message');
  ws.send(bytes);
  const blob = (await ev).data;
  assert.ok(blob instanceof Blob);
  assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), bytes);

  ws.binaryType = 'arraybuffer';
  ev = next<MessageEvent>(ws, 'message');
  ws.send(bytes.buffer);
  const ab = (await ev).data;
  assert.ok(ab instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(ab), bytes);

  ws.binaryType = 'nodebuffer';
  ev = next<MessageEvent>(ws, 'message');
  ws.send(new DataView(bytes.buffer, 1, 3));
  const buf = (await ev).data;
  assert.ok(Buffer.isBuffer(buf));
  assert.deepEqual([...buf], [1, 2, 250]);

  ws.binaryType = 'bogus' as 'blob';
  assert.equal(ws.binaryType, 'nodebuffer');

  ws.close();
  await closeEvent(ws);
});

test('WebSocket sends a Blob and keeps later sends behind it', async (t) => {
  const url = await wskitServer(t, {}, echo);
  const ws = new WebSocket(url);
  ws.binaryType = 'nodebuffer';
  await next(ws, 'open');
  const got: unknown[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  ws.onmessage = (e) => {
    got.push(typeof e.data === 'string' ? e.data : [...(e.data as Buffer)]);
    if (got.length === 3) done();
  };
  ws.send('first');
  ws.send(new Blob([Uint8Array.from([7, 8, 9])]));
  ws.send('after the blob');
  await all;
  assert.deepEqual(got, ['first', [7, 8, 9], 'after the blob']);
  ws.close();
  await closeEvent(ws);
});

test('WebSocket negotiates a subprotocol and permessage-deflate with a wskit server', async (t) => {
  const url = await wskitServer(t, { subprotocols: ['chat.v2', 'chat.v1'], compression: true }, echo);
  const ws = new WebSocket(url, ['chat.v1', 'chat.v2']);
  assert.equal(ws.protocol, '');
  await next(ws, 'open');
  assert.equal(ws.protocol, 'chat.v2');
  assert.match(ws.extensions, /^permessage-deflate/);
  const big = 'compressible '.repeat(10_000);
  const ev = next<MessageEvent>(ws, 'message');
  ws.send(big);
  assert.equal((await ev).data, big);
  ws.close();
  await closeEvent(ws);
});

test('WebSocket rejects bad URLs and protocol lists with SyntaxError, and maps http: to ws:', async (t) => {
  const isSyntax = (err: DOMException) => err instanceof DOMException && err.name === 'SyntaxError';
  assert.throws(() => new WebSocket('not a url'), isSyntax);
  assert.throws(() => new WebSocket('ftp://127.0.0.1/'), isSyntax);
  assert.throws(() => new WebSocket('ws://127.0.0.1:1/#frag'), isSyntax);
  assert.throws(() => new WebSocket('ws://127.0.0.1:1/', ['a', 'a']), isSyntax);
  assert.throws(() => new WebSocket('ws://127.0.0.1:1/', 'has space'), isSyntax);
  const url = await wskitServer(t, {}, echo);
  const ws = new WebSocket(url.replace('ws:', 'http:'));
  assert.equal(ws.url, url);
  await next(ws, 'open');
  ws.close();
  await closeEvent(ws);
});

test('WebSocket close validates the code and the reason length', async (t) => {
  const url = await wskitServer(t, {}, echo);
  const ws = new WebSocket(url);
  await next(ws, 'open');
  const isAccess = (err: DOMException) => err instanceof DOMException && err.name === 'InvalidAccessError';
  for (const code of [999, 1001, 1005, 1006, 2999, 5000]) assert.throws(() => ws.close(code), isAccess, `code ${code}`);
  assert.throws(
    () => ws.close(1000, 'x'.repeat(124)),
    (err: DOMException) => err instanceof DOMException && err.name === 'SyntaxError',
  );
  assert.equal(ws.readyState, WebSocket.OPEN);
  // 41 three-byte characters: 123 bytes, the largest reason allowed.
  const reason = '€'.repeat(41);
  ws.close(3000, reason);
  assert.equal(ws.readyState, WebSocket.CLOSING);
  ws.close(4000, 'ignored once closing');
  const ev = await closeEvent(ws);
  // The close event carries the server's reply frame: wskit echoes the code only (RFC 6455 §5.5.1).
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [3000, '', true]);
});

test('WebSocket close from the client: the server sees the code and reason, the client the echoed code', async (t) => {
  let serverSaw!: Promise<[number, string]>;
  const url = await wskitServer(t, {}, (conn) => {
    serverSaw = conn.closed.then((r) => [r.closeCode, r.reason]);
    void echo(conn);
  });
  const ws = new WebSocket(url);
  const log = record(ws);
  await next(ws, 'open');
  ws.close(4321, 'client bye');
  await closeEvent(ws);
  assert.deepEqual(await serverSaw, [4321, 'client bye']);
  assert.deepEqual(log, [['open'], ['close', 4321, '', true]]);
});

test('WebSocket close without a code sends none and reports 1005', async (t) => {
  let serverSaw!: Promise<number>;
  const url = await wskitServer(t, {}, (conn) => {
    serverSaw = conn.closed.then((r) => r.closeCode);
    void echo(conn);
  });
  const ws = new WebSocket(url);
  await next(ws, 'open');
  ws.close();
  const ev = await closeEvent(ws);
  assert.equal(await serverSaw, 1005);
  assert.deepEqual([ev.code, ev.wasClean], [1005, true]);
});

test('WebSocket close from the server: onclose gets the code, reason and wasClean', async (t) => {
  const url = await wskitServer(t, {}, async (conn) => {
    await conn.write('text', 'last words');
    await conn.close(4001, 'server bye');
  });
  const ws = new WebSocket(url);
  const log = record(ws);
  const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
  const ev = await closed;
  assert.ok(ev instanceof CloseEvent);
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4001, 'server bye', true]);
  assert.deepEqual(log, [['open'], ['message', 'last words'], ['close', 4001, 'server bye', true]]);
});

test('WebSocket reports a dropped TCP connection as close 1006, not clean', async (t) => {
  const url = await wskitServer(t, {}, (conn) => conn.terminate());
  const ws = new WebSocket(url);
  const ev = await closeEvent(ws);
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [1006, '', false]);
});

test('WebSocket fires error then close 1006 when the server refuses the handshake', async (t) => {
  const url = await wskitServer(t, { checkOrigin: () => false }, echo);
  for (const target of [url, url.replace('/ws', '/elsewhere')]) {
    const ws = new WebSocket(target);
    const log = record(ws);
    const errorSeen = new Promise<void>((resolve) => (ws.onerror = () => resolve()));
    await closeEvent(ws);
    await errorSeen;
    assert.deepEqual(log, [['error'], ['close', 1006, '', false]]);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  }
});

test('WebSocket fires error then close 1006 when nothing listens on the port', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  const log = record(ws);
  await closeEvent(ws);
  assert.deepEqual(log, [['error'], ['close', 1006, '', false]]);
});

test('WebSocket close while connecting fires error then close 1006 and never opens', async (t) => {
  const url = await wskitServer(t, {}, echo);
  const ws = new WebSocket(url);
  const log = record(ws);
  ws.close();
  assert.equal(ws.readyState, WebSocket.CLOSING);
  await closeEvent(ws);
  assert.deepEqual(log, [['error'], ['close', 1006, '', false]]);
  // Give a late handshake time to complete: it must not fire open.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(log, [['error'], ['close', 1006, '', false]]);
});

test('WebSocket close while connecting to a server that never answers drops the socket at once, not at the handshake timeout', async (t) => {
  const held: net.Socket[] = [];
  const silent = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => {});
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    held.forEach((s) => s.destroy());
    return new Promise((resolve) => silent.close(resolve));
  });
  const ws = new WebSocket(`ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`, [], { handshakeTimeout: 30_000 });
  while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const socketClosed = once(held[0]!, 'close');
  held[0]!.resume();
  ws.close();
  await closeEvent(ws);
  const started = Date.now();
  await socketClosed;
  assert.ok(Date.now() - started < 2000, 'the half-open handshake was dropped with the close');
});

test('WebSocket fails the connection on invalid UTF-8 from the server: error, then close 1006', async (t) => {
  const url = await wsServer(t, (peer) => peer.send(Buffer.from([0x68, 0xff, 0x69]), { binary: false }));
  const ws = new WebSocket(url);
  const log = record(ws);
  await closeEvent(ws);
  assert.deepEqual(log, [['open'], ['error'], ['close', 1006, '', false]]);
});

test('WebSocket talks to an npm ws server: text, binary, subprotocol and a server close', async (t) => {
  const url = await wsServer(
    t,
    (peer) => {
      peer.on('message', (data, isBinary) => {
        if (!isBinary && String(data) === 'bye') return peer.close(4100, 'ws says bye');
        peer.send(data, { binary: isBinary });
      });
    },
    { handleProtocols: (protocols: Set<string>) => (protocols.has('b') ? 'b' : false), perMessageDeflate: true },
  );
  const ws = new WebSocket(url, ['a', 'b']);
  ws.binaryType = 'arraybuffer';
  const log = record(ws);
  await next(ws, 'open');
  assert.equal(ws.protocol, 'b');
  assert.match(ws.extensions, /permessage-deflate/);
  ws.send('hello ws');
  ws.send(Uint8Array.from([1, 2, 3]));
  ws.send('bye');
  const ev = await closeEvent(ws);
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4100, 'ws says bye', true]);
  const messages = log.filter((e) => (e as unknown[])[0] === 'message').map((e) => (e as unknown[])[1]);
  assert.equal(messages[0], 'hello ws');
  assert.deepEqual(new Uint8Array(messages[1] as ArrayBuffer), Uint8Array.from([1, 2, 3]));
  assert.equal(messages.length, 2);
});

test('WebSocket client close against an npm ws server: ws sees the code and reason', async (t) => {
  let seen!: Promise<[number, string]>;
  const url = await wsServer(t, (peer) => {
    seen = new Promise((resolve) => peer.on('close', (code, reason) => resolve([code, String(reason)])));
  });
  const ws = new WebSocket(url);
  await next(ws, 'open');
  ws.close(3999, 'from wskit');
  const ev = await closeEvent(ws);
  assert.deepEqual(await seen, [3999, 'from wskit']);
  assert.deepEqual([ev.code, ev.reason, ev.wasClean], [3999, 'from wskit', true]);
});

test('WebSocket bufferedAmount grows while the server does not read, drains to 0 once it does', async (t) => {
  let peer!: WsPeer;
  const received: number[] = [];
  const url = await wsServer(
    t,
    (p) => {
      peer = p;
      p.pause();
      p.on('message', (data: Buffer) => received.push(data[0]!));
    },
    { maxPayload: 2 * 1024 * 1024 },
  );
  const ws = new WebSocket(url, [], { compression: false });
  await next(ws, 'open');
  assert.equal(ws.bufferedAmount, 0);
  const chunk = Buffer.alloc(1024 * 1024);
  const count = 32;
  for (let i = 0; i < count; i++) {
    chunk[0] = i;
    ws.send(Uint8Array.from(chunk));
  }
  // 32 MiB cannot all fit in loopback's socket buffers while the peer is paused.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stuck = ws.bufferedAmount;
  assert.ok(stuck > 4 * 1024 * 1024, `bufferedAmount ${stuck} should hold most of the 32 MiB`);
  peer.resume();
  const deadline = Date.now() + 20_000;
  while ((received.length < count || ws.bufferedAmount > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(ws.bufferedAmount, 0);
  assert.deepEqual(received, Array.from({ length: count }, (_, i) => i));

  // After close, sent data is discarded but still counted, as the standard says.
  ws.close();
  ws.send('abcd');
  assert.equal(ws.bufferedAmount >= 4, true);
  await closeEvent(ws);
  const after = ws.bufferedAmount;
  ws.send(new Uint8Array(10));
  assert.equal(ws.bufferedAmount, after + 10);
});

test('WebSocket bufferedAmount counts payload bytes only, never frame headers, and falls to 0 as they leave', async (t) => {
  let peer!: WsPeer;
  let received = 0;
  const url = await wsServer(
    t,
    (p) => {
      peer = p;
      p.pause();
      p.on('message', () => received++);
    },
    { maxPayload: 2 * 1024 * 1024 },
  );
  const ws = new WebSocket(url, [], { compression: false });
  await next(ws, 'open');
  // Header sizes differ across these: 2 + 4 (mask) up to 125 bytes, 4 + 4 up to 65535, 10 + 4 beyond.
  const text = 'héllo ✓';
  const small = [new Uint8Array(125), new Uint8Array(126).buffer, new DataView(new ArrayBuffer(70_000))];
  const sizes = [Buffer.byteLength(text), 125, 126, 70_000];
  ws.send(text);
  for (const data of small) ws.send(data);
  // A frame counts until its write callback runs, which is never within this tick: nothing has been counted out yet.
  assert.equal(sizes[0], 10, 'text counts as its UTF-8 length');
  assert.equal(ws.bufferedAmount, 70_261);

  // Then 32 MiB, one message per tick, to a peer that reads nothing: loopback cannot hold it all.
  const count = 32;
  for (let i = 0; i < count; i++) {
    ws.send(new Uint8Array(1024 * 1024));
    sizes.push(1024 * 1024);
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Whatever has left went as whole frames, in order: the count is always the payload of a tail of the messages.
  const tails = new Set(sizes.map((_, i) => sizes.slice(i).reduce((a, b) => a + b, 0)).concat(0));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stuck = ws.bufferedAmount;
  assert.ok(tails.has(stuck), `bufferedAmount ${stuck} is the payload of the unsent messages, headers not counted`);
  assert.ok(stuck > 4 * 1024 * 1024, `bufferedAmount ${stuck} should hold most of the 32 MiB`);

  peer.resume();
  const samples = [stuck];
  const deadline = Date.now() + 20_000;
  while ((received < sizes.length || ws.bufferedAmount > 0) && Date.now() < deadline) {
    samples.push(ws.bufferedAmount);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(received, sizes.length);
  assert.equal(ws.bufferedAmount, 0);
  for (const [i, sample] of samples.entries()) {
    assert.ok(tails.has(sample), `sample ${sample} is the payload of the unsent messages`);
    if (i > 0) assert.ok(sample <= samples[i - 1]!, 'and only falls while nothing new is sent');
  }
  ws.close();
  await closeEvent(ws);
});

test('WebSocket bufferedAmount counts a compressed message at its size before compression', async (t) => {
  const url = await wskitServer(t, { compression: true }, echo);
  const ws = new WebSocket(url);
  await next(ws, 'open');
  assert.match(ws.extensions, /permessage-deflate/);
  const echoed = next<MessageEvent>(ws, 'message');
  ws.send('a'.repeat(64 * 1024));
  assert.equal(ws.bufferedAmount, 64 * 1024);
  assert.equal(((await echoed).data as string).length, 64 * 1024);
  assert.equal(ws.bufferedAmount, 0);
  ws.close();
  await closeEvent(ws);
});
