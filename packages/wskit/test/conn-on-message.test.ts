/**
 * Conn.onMessage, the callback way to read, over real loopback sockets: a
 * fast-check property that it sees what a `for await` loop sees (the same
 * messages in the same order, the same end) for arbitrary frame sequences
 * from a raw client, and the rules it keeps: backpressure while its promise
 * is pending, a handler's error ending it, messages queued before it was
 * set, and its argument checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { FUZZ_SEED, fuzzRuns } from 'wskit-testing/bytes';
import { type Conn, dial, type Message, Upgrader } from '../src/index.js';
import { buildFrame } from './conformance/wire.js';

type After = { after: (fn: () => unknown) => void };

/** How a reading style ended: 'done' after a normal close, else the error's class and close code. */
type End = string;
/** What one reading style saw. */
interface Seen {
  messages: string[];
  end: End;
}

function describeEnd(err: Error | null): End {
  if (err === null) return 'done';
  const code = (err as { closeCode?: number }).closeCode;
  return `${err.constructor.name} ${code ?? ''}`;
}

function describeMessage(message: Message): string {
  return `${message.type}:${message.data.toString('hex')}`;
}

/** Waits a turn of the event loop when asked, so a handler's promise (and a loop's await) holds later messages back. */
function pause(slow: boolean): Promise<void> | undefined {
  return slow ? new Promise((resolve) => setImmediate(resolve)) : undefined;
}

