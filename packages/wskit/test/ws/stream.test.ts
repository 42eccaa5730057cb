/**
 * createWebSocketStream over real sockets on 127.0.0.1: the stream is run on
 * the npm `ws` package's WebSocket (which shows that the expectations are
 * ws's) and on wskit/ws's, each talking to a server of the same module, or
 * to a raw peer where a test needs a misbehaving one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, afterEach, before, describe, test } from 'node:test';
import type * as ws from 'ws';
import { createWebSocketStream } from '../../src/ws/stream.js';
import { acceptFor } from '../conformance/raw-handshake.js';
import { listen, npmWs, withTimeout, wskitWs, type HttpServer, type WsModule } from './implementations.js';

type Client = ws.WebSocket;
type ServerSocket = ws.WebSocket;

const WAIT_MS = 5_000;

/** eventsUntilClose resolves with the stream's events of interest, in order, once it emits `close`. */
function eventsUntilClose(duplex: Duplex): Promise<string[]> {
  const events: string[] = [];
  for (const name of ['end', 'finish', 'error'] as const) duplex.on(name, () => events.push(name));
  // Not events.once(duplex, 'close'): that rejects on 'error', which some tests expect.
  return withTimeout(new Promise((resolve) => duplex.on('close', () => resolve(events))), WAIT_MS, 'the stream to close');
}

function collect(duplex: Duplex): Promise<unknown[]> {
  const chunks: unknown[] = [];
  duplex.on('data', (chunk: unknown) => chunks.push(chunk));
  return withTimeout(once(duplex, 'end').then(() => chunks), WAIT_MS, 'the stream to end');
}

function closeOf(socket: ServerSocket): Promise<{ code: number; reason: string }> {
  return withTimeout(
    once(socket, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) })),
    WAIT_MS,
    'the server side to close',
  );
}

/**
 * Peer is a WebSocket server of the module under test on its own
 * http.Server; each test gives the connection handler it needs.
 */
class Peer {
  readonly url: string;
  readonly #http: HttpServer;
  readonly #wss: ws.WebSocketServer;
  #handler: (socket: ServerSocket) => void = () => {};
  readonly #connections: ServerSocket[] = [];

  private constructor(http: HttpServer, wss: ws.WebSocketServer) {
    this.#http = http;
    this.#wss = wss;
    this.url = `ws://127.0.0.1:${http.port}/`;
    wss.on('connection', (socket: ServerSocket) => {
      this.#connections.push(socket);
      socket.on('error', () => {});
      this.#handler(socket);
    });
  }

  static async start(mod: WsModule): Promise<Peer> {
    const http = await listen();
    return new Peer(http, new mod.WebSocketServer({ server: http.server }));
  }

  /** onConnection replaces the handler for the connections that follow. */
  onConnection(handler: (socket: ServerSocket) => void): void {
    this.#handler = handler;
  }

  /** nextConnection resolves with the next connection the server accepts. */
  nextConnection(): Promise<ServerSocket> {
    return withTimeout(
      new Promise<ServerSocket>((resolve) => this.onConnection(resolve)),
      WAIT_MS,
      'a connection to the server',
    );
  }

  dropAll(): void {
    for (const socket of this.#connections.splice(0)) socket.terminate();
    this.#handler = () => {};
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await this.#http.stop();
  }
}

/**
 * startRawPeer answers the opening handshake by hand and hands the socket to
 * `then`, for tests that need a peer breaking the protocol.
 */
async function startRawPeer(then: (socket: Socket) => void): Promise<HttpServer> {
  const http = await listen();
  http.server.on('upgrade', (req, socket: Socket) => {
    socket.on('error', () => {});
    const key = String(req.headers['sec-websocket-key']);
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, '', ''].join('\r\n'));
    then(socket);
  });
  return http;
}

/** readCloseCode reads the first (masked) close frame a client sends on a raw socket; RFC 6455 §5.5.1. */
function readCloseCode(socket: Socket): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 2) return;
        const length = buffered[1]! & 0x7f;
        if (buffered.length < 6 + length) return;
        if ((buffered[0]! & 0x0f) !== 0x8) reject(new Error(`Expected a close frame, got opcode ${buffered[0]! & 0x0f}`));
        const payload = Buffer.from(buffered.subarray(6, 6 + length).map((b, i) => b ^ buffered[2 + (i % 4)]!));
        resolve(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
      });
    }),
    WAIT_MS,
    'a close frame from the client',
  );
}

