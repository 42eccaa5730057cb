/**
 * The ws options wskit/ws accepts without using them (the table "Options
 * accepted but not used" in docs/migrating-from-ws.md): a WebSocketServer
 * and a client WebSocket made with each one open and echo a message, and
 * where the option would change what ws does, the same bytes show what
 * each of ws and wskit/ws does with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientOptions, ServerOptions } from 'ws';
import { next } from './helpers.js';
import { npmWs, type WsModule, wskitWs } from './implementations.js';

type After = { after: (fn: () => unknown) => void };
type Server = InstanceType<WsModule['WebSocketServer']>;
type Client = InstanceType<WsModule['WebSocket']>;

const IMPLEMENTATIONS = [npmWs, wskitWs];

/** A server of `mod` on 127.0.0.1, port 0, that echoes every message; closed after the test. */
async function echoServer(t: After, mod: WsModule, options: ServerOptions): Promise<{ wss: Server; url: string }> {
  const wss = new mod.WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  await next(wss, 'listening');
  t.after(() => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
  wss.on('connection', (ws: Client) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

/** Open a client of `mod` with `options`, send `text`, and return what came back and the agreed extensions. */
async function echoOnce(t: After, mod: WsModule, url: string, options: ClientOptions, text: string): Promise<{ echoed: string; extensions: string }> {
  const ws = new mod.WebSocket(url, options);
  t.after(() => ws.terminate());
  await next(ws, 'open');
  ws.send(text);
  const [data, isBinary] = (await next(ws, 'message')) as [Buffer, boolean];
  assert.equal(isBinary, false);
  return { echoed: data.toString(), extensions: ws.extensions };
}

/** A masked client frame with a zero mask. */
function clientFrame(first: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, 0x80 | payload.length]), Buffer.alloc(4), payload]);
}

/** A raw TCP client past the handshake with the server at `url`. */
async function rawClient(t: After, url: string): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  t.after(() => socket.destroy());
  socket.setNoDelay(true);
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String((await next(socket, 'data'))[0]);
  assert.match(head, /^HTTP\/1.1 101/);
  return socket;
}

