/**
 * ws's WS_ERR_* codes on malformed frames, checked against ws itself: the
 * same raw bytes go to a wskit/ws server and to an npm `ws` server (and,
 * for the client's cases, from a raw server to a wskit/ws client and to a
 * `ws` client); the `error` event's class and `code`, the close code the
 * raw peer receives and the code of the `close` event must be ws's. Where
 * wskit/ws differs on purpose, the case says so and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import type { ClientOptions, ServerOptions } from 'ws';
import { WsErrorCode } from '../../src/ws/index.js';
import { WAIT_MS } from './helpers.js';
import { npmWs, type WsModule, wskitWs } from './implementations.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

type After = { after: (fn: () => unknown) => void };
type Emitter = { once(event: string, listener: (...args: never[]) => void): unknown };

/** A masked client frame with a zero mask (so the payload is as given). */
function clientFrame(first: number, payload: Buffer = Buffer.alloc(0), lengthBytes?: Buffer): Buffer {
  const head = lengthBytes ?? Buffer.from([payload.length]);
  head[0]! |= 0x80;
  return Buffer.concat([Buffer.from([first]), head, Buffer.alloc(4), payload]);
}

/** An unmasked server frame. */
function serverFrame(first: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([first, payload.length]), payload]);
}

/** What one implementation did with the bytes. */
interface Outcome {
  /** 'RangeError' or 'Error', or 'none' when no error was emitted. */
  kind: string;
  code: string | undefined;
  /** The code of the close frame the raw peer received; null when none came before TCP ended. */
  closeFrame: number | null;
  /** The code of the WebSocket's `close` event. */
  closeEvent: number;
}

/** The first event `name` of `emitter`, or undefined after WAIT_MS. */
function first(emitter: Emitter, name: string): Promise<unknown[] | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), WAIT_MS);
    emitter.once(name, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Every byte `socket` receives until it closes (bounded by WAIT_MS). */
function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Buffer.concat(chunks)), WAIT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** The code of the first frame of `bytes` if it is a close frame (masked or not; 1005 when empty). */
function closeCodeIn(bytes: Buffer): number | null {
  if (bytes.length < 2 || (bytes[0]! & 0x0f) !== 0x8) return null;
  const length = bytes[1]! & 0x7f;
  const masked = (bytes[1]! & 0x80) !== 0;
  const start = masked ? 6 : 2;
  if (length < 2) return 1005;
  const code = bytes.readUInt16BE(start);
  if (!masked) return code;
  return code ^ bytes.readUInt16BE(2);
}

function errorOf(args: unknown[] | undefined): Pick<Outcome, 'kind' | 'code'> {
  if (args === undefined) return { kind: 'none', code: undefined };
  const err = args[0] as Error & { code?: string };
  return { kind: err.constructor.name, code: err.code };
}

/** Raw bytes from a client to a server of `mod`; `extensions` is offered in the handshake. */
async function serverOutcome(t: After, mod: WsModule, options: ServerOptions, bytes: Buffer, extensions?: string): Promise<Outcome> {
  const wss = new mod.WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  await first(wss, 'listening');
  t.after(() => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
  const connection = first(wss, 'connection');
  const socket = net.connect((wss.address() as AddressInfo).port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.setNoDelay(true);
  const offer = extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${offer}\r\n`);
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) {
    const chunk = await first(socket, 'data');
    assert.ok(chunk, 'no handshake response');
    head = Buffer.concat([head, chunk[0] as Buffer]);
  }
  assert.match(head.toString('latin1'), /^HTTP\/1.1 101/);
  const ws = (await connection)![0] as InstanceType<WsModule['WebSocket']>;
  const error = first(ws, 'error');
  const close = first(ws, 'close');
  const received = collect(socket);
  socket.write(bytes);
  const errorArgs = await error;
  return { ...errorOf(errorArgs), closeFrame: closeCodeIn(await received), closeEvent: ((await close)?.[0] as number) ?? -1 };
}

/** Raw bytes from a server to a client of `mod`, after a 101 carrying `extensions` when given. */
async function clientOutcome(t: After, mod: WsModule, options: ClientOptions, bytes: Buffer, extensions?: string): Promise<Outcome> {
  let received: Promise<Buffer> | undefined;
  const server = net.createServer((socket) => {
    socket.once('data', (request) => {
      const key = /Sec-WebSocket-Key: (.+)\r\n/i.exec(String(request))![1]!;
      const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
      const agreed = extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${agreed}\r\n`);
      received = collect(socket);
      socket.write(bytes);
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await first(server, 'listening');
  t.after(() => server.close());
  const ws = new mod.WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: extensions !== undefined, ...options });
  t.after(() => ws.terminate());
  const error = first(ws, 'error');
  const close = first(ws, 'close');
  const errorArgs = await error;
  const closeArgs = await close;
  return { ...errorOf(errorArgs), closeFrame: closeCodeIn((await received) ?? Buffer.alloc(0)), closeEvent: (closeArgs?.[0] as number) ?? -1 };
}