function suite(mod: WsModule): void {
  let peer: Peer;
  const clients: Client[] = [];
  const raw: HttpServer[] = [];

  function connect(): Client {
    const client = new mod.WebSocket(peer.url);
    clients.push(client);
    return client;
  }

  before(async () => {
    peer = await Peer.start(mod);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate();
    peer.dropAll();
    for (const server of raw.splice(0)) await server.stop();
  });
  after(async () => {
    await peer.stop();
  });

  test('createWebSocketStream returns a Duplex and refuses what is not a WebSocket', async () => {
    const client = connect();
    const duplex = createWebSocketStream(client);
    assert.ok(duplex instanceof Duplex);
    // The stream adds no error listener of its own, so an unhandled error still throws.
    assert.equal(duplex.listenerCount('error'), 0);
    duplex.on('error', () => {});
    for (const notASocket of [null, undefined, 42, 'ws://127.0.0.1/', {}, { on() {} }, { once() {} }]) {
      assert.throws(() => createWebSocketStream(notASocket as never), TypeError, `accepted ${String(notASocket)}`);
    }
  });

  test('createWebSocketStream passes Duplex options on: encoding gives strings', async () => {
    peer.onConnection((socket) => {
      socket.send(Buffer.from('hé'));
      socket.close();
    });
    const duplex = createWebSocketStream(connect(), { encoding: 'utf8' });
    const closed = eventsUntilClose(duplex);
    assert.deepEqual(await collect(duplex), ['hé']);
    duplex.end();
    assert.deepEqual(await closed, ['end', 'finish']);
  });

  test('createWebSocketStream sends what is written while connecting once the socket opens', async () => {
    const chunk = randomBytes(1024);
    const connection = peer.nextConnection();
    const client = connect();
    assert.equal(client.readyState, mod.WebSocket.CONNECTING);
    const duplex = createWebSocketStream(client);
    duplex.write(chunk);
    const socket = await connection;
    const [data, isBinary] = await withTimeout(once(socket, 'message'), WAIT_MS, 'the message');
    assert.deepEqual(data, chunk);
    assert.equal(isBinary, true);
    duplex.destroy();
  });

  test('createWebSocketStream end() while connecting closes the socket with no status once it opens', async () => {
    const connection = peer.nextConnection();
    const duplex = createWebSocketStream(connect());
    const events = eventsUntilClose(duplex);
    duplex.resume();
    duplex.end();
    const closed = closeOf(await connection);
    assert.equal((await closed).code, 1005);
    // 'finish' waits for the socket's close, which also ends the readable side: either may come first.
    assert.deepEqual((await events).sort(), ['end', 'finish']);
  });

  test('createWebSocketStream sends strings as text only with decodeStrings: false', async () => {
    const received: [string, boolean][] = [];
    const done = new Promise<void>((resolve) => {
      peer.onConnection((socket) => {
        socket.on('message', (data: Buffer, isBinary: boolean) => {
          received.push([data.toString(), isBinary]);
          if (received.length === 3) resolve();
        });
      });
    });
    const asText = createWebSocketStream(connect(), { decodeStrings: false });
    asText.write('héllo');
    asText.write(Buffer.from('bytes'));
    await withTimeout(new Promise((resolve) => asText.write('', resolve)), WAIT_MS, 'the third write');
    await withTimeout(done, WAIT_MS, 'three messages');
    assert.deepEqual(received, [['héllo', false], ['bytes', true], ['', false]]);

    received.length = 0;
    const asBytes = createWebSocketStream(connect());
    const one = new Promise<void>((resolve) => peer.onConnection((socket) => socket.on('message', (data: Buffer, isBinary: boolean) => {
      received.push([data.toString(), isBinary]);
      resolve();
    })));
    asBytes.write('héllo');
    await withTimeout(one, WAIT_MS, 'the message');
    assert.deepEqual(received, [['héllo', true]]);
    asText.destroy();
    asBytes.destroy();
  });

  test('createWebSocketStream in readable object mode gives one chunk per message: strings for text, Buffers for binary', async () => {
    peer.onConnection((socket) => {
      socket.send('héllo');
      socket.send(Buffer.from([1, 2, 3]));
      socket.send('');
      socket.close(1000);
    });
    const duplex = createWebSocketStream(connect(), { readableObjectMode: true });
    assert.deepEqual(await collect(duplex), ['héllo', Buffer.from([1, 2, 3]), '']);
    duplex.end();
    await eventsUntilClose(duplex);
  });

  test('createWebSocketStream in byte mode joins the payloads of text and binary messages', async () => {
    peer.onConnection((socket) => {
      socket.send('ab');
      socket.send(Buffer.from('cd'));
      socket.close(1000);
    });
    const duplex = createWebSocketStream(connect());
    const chunks = (await collect(duplex)) as Buffer[];
    assert.ok(chunks.every((c) => Buffer.isBuffer(c)));
    assert.equal(Buffer.concat(chunks).toString(), 'abcd');
    duplex.end();
    await eventsUntilClose(duplex);
  });

  test("createWebSocketStream gives Buffers whatever the socket's binaryType", async () => {
    peer.onConnection((socket) => {
      socket.send(Buffer.from([9, 8, 7]));
      socket.close(1000);
    });
    const client = connect();
    client.binaryType = 'arraybuffer';
    const duplex = createWebSocketStream(client, { readableObjectMode: true });
    assert.deepEqual(await collect(duplex), [Buffer.from([9, 8, 7])]);
    duplex.end();
    await eventsUntilClose(duplex);
  });

  test("createWebSocketStream ends, then is destroyed when it is also finished, before the caller's 'finish' listeners run", async () => {
    peer.onConnection((socket) => socket.close(1000));
    const duplex = createWebSocketStream(connect());
    const events = eventsUntilClose(duplex);
    const destroyedAt: Record<string, boolean> = {};
    duplex.on('end', () => {
      destroyedAt.end = duplex.destroyed;
      assert.equal(duplex.writable, true);
      duplex.end();
    });
    duplex.on('finish', () => (destroyedAt.finish = duplex.destroyed));
    duplex.resume();
    assert.deepEqual(await events, ['end', 'finish']);
    assert.deepEqual(destroyedAt, { end: false, finish: true });
  });

  test("createWebSocketStream finishes, then is destroyed when it has also ended, before the caller's 'end' listeners run", async () => {
    peer.onConnection((socket) => {
      socket.send('last words');
      socket.close(1000);
    });
    const client = connect();
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    const destroyedAt: Record<string, boolean> = {};
    client.on('close', () => duplex.end());
    duplex.on('finish', () => {
      destroyedAt.finish = duplex.destroyed;
      assert.equal(duplex.readable, true);
      duplex.resume();
    });
    duplex.on('end', () => (destroyedAt.end = duplex.destroyed));
    assert.deepEqual(await events, ['finish', 'end']);
    assert.deepEqual(destroyedAt, { finish: false, end: true });
  });

  test('createWebSocketStream fails a write once the socket has closed, and is destroyed', async () => {
    peer.onConnection((socket) => socket.close(1000));
    const client = connect();
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    const failed = once(duplex, 'error');
    client.on('close', () => duplex.write('too late'));
    const [err] = await withTimeout(failed, WAIT_MS, 'the write to fail');
    assert.ok(err instanceof Error);
    assert.equal(duplex.destroyed, true);
    assert.deepEqual(await events, ['error']);
  });

  test('createWebSocketStream fails a write while the socket is closing, and is destroyed', async () => {
    const client = connect();
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    const failed = once(duplex, 'error');
    await withTimeout(once(client, 'open'), WAIT_MS, 'the socket to open');
    client.close();
    assert.equal(client.readyState, mod.WebSocket.CLOSING);
    duplex.write('too late');
    const [err] = await withTimeout(failed, WAIT_MS, 'the write to fail');
    assert.ok(err instanceof Error);
    assert.equal(duplex.destroyed, true);
    assert.deepEqual(await events, ['error']);
  });

  test('createWebSocketStream destroy(err) terminates the socket and emits err, then close', async () => {
    const connection = peer.nextConnection();
    const client = connect();
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    const boom = new Error('boom');
    let emitted: unknown;
    duplex.on('error', (err) => (emitted = err));
    const closed = closeOf(await connection);
    duplex.destroy(boom);
    assert.deepEqual(await events, ['error']);
    assert.equal(emitted, boom);
    assert.equal(client.readyState, mod.WebSocket.CLOSED);
    assert.equal((await closed).code, 1006);
  });

  test('createWebSocketStream destroy() with no error emits close only', async () => {
    const client = connect();
    const duplex = createWebSocketStream(client);
    await withTimeout(once(client, 'open'), WAIT_MS, 'the socket to open');
    const events = eventsUntilClose(duplex);
    duplex.destroy();
    assert.deepEqual(await events, []);
    assert.equal(client.readyState, mod.WebSocket.CLOSED);
  });

  test("createWebSocketStream is destroyed with the socket's error, and the socket still sends its close frame", async () => {
    let code: Promise<number> | undefined;
    let peerSocket: Socket | undefined;
    const server = await startRawPeer((socket) => {
      peerSocket = socket;
      code = readCloseCode(socket);
      socket.write(Buffer.from([0x85, 0x00])); // A frame with the reserved opcode 5: RFC 6455 §5.2.
    });
    raw.push(server);
    const client = new mod.WebSocket(`ws://127.0.0.1:${server.port}/`);
    clients.push(client);
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    let emitted: unknown;
    duplex.on('error', (err) => (emitted = err));
    duplex.resume();
    await withTimeout(once(client, 'open'), WAIT_MS, 'the socket to open');
    assert.equal(await code, 1002);
    peerSocket!.destroy();
    assert.deepEqual(await events, ['error']);
    assert.ok(emitted instanceof Error);
  });

  test('createWebSocketStream is destroyed with the error when the handshake fails', async () => {
    const server = await listen();
    server.server.on('upgrade', (_req, socket: Socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    raw.push(server);
    const client = new mod.WebSocket(`ws://127.0.0.1:${server.port}/`);
    clients.push(client);
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    duplex.write('never sent');
    duplex.end();
    assert.deepEqual(await events, ['error']);
  });

  test('createWebSocketStream end() after the handshake failed past the upgrade emits the error only; its _final works detached', async () => {
    const server = await listen();
    server.server.on('upgrade', (_req, socket: Socket) => {
      socket.on('error', () => {});
      // The client drops the connection; an upgraded socket left open would keep the server from stopping.
      socket.on('end', () => socket.destroy());
      // A 101 whose Sec-WebSocket-Accept does not match the key: RFC 6455 §4.1, the client must fail the connection.
      socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Accept: wrong', '', ''].join('\r\n'));
    });
    raw.push(server);
    const client = new mod.WebSocket(`ws://127.0.0.1:${server.port}/`);
    clients.push(client);
    const duplex = createWebSocketStream(client);
    const events = eventsUntilClose(duplex);
    let emitted: unknown;
    duplex.on('error', (err) => (emitted = err));
    // Node calls the hook as a method; a detached call (as ws's own tests make) must work as well.
    const final = duplex._final;
    const stateAtFinal: number[] = [];
    duplex._final = (callback) => {
      stateAtFinal.push(client.readyState);
      final(callback);
    };
    let socketError: unknown;
    client.on('error', (err) => (socketError = err));
    client.on('upgrade', () => process.nextTick(() => duplex.end()));
    assert.deepEqual(await events, ['error']);
    // The socket's own error, not one thrown by a _final that needed `this`.
    assert.ok(socketError instanceof Error);
    assert.equal(emitted, socketError);
    assert.deepEqual(stateAtFinal, [mod.WebSocket.CLOSING]);
  });

  test('createWebSocketStream pauses the socket while the reader lags, and loses nothing', async () => {
    const count = 256;
    const size = 64 * 1024;
    peer.onConnection((socket) => {
      for (let i = 0; i < count; i++) socket.send(Buffer.alloc(size, i));
      socket.close(1000);
    });
    const client = connect();
    let messages = 0;
    client.on('message', () => messages++);
    const duplex = createWebSocketStream(client, { readableHighWaterMark: size });
    await withTimeout(once(client, 'open'), WAIT_MS, 'the socket to open');
    // Nobody reads the stream: the socket must stop delivering messages well before the 16 MiB are through.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(client.isPaused, true);
    assert.ok(messages < count, `${messages} of ${count} messages were delivered to a stream nobody reads`);
    const bytes = Buffer.concat((await collect(duplex)) as Buffer[]);
    assert.equal(bytes.length, count * size);
    for (let i = 0; i < count; i++) assert.equal(bytes[i * size + size - 1], i % 256, `message ${i} out of place`);
    duplex.end();
    await eventsUntilClose(duplex);
  });

  test('createWebSocketStream write() returns false under load and drains, and every message arrives in order', async () => {
    const received: Buffer[] = [];
    const connection = peer.nextConnection();
    const duplex = createWebSocketStream(connect());
    const socket = await connection;
    socket.on('message', (data: Buffer) => received.push(data));
    const closed = closeOf(socket);
    let written = 0;
    while (duplex.write(Buffer.alloc(1024, written % 256))) written++;
    written++;
    await withTimeout(once(duplex, 'drain'), WAIT_MS, 'drain');
    duplex.end();
    assert.equal((await closed).code, 1005);
    assert.equal(received.length, written);
    received.forEach((data, i) => assert.equal(data[0], i % 256));
    duplex.resume();
    await eventsUntilClose(duplex);
  });

  test('createWebSocketStream resumes a paused socket when read, so a closing handshake can complete', async () => {
    peer.onConnection((socket) => socket.send(Buffer.alloc(64 * 1024)));
    const client = connect();
    const duplex = createWebSocketStream(client, { readableHighWaterMark: 1024 });
    const events = eventsUntilClose(duplex);
    await withTimeout(once(client, 'message'), WAIT_MS, 'the message');
    assert.equal(client.isPaused, true);
    duplex.end();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(client.readyState, mod.WebSocket.CLOSING);
    duplex.resume();
    assert.deepEqual(await events, ['end', 'finish']);
  });

  test('createWebSocketStream works in pipeline(): bytes through an echo server come back whole', async () => {
    peer.onConnection((socket) => socket.on('message', (data: Buffer, isBinary: boolean) => socket.send(data, { binary: isBinary })));
    const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 997));
    const echoed: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        echoed.push(chunk);
        callback();
      },
    });
    await withTimeout(pipeline(Readable.from(chunks), createWebSocketStream(connect()), sink), WAIT_MS, 'the pipeline');
    assert.deepEqual(Buffer.concat(echoed), Buffer.concat(chunks));
  });
}