/** A server of `mod` with `options` on 127.0.0.1, and a raw client past the handshake with it: the server's socket and the client's TCP socket. */
async function rawPair(t: After, mod: WsModule, options: ServerOptions): Promise<{ ws: Client; socket: net.Socket }> {
  const wss = new mod.WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await next(wss, 'listening');
  t.after(() => wss.close());
  const connection = next(wss, 'connection');
  const socket = await rawClient(t, `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const [ws] = (await connection) as [Client];
  t.after(() => ws.terminate());
  return { ws, socket };
}

const TEXT = 'héllo '.repeat(400); // 2.8 KiB: over the 1 KiB compression threshold

const OPTIONS: Array<{ name: string; server: ServerOptions; client: ClientOptions }> = [
  { name: 'skipUTF8Validation', server: { skipUTF8Validation: true }, client: { skipUTF8Validation: true } },
  { name: 'allowSynchronousEvents', server: { allowSynchronousEvents: false }, client: { allowSynchronousEvents: false } },
  { name: 'maxBufferedChunks', server: { maxBufferedChunks: 2 }, client: { maxBufferedChunks: 2 } },
  {
    name: 'perMessageDeflate.zlibDeflateOptions',
    server: { perMessageDeflate: { zlibDeflateOptions: { level: 9, memLevel: 4, strategy: 1, chunkSize: 1024 } } },
    client: { perMessageDeflate: { zlibDeflateOptions: { level: 9, memLevel: 4, strategy: 1, chunkSize: 1024 } } },
  },
  {
    name: 'perMessageDeflate.zlibInflateOptions',
    server: { perMessageDeflate: { zlibInflateOptions: { chunkSize: 1024, windowBits: 10 } } },
    client: { perMessageDeflate: { zlibInflateOptions: { chunkSize: 1024, windowBits: 10 } } },
  },
  {
    name: 'perMessageDeflate.concurrencyLimit',
    server: { perMessageDeflate: { concurrencyLimit: 1 } },
    client: { perMessageDeflate: { concurrencyLimit: 1 } },
  },
];

for (const option of OPTIONS) {
  test(`wskit/ws WebSocketServer and WebSocket accept ${option.name} and echo a message`, async (t) => {
    const mod = (await wskitWs.load()) as WsModule;
    const { url } = await echoServer(t, mod, option.server);
    const { echoed, extensions } = await echoOnce(t, mod, url, option.client, TEXT);
    assert.equal(echoed, TEXT);
    if ('perMessageDeflate' in option.server) assert.match(extensions, /^permessage-deflate/);
  });
}

test('skipUTF8Validation: ws delivers a text message of the bytes ff fe, wskit/ws still closes with 1007', async (t) => {
  const outcomes: Record<string, string> = {};
  for (const impl of IMPLEMENTATIONS) {
    const mod = (await impl.load()) as WsModule;
    const { ws, socket } = await rawPair(t, mod, { skipUTF8Validation: true });
    ws.on('error', () => {});
    const got = Promise.race([
      next(ws, 'message').then(([data]) => `message ${(data as Buffer).toString('hex')}`),
      next(ws, 'close').then(([code]) => `close ${code as number}`),
    ]);
    // The close frame's code, from wskit/ws only: ws sends nothing.
    const frame = impl.name === 'wskit/ws' ? next(socket, 'data').then(([chunk]) => (chunk as Buffer).readUInt16BE(2)) : null;
    socket.write(clientFrame(0x81, Buffer.from([0xff, 0xfe])));
    outcomes[impl.name] = await got;
    if (frame !== null) assert.equal(await frame, 1007);
  }
  assert.deepEqual(outcomes, { ws: 'message fffe', 'wskit/ws': 'close 1006' });
});

test('allowSynchronousEvents false: ws emits the second message of one read after a microtask, wskit/ws in the same tick', async (t) => {
  const orders: Record<string, string> = {};
  for (const impl of IMPLEMENTATIONS) {
    const mod = (await impl.load()) as WsModule;
    const { ws, socket } = await rawPair(t, mod, { allowSynchronousEvents: false });
    const order: string[] = [];
    const both = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        order.push(String(data));
        queueMicrotask(() => order.push(`microtask after ${String(data)}`));
        if (order.includes('b')) setImmediate(resolve);
      });
    });
    socket.write(Buffer.concat([clientFrame(0x81, Buffer.from('a')), clientFrame(0x81, Buffer.from('b'))]));
    await both;
    orders[impl.name] = order.join(', ');
  }
  assert.deepEqual(orders, {
    ws: 'a, microtask after a, b, microtask after b',
    'wskit/ws': 'a, b, microtask after a, microtask after b',
  });
});

test('maxBufferedChunks 2: ws fails a frame whose payload comes in 3 reads with 1008, wskit/ws reads it', async (t) => {
  const outcomes: Record<string, string> = {};
  for (const impl of IMPLEMENTATIONS) {
    const mod = (await impl.load()) as WsModule;
    const { ws, socket } = await rawPair(t, mod, { maxBufferedChunks: 2 });
    const got = Promise.race([
      next(ws, 'message').then(([data]) => `message ${String(data)}`),
      next(ws, 'error').then(([err]) => `error ${(err as { code: string }).code}`),
    ]);
    // The close frame's code, from ws only: wskit/ws sends nothing.
    const closeFrame = impl.name === 'ws' ? next(socket, 'data').then(([chunk]) => (chunk as Buffer).readUInt16BE(2)) : null;
    const frame = clientFrame(0x81, Buffer.from('abcdefghi'));
    // The header and mask, then the payload in three writes far enough apart to arrive as three reads.
    socket.write(frame.subarray(0, 6));
    for (const at of [6, 9, 12]) {
      await sleep(30);
      socket.write(frame.subarray(at, at + 3));
    }
    outcomes[impl.name] = await got;
    if (closeFrame !== null) assert.equal(await closeFrame, 1008);
  }
  assert.deepEqual(outcomes, { ws: 'error WS_ERR_TOO_MANY_BUFFERED_PARTS', 'wskit/ws': 'message abcdefghi' });
});