/** One malformed input and the code ws documents for it. */
interface Case {
  name: string;
  side: 'server' | 'client';
  bytes: Buffer;
  code: string;
  options?: ServerOptions & ClientOptions;
  /** permessage-deflate agreed in the handshake. */
  extensions?: string;
  /** Where wskit/ws differs from ws on purpose: what it does instead, and why. */
  differs?: { outcome: Partial<Outcome>; why: string };
}

const cases: Case[] = [
  { side: 'server', name: 'an unmasked frame', bytes: Buffer.from([0x81, 0x02, 0x68, 0x69]), code: WsErrorCode.ExpectedMask },
  { side: 'server', name: 'a reserved data opcode (0x3)', bytes: clientFrame(0x83), code: WsErrorCode.InvalidOpcode },
  { side: 'server', name: 'a reserved control opcode (0xb)', bytes: clientFrame(0x8b), code: WsErrorCode.InvalidOpcode },
  { side: 'server', name: 'a continuation with no message to continue', bytes: clientFrame(0x80, Buffer.from('hi')), code: WsErrorCode.InvalidOpcode },
  {
    side: 'server',
    name: 'a new message inside a fragmented one',
    bytes: Buffer.concat([clientFrame(0x01, Buffer.from('a')), clientFrame(0x81, Buffer.from('b'))]),
    code: WsErrorCode.InvalidOpcode,
  },
  { side: 'server', name: 'a fragmented ping', bytes: clientFrame(0x09), code: WsErrorCode.ExpectedFin },
  {
    side: 'server',
    name: 'a ping over 125 bytes',
    bytes: clientFrame(0x89, Buffer.alloc(126), Buffer.from([126, 0, 126])),
    code: WsErrorCode.InvalidControlPayloadLength,
  },
  { side: 'server', name: 'a close frame of 1 byte', bytes: clientFrame(0x88, Buffer.from([0x03])), code: WsErrorCode.InvalidControlPayloadLength },
  { side: 'server', name: 'RSV1 without compression', bytes: clientFrame(0xc1, Buffer.from('hi')), code: WsErrorCode.UnexpectedRsv1 },
  { side: 'server', name: 'RSV1 on a ping', bytes: clientFrame(0xc9), code: WsErrorCode.UnexpectedRsv1, extensions: 'permessage-deflate', options: { perMessageDeflate: true } },
  {
    side: 'server',
    name: 'RSV1 on a continuation frame with compression agreed',
    bytes: Buffer.concat([clientFrame(0x01, Buffer.from('a')), clientFrame(0xc0, Buffer.from('b'))]),
    code: WsErrorCode.UnexpectedRsv1,
    extensions: 'permessage-deflate',
    options: { perMessageDeflate: true },
  },
  { side: 'server', name: 'RSV2', bytes: clientFrame(0xa1, Buffer.from('hi')), code: WsErrorCode.UnexpectedRsv23 },
  { side: 'server', name: 'RSV3', bytes: clientFrame(0x91, Buffer.from('hi')), code: WsErrorCode.UnexpectedRsv23 },
  { side: 'server', name: 'invalid UTF-8 text', bytes: clientFrame(0x81, Buffer.from([0xff, 0xfe])), code: WsErrorCode.InvalidUtf8 },
  {
    side: 'server',
    name: 'invalid UTF-8 split across fragments',
    bytes: Buffer.concat([clientFrame(0x01, Buffer.from([0xe2, 0x82])), clientFrame(0x80, Buffer.from([0x41]))]),
    code: WsErrorCode.InvalidUtf8,
  },
  { side: 'server', name: 'a close reason that is not UTF-8', bytes: clientFrame(0x88, Buffer.from([0x03, 0xe8, 0xff])), code: WsErrorCode.InvalidUtf8 },
  { side: 'server', name: 'close code 1005, which may not be sent', bytes: clientFrame(0x88, Buffer.from([0x03, 0xed])), code: WsErrorCode.InvalidCloseCode },
  { side: 'server', name: 'close code 999', bytes: clientFrame(0x88, Buffer.from([0x03, 0xe7])), code: WsErrorCode.InvalidCloseCode },
  {
    side: 'server',
    name: 'a message over maxPayload',
    bytes: clientFrame(0x82, Buffer.alloc(200), Buffer.from([126, 0, 200])),
    code: WsErrorCode.UnsupportedMessageLength,
    options: { maxPayload: 100 },
  },
  {
    side: 'server',
    name: 'fragments adding up past maxPayload',
    bytes: Buffer.concat([clientFrame(0x02, Buffer.alloc(60)), clientFrame(0x80, Buffer.alloc(60))]),
    code: WsErrorCode.UnsupportedMessageLength,
    options: { maxPayload: 100 },
  },
  {
    side: 'server',
    name: 'a 64-bit length beyond 2^53 - 1',
    bytes: clientFrame(0x82, Buffer.alloc(0), Buffer.from([127, 0x00, 0x20, 0, 0, 0, 0, 0, 0])),
    code: WsErrorCode.UnsupportedDataPayloadLength,
  },
  {
    side: 'server',
    name: 'a 64-bit length with its top bit set',
    bytes: clientFrame(0x82, Buffer.alloc(0), Buffer.from([127, 0x80, 0, 0, 0, 0, 0, 0, 5])),
    code: WsErrorCode.UnsupportedDataPayloadLength,
    differs: {
      outcome: { closeFrame: 1002 },
      why: 'RFC 6455 §5.2: the top bit MUST be 0, so wskit closes with 1002 (a broken rule) where ws says 1009 (too big)',
    },
  },
  {
    side: 'server',
    name: 'a message of more fragments than maxFragments',
    bytes: Buffer.concat([clientFrame(0x01), clientFrame(0x00), clientFrame(0x00), clientFrame(0x80)]),
    code: WsErrorCode.TooManyBufferedParts,
    options: { maxFragments: 3 },
  },
  {
    side: 'server',
    name: 'more empty fragments than the default maxFragments (16,384)',
    bytes: Buffer.concat([clientFrame(0x02), ...Array.from({ length: 16 * 1024 }, () => clientFrame(0x00))]),
    code: WsErrorCode.TooManyBufferedParts,
  },
  { side: 'client', name: 'a masked frame', bytes: Buffer.from([0x81, 0x80, 0, 0, 0, 0]), code: WsErrorCode.UnexpectedMask },
  { side: 'client', name: 'a reserved opcode', bytes: serverFrame(0x84), code: WsErrorCode.InvalidOpcode },
  { side: 'client', name: 'RSV2', bytes: serverFrame(0xa1, Buffer.from('hi')), code: WsErrorCode.UnexpectedRsv23 },
  { side: 'client', name: 'invalid UTF-8 text', bytes: serverFrame(0x81, Buffer.from([0xc0, 0x80])), code: WsErrorCode.InvalidUtf8 },
  { side: 'client', name: 'close code 1006', bytes: serverFrame(0x88, Buffer.from([0x03, 0xee])), code: WsErrorCode.InvalidCloseCode },
  {
    side: 'client',
    name: 'a message over maxPayload',
    bytes: serverFrame(0x82, Buffer.alloc(101)),
    code: WsErrorCode.UnsupportedMessageLength,
    options: { maxPayload: 100 },
  },
  {
    side: 'client',
    name: 'a message of more fragments than maxFragments',
    bytes: Buffer.concat([serverFrame(0x02), serverFrame(0x00), serverFrame(0x80)]),
    code: WsErrorCode.TooManyBufferedParts,
    options: { maxFragments: 2 },
  },
];