/** A server whose /for-await connections read in a loop and /on-message ones through a handler; `slow` makes both wait after every other message. */
async function readingServer(t: After) {
  const upgrader = new Upgrader({ maxMessageSize: 4096, maxFragments: 8 });
  const results = new Map<string, (seen: Seen) => void>();
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url!, 'http://x');
    const id = url.searchParams.get('id')!;
    const slow = url.searchParams.get('slow') === '1';
    upgrader.upgrade(req, socket, head).then((conn) => {
      const seen: Seen = { messages: [], end: '' };
      const report = results.get(id)!;
      if (url.pathname === '/for-await') {
        (async () => {
          try {
            for await (const message of conn) {
              seen.messages.push(describeMessage(message));
              await pause(slow && seen.messages.length % 2 === 1);
            }
            seen.end = describeEnd(null);
          } catch (err) {
            seen.end = describeEnd(err as Error);
          }
          report(seen);
        })();
      } else {
        conn.onMessage(
          (message) => {
            seen.messages.push(describeMessage(message));
            return pause(slow && seen.messages.length % 2 === 1);
          },
          (err) => {
            seen.end = describeEnd(err);
            report(seen);
          },
        );
      }
    }, () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  let next = 0;
  return {
    /**
     * Opens a connection to `path`, sends `frames` once the handshake is
     * answered (a turn of the event loop between them, so most arrive while
     * the reader waits), then drops TCP when `abrupt`; resolves with what the
     * server side saw.
     */
    async run(path: string, frames: Buffer[], abrupt: boolean, slow: boolean): Promise<Seen> {
      const id = String(next++);
      const seen = new Promise<Seen>((resolve) => results.set(id, resolve));
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      const answered = once(socket, 'data');
      socket.on('data', () => {});
      await once(socket, 'connect');
      socket.write(
        `GET ${path}?id=${id}&slow=${slow ? 1 : 0} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await answered;
      for (const frame of frames) {
        socket.write(frame);
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (abrupt) setTimeout(() => socket.destroy(), 20);
      try {
        return await seen;
      } finally {
        socket.destroy();
        results.delete(id);
      }
    },
  };
}

/** One thing a raw client sends: a message in up to three frames, a ping, or a frame that breaks the protocol. */
const item = fc.oneof(
  fc.record({
    kind: fc.constant('message' as const),
    text: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 40 }),
    pieces: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ kind: fc.constant('ping' as const), payload: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constantFrom('bad-utf8' as const, 'reserved-opcode' as const, 'too-big' as const) }),
);
/** How the client ends: a close frame with a code (or none), or TCP dropped. */
const ending = fc.constantFrom<number | 'none' | 'abrupt'>(1000, 1001, 'none', 4000, 1011, 'abrupt');

type Item = typeof item extends fc.Arbitrary<infer T> ? T : never;

/** The frames a client sends for `items` then `end`, every one masked. */
function encode(items: Item[], end: number | 'none' | 'abrupt'): Buffer[] {
  const frames: Buffer[] = [];
  for (const it of items) {
    if (it.kind === 'message') {
      const payload = it.text ? Buffer.from(Buffer.from(it.payload).toString('base64')) : Buffer.from(it.payload);
      const step = Math.ceil(payload.length / it.pieces) || 1;
      let opcode = it.text ? 1 : 2;
      for (let start = 0; ; start += step) {
        const last = start + step >= payload.length;
        frames.push(buildFrame(opcode, payload.subarray(start, start + step), true, { fin: last }));
        opcode = 0;
        if (last) break;
      }
    } else if (it.kind === 'ping') frames.push(buildFrame(9, it.payload, true));
    else if (it.kind === 'bad-utf8') frames.push(buildFrame(1, Buffer.from([0xc3, 0x28]), true));
    else if (it.kind === 'reserved-opcode') frames.push(buildFrame(3, Buffer.alloc(1), true));
    else frames.push(buildFrame(2, Buffer.alloc(5000), true));
  }
  if (end !== 'abrupt') {
    const payload = end === 'none' ? Buffer.alloc(0) : Buffer.from([end >> 8, end & 0xff]);
    frames.push(buildFrame(8, payload, true));
  }
  return frames;
}

test('Conn.onMessage sees the same messages, in the same order, and the same end as a for await loop, for arbitrary frame sequences', { timeout: 120_000 }, async (t) => {
  const server = await readingServer(t);
  await fc.assert(
    fc.asyncProperty(fc.array(item, { maxLength: 8 }), ending, fc.boolean(), async (items, end, slow) => {
      const frames = encode(items, end);
      const [loop, handler] = await Promise.all([
        server.run('/for-await', frames, end === 'abrupt', slow),
        server.run('/on-message', frames, end === 'abrupt', slow),
      ]);
      assert.deepEqual(handler, loop);
    }),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(60) },
  );
});

/** A wskit server and client pair on loopback. */
async function pair(t: After, options: { readBufferSize?: number } = {}): Promise<{ server: Conn; client: Conn }> {
  const upgrader = new Upgrader(options);
  const http = createServer();
  const accepted = new Promise<Conn>((resolve) => http.on('upgrade', (req, socket, head) => void upgrader.upgrade(req, socket, head).then(resolve)));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { conn: client } = await dial(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  const server = await accepted;
  t.after(async () => {
    client.terminate();
    server.terminate();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  return { server, client };
}

test('Conn.onMessage holds later messages back while the promise its handler returned is pending, and pauses the socket past the read buffer', async (t) => {
  const { server, client } = await pair(t, { readBufferSize: 1024 });
  const got: number[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  server.onMessage((message) => {
    got.push(message.data.length);
    return got.length === 1 ? held : undefined;
  });
  for (let i = 0; i < 20; i++) void client.write('binary', Buffer.alloc(100 + i));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(got, [100]);
  assert.ok(server.bufferedAmount === 0);
  release();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => 100 + i));
});

test('Conn.onMessage hands messages queued before it was set first, and never inside the call', async (t) => {
  const { server, client } = await pair(t);
  await client.write('text', 'one');
  await client.write('text', 'two');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const got: string[] = [];
  server.onMessage((message) => void got.push(message.data.toString()));
  assert.deepEqual(got, []);
  await client.write('text', 'three');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(got, ['one', 'two', 'three']);
});

test('Conn.onMessage stops at a handler that throws, tells onEnd the error, and leaves later messages to read()', async (t) => {
  const { server, client } = await pair(t);
  const boom = new Error('handler failed');
  const ended = new Promise<Error | null>((resolve) =>
    server.onMessage(
      () => {
        throw boom;
      },
      (err) => resolve(err),
    ),
  );
  await client.write('text', 'one');
  assert.equal(await ended, boom);
  await client.write('text', 'two');
  assert.equal((await server.read()).data.toString(), 'two');
});

test('Conn.onMessage tells onEnd null after a normal close and the CloseError after another', async (t) => {
  const a = await pair(t);
  const normal = new Promise<Error | null>((resolve) => a.server.onMessage(() => {}, resolve));
  await a.client.close(1000);
  assert.equal(await normal, null);
  const b = await pair(t);
  const other = new Promise<Error | null>((resolve) => b.server.onMessage(() => {}, resolve));
  await b.client.close(4000, 'bye');
  const err = await other;
  assert.equal((err as { closeCode?: number }).closeCode, 4000);
});

test('Conn.onMessage rejects a handler that is not a function with TypeError, a second handler with Error, and read() while set', async (t) => {
  const { server } = await pair(t);
  assert.throws(() => server.onMessage(42 as never), TypeError);
  assert.throws(() => server.onMessage(() => {}, 'x' as never), TypeError);
  server.onMessage(() => {});
  assert.throws(() => server.onMessage(() => {}), Error);
  await assert.rejects(server.read(), Error);
});
