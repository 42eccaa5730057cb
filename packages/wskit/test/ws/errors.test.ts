/**
 * ws's WS_ERR_* codes on malformed frames: raw bytes are written with
 * node:net to a wskit/ws server (and from a raw server to a wskit/ws
 * client); the `error` event must carry ws's code and the close frame the
 * core's close code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WsErrorCode } from '../../src/ws/index.js';
import { accepted, listen, next, WAIT_MS } from './helpers.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A masked client frame with a zero mask (so the payload is as given). */
function clientFrame(first: number, payload: Buffer, lengthBytes?: Buffer): Buffer {
  const head = lengthBytes ?? Buffer.from([payload.length]);
  head[0]! |= 0x80;
  return Buffer.concat([Buffer.from([first]), head, Buffer.alloc(4), payload]);
}

/** Open a raw connection to a wskit/ws server and return the socket once the 101 arrived. */
async function rawClient(url: string): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String((await next(socket, 'data'))[0]);
  assert.match(head, /^HTTP\/1.1 101/);
  return socket;
}

/** The close code in the first close frame the socket receives. */
async function closeCodeFrom(socket: net.Socket): Promise<number> {
  let buffered = Buffer.alloc(0);
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const index = buffered.indexOf(0x88);
    if (index >= 0 && buffered.length >= index + 4) return buffered.readUInt16BE(index + 2);
    const [chunk] = (await next(socket, 'data')) as [Buffer];
    buffered = Buffer.concat([buffered, chunk]);
  }
  throw new Error('no close frame');
}

const cases: Array<{ name: string; bytes: Buffer; code: string; close: number; kind: typeof Error }> = [
  { name: 'an unmasked frame', bytes: Buffer.from([0x81, 0x02, 0x68, 0x69]), code: WsErrorCode.ExpectedMask, close: 1002, kind: RangeError },
  { name: 'an unknown opcode', bytes: clientFrame(0x83, Buffer.alloc(0)), code: WsErrorCode.InvalidOpcode, close: 1002, kind: RangeError },
  { name: 'a fragmented ping', bytes: clientFrame(0x09, Buffer.alloc(0)), code: WsErrorCode.ExpectedFin, close: 1002, kind: RangeError },
  { name: 'a ping over 125 bytes', bytes: clientFrame(0x89, Buffer.alloc(126), Buffer.from([126, 0, 126])), code: WsErrorCode.InvalidControlPayloadLength, close: 1002, kind: RangeError },
  { name: 'RSV1 without compression', bytes: clientFrame(0xc1, Buffer.from('hi')), code: WsErrorCode.UnexpectedRsv1, close: 1002, kind: RangeError },
  { name: 'RSV2', bytes: clientFrame(0xa1, Buffer.from('hi')), code: WsErrorCode.UnexpectedRsv23, close: 1002, kind: RangeError },
  { name: 'invalid UTF-8 text', bytes: clientFrame(0x81, Buffer.from([0xff, 0xfe])), code: WsErrorCode.InvalidUtf8, close: 1007, kind: Error },
  { name: 'a close code that may not be sent', bytes: clientFrame(0x88, Buffer.from([0x03, 0xed])), code: WsErrorCode.InvalidCloseCode, close: 1002, kind: RangeError },
  { name: 'a message over maxPayload', bytes: clientFrame(0x82, Buffer.alloc(200), Buffer.from([126, 0, 200])), code: WsErrorCode.UnsupportedMessageLength, close: 1009, kind: RangeError },
  {
    name: 'a 64-bit length beyond 2^53 - 1',
    bytes: clientFrame(0x82, Buffer.alloc(0), Buffer.from([127, 0x00, 0x20, 0, 0, 0, 0, 0, 0])),
    code: WsErrorCode.UnsupportedDataPayloadLength,
    close: 1009,
    kind: RangeError,
  },
];

for (const c of cases) {
  test(`wskit/ws WebSocketServer emits ${c.code} for ${c.name} and closes with ${c.close}`, async (t) => {
    const { wss, url } = await listen(t, { maxPayload: 100 });
    const server = accepted(wss);
    const socket = await rawClient(url);
    t.after(() => socket.destroy());
    const ws = await server;
    const error = next(ws, 'error');
    const closeCode = closeCodeFrom(socket);
    socket.write(c.bytes);
    const [err] = (await error) as [Error & { code: string }];
    assert.ok(err instanceof c.kind);
    assert.equal(err.code, c.code);
    assert.equal(await closeCode, c.close);
    const [code] = await next(ws, 'close');
    assert.equal(code, 1006, 'no close frame came back: the close is abnormal, as in ws');
  });
}

test('wskit/ws WebSocket emits WS_ERR_UNEXPECTED_MASK when a server masks its frames', async (t) => {
  const server = net.createServer((socket) => {
    socket.once('data', (request) => {
      const key = /Sec-WebSocket-Key: (.+)\r\n/i.exec(String(request))![1]!;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.write(Buffer.from([0x81, 0x80, 0, 0, 0, 0]));
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await next(server, 'listening');
  t.after(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: false });
  t.after(() => ws.terminate());
  const [err] = (await next(ws, 'error')) as [Error & { code: string }];
  assert.ok(err instanceof RangeError);
  assert.equal(err.code, WsErrorCode.UnexpectedMask);
  const [code] = await next(ws, 'close');
  assert.equal(code, 1006);
});