test('the error cases cover every WS_ERR_* code ws documents', () => {
  const covered = new Set(cases.map((c) => c.code));
  for (const code of Object.values(WsErrorCode)) assert.ok(covered.has(code), `${code} has no case`);
});

for (const c of cases) {
  const who = c.side === 'server' ? 'WebSocketServer' : 'WebSocket';
  test(`wskit/ws ${who} emits ${c.code} for ${c.name} and closes as ws does`, async (t) => {
    const run = async (mod: WsModule) =>
      c.side === 'server'
        ? serverOutcome(t, mod, c.options ?? {}, c.bytes, c.extensions)
        : clientOutcome(t, mod, c.options ?? {}, c.bytes, c.extensions);
    const ws = await run((await npmWs.load()) as WsModule);
    const wskit = await run((await wskitWs.load()) as WsModule);
    t.diagnostic(`ws: ${JSON.stringify(ws)}; wskit/ws: ${JSON.stringify(wskit)}`);
    assert.equal(ws.code, c.code, `ws itself emits ${ws.code} here: the case is wrong`);
    assert.deepEqual(wskit, { ...ws, ...c.differs?.outcome }, c.differs?.why);
  });
}

test('wskit/ws maxFragments 0 turns the limit off, as in ws: 20,000 empty fragments make one message', async (t) => {
  const bytes = Buffer.concat([clientFrame(0x01), ...Array.from({ length: 20_000 }, () => clientFrame(0x00)), clientFrame(0x80, Buffer.from('end'))]);
  for (const impl of [npmWs, wskitWs]) {
    const mod = (await impl.load()) as WsModule;
    const wss = new mod.WebSocketServer({ port: 0, host: '127.0.0.1', maxFragments: 0 });
    await first(wss, 'listening');
    t.after(() => {
      for (const client of wss.clients) client.terminate();
      wss.close();
    });
    const connection = first(wss, 'connection');
    const socket = net.connect((wss.address() as AddressInfo).port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const ws = (await connection)![0] as InstanceType<WsModule['WebSocket']>;
    const message = first(ws, 'message');
    socket.write(bytes);
    assert.equal(String((await message)?.[0]), 'end', impl.name);
  }
});