/**
 * ScriptedSocket is a ws-style socket driven by the test, for the paths a
 * real peer cannot be made to take on demand.
 */
class ScriptedSocket extends EventEmitter {
  readyState = 1;
  isPaused = false;
  sent: (Buffer | string)[] = [];
  /** What terminate() does; by default the socket closes on the next tick. */
  onTerminate = () => this.#closeSoon();
  send(data: Buffer | string, cb?: (err?: Error) => void): void {
    this.sent.push(data);
    process.nextTick(() => cb?.());
  }
  pause(): void {
    this.isPaused = true;
  }
  resume(): void {
    this.isPaused = false;
  }
  close(): void {
    this.readyState = 2;
    this.#closeSoon();
  }
  terminate(): void {
    this.onTerminate();
  }
  #closeSoon(): void {
    process.nextTick(() => {
      this.readyState = 3;
      this.emit('close', 1006, Buffer.alloc(0));
    });
  }
}

describe('createWebSocketStream on a scripted socket', () => {
  test('createWebSocketStream accepts any event emitter, as ws does, and fails a write it has no send() for', async () => {
    const emitter = new EventEmitter();
    const duplex = createWebSocketStream(emitter as never, { readableObjectMode: true });
    assert.ok(duplex instanceof Duplex);
    const chunks = collect(duplex);
    emitter.emit('message', Buffer.from('hi'), false);
    emitter.emit('close');
    assert.deepEqual(await chunks, ['hi']);

    const writable = createWebSocketStream(new EventEmitter() as never);
    const failed = withTimeout(once(writable, 'error'), WAIT_MS, 'the write to fail');
    writable.write('x');
    const [err] = await failed;
    assert.ok(err instanceof TypeError);
  });

  test('createWebSocketStream hooks work detached from the stream', async () => {
    const socket = new ScriptedSocket();
    const duplex = createWebSocketStream(socket);
    duplex.resume();
    const { _write: write, _final: final } = duplex;
    await new Promise<void>((resolve, reject) => write(Buffer.from('a'), 'binary', (err) => (err ? reject(err) : resolve())));
    assert.deepEqual(socket.sent, [Buffer.from('a')]);
    await withTimeout(new Promise<void>((resolve, reject) => final((err) => (err ? reject(err) : resolve()))), WAIT_MS, '_final');
    assert.equal(socket.readyState, 3, '_final should have closed the socket');
    duplex.destroy();
  });

  test('createWebSocketStream passes on an error the socket reports while the stream is being destroyed', async () => {
    const socket = new ScriptedSocket();
    const late = new Error('inflate failed');
    socket.onTerminate = () => {
      process.nextTick(() => {
        socket.emit('error', late);
        socket.readyState = 3;
        socket.emit('close', 1006, Buffer.alloc(0));
      });
    };
    const duplex = createWebSocketStream(socket);
    let emitted: unknown;
    duplex.on('error', (err) => (emitted = err));
    const events = eventsUntilClose(duplex);
    duplex.destroy();
    assert.deepEqual(await events, ['error']);
    assert.equal(emitted, late);
  });

  test("createWebSocketStream joins a message delivered as fragments (binaryType 'fragments')", async () => {
    const socket = new ScriptedSocket();
    const duplex = createWebSocketStream(socket, { readableObjectMode: true });
    const chunks = collect(duplex);
    socket.emit('message', [Buffer.from('ab'), Buffer.from('cd')], true);
    socket.emit('message', [Buffer.from('té'), Buffer.from('xt')], false);
    socket.emit('close', 1000, Buffer.alloc(0));
    assert.deepEqual(await chunks, [Buffer.from('abcd'), 'téxt']);
    duplex.destroy();
  });

  test('createWebSocketStream reads text delivered as a string, as ws 7 did', async () => {
    const socket = new ScriptedSocket();
    const bytes = createWebSocketStream(socket);
    const chunks = collect(bytes);
    socket.emit('message', 'héllo');
    socket.emit('close', 1000, Buffer.alloc(0));
    assert.equal(Buffer.concat((await chunks) as Buffer[]).toString(), 'héllo');
    bytes.destroy();
  });

  test('createWebSocketStream is destroyed with a TypeError for a message it cannot read at once (a Blob)', async () => {
    const socket = new ScriptedSocket();
    const duplex = createWebSocketStream(socket);
    let emitted: unknown;
    duplex.on('error', (err) => (emitted = err));
    const events = eventsUntilClose(duplex);
    socket.emit('message', new Blob(['x']), true);
    assert.deepEqual(await events, ['error']);
    assert.ok(emitted instanceof TypeError);
  });

  test('createWebSocketStream waits for the socket to close before its write side finishes', async () => {
    const socket = new ScriptedSocket();
    const duplex = createWebSocketStream(socket);
    duplex.resume();
    const events = eventsUntilClose(duplex);
    let finished = false;
    duplex.on('finish', () => (finished = true));
    duplex.end('last');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(socket.sent, [Buffer.from('last')]);
    assert.equal(socket.readyState, 3, 'end() should have closed the socket');
    assert.deepEqual((await events).sort(), ['end', 'finish']);
    assert.equal(finished, true);
  });
});

for (const impl of [npmWs, wskitWs]) {
  const mod = await impl.load().catch((err: unknown) => err as Error);
  if (mod instanceof Error) {
    // A module that fails to load is a broken build, not a missing feature.
    test(`createWebSocketStream on ${impl.name} loads`, () => {
      throw mod;
    });
    continue;
  }
  if ('missing' in mod) {
    test(`createWebSocketStream on ${impl.name}`, { todo: mod.missing });
    continue;
  }
  describe(`createWebSocketStream on ${impl.name}`, { timeout: 30_000 }, () => {
    if (impl === wskitWs) {
      test('wskit/ws exports createWebSocketStream, also as a static of WebSocket as ws does', () => {
        const exports = mod as unknown as Record<string, unknown>;
        assert.equal(exports.createWebSocketStream, createWebSocketStream);
        assert.equal((mod.WebSocket as unknown as Record<string, unknown>).createWebSocketStream, createWebSocketStream);
      });
    }
    suite(mod);
  });
}
