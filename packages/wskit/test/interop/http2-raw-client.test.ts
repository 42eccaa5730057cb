/**
 * Interop: Node's http2 client doing an extended CONNECT by hand (RFC
 * 8441), with frames written and read by the test's own code
 * (http2-raw-peer.ts), against wskit's echo server over HTTP/2. Checks the
 * setting, the answer, echoes across the 7-, 16- and 64-bit length forms and
 * fragments, ping, a protocol error, and a closing handshake whose stream
 * ends in the right order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { type EchoServer, startEchoServer } from '../helpers/echo-server.js';
import { connectH2c, maskedFrame, RawStreamSocket } from './http2-raw-peer.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONT = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

let server: EchoServer;
let session: ClientHttp2Session;
let authority: string;
let enableConnectProtocol: boolean | undefined;

before(async () => {
  server = await startEchoServer({ http2: true });
  const connected = await connectH2c(server.url);
  session = connected.session;
  enableConnectProtocol = connected.settings.enableConnectProtocol;
  authority = new URL(server.url).host;
});

after(async () => {
  session?.destroy();
  await server?.stop();
});

function closePayload(code: number, reason = ''): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2);
  return out;
}

/** The server's frames must be unmasked, without RSV bits (no extension agreed). */
function plain(frame: { masked: boolean; rsv: number } | null): void {
  assert.ok(frame !== null, 'a frame, not the end of the stream');
  assert.equal(frame.masked, false, 'a server never masks (RFC 6455 §5.1)');
  assert.equal(frame.rsv, 0);
}

test('the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and answers a hand-made extended CONNECT with 200 and no Sec-WebSocket-Accept', async () => {
  assert.equal(enableConnectProtocol, true);
  const ws = await RawStreamSocket.open(session, authority, '/echo', { origin: `http://${authority}` });
  assert.equal(Number(ws.response[':status']), 200);
  assert.equal(ws.response['sec-websocket-accept'], undefined);
  ws.stream.close();
});

test('echoes hand-made frames of each length form and a fragmented message, answers a ping, and closes in order', async () => {
  const ws = await RawStreamSocket.open(session, authority, '/echo');
  for (const [opcode, payload] of [
    [TEXT, Buffer.from('héllo over a stream')],
    [BINARY, Buffer.alloc(300, 7)],
    [BINARY, Buffer.alloc(70_000, 9)],
  ] as const) {
    ws.send(maskedFrame(opcode, payload));
    const echo = await ws.next();
    plain(echo);
    assert.equal(echo!.opcode, opcode);
    assert.ok(echo!.payload.equals(payload), `${payload.length} bytes`);
  }
  ws.send(Buffer.concat([maskedFrame(TEXT, Buffer.from('frag'), false), maskedFrame(PING, Buffer.from('p')), maskedFrame(CONT, Buffer.from('ments'))]));
  const pong = await ws.next();
  plain(pong);
  assert.equal(pong!.opcode, PONG);
  assert.equal(pong!.payload.toString(), 'p');
  const joined = await ws.next();
  plain(joined);
  assert.equal(joined!.payload.toString(), 'fragments');

  ws.send(maskedFrame(CLOSE, closePayload(1000, 'bye')));
  const close = await ws.next();
  plain(close);
  assert.equal(close!.opcode, CLOSE);
  assert.equal(close!.payload.readUInt16BE(0), 1000);
  // RFC 6455 §7.1.1 over RFC 8441 §5: the server ends its side first (END_STREAM), then we end ours.
  assert.equal(await ws.next(), null);
  const closed = new Promise((resolve) => ws.stream.once('close', resolve));
  ws.stream.end();
  await closed;
  assert.equal(ws.stream.rstCode, 0, 'no RST_STREAM on an orderly close');
});

test('an unmasked client frame gets close 1002 and the end of the stream; the session goes on', async () => {
  const ws = await RawStreamSocket.open(session, authority, '/echo');
  ws.send(maskedFrame(TEXT, Buffer.from('naked'), true, false));
  const close = await ws.next();
  plain(close);
  assert.equal(close!.opcode, CLOSE);
  assert.equal(close!.payload.readUInt16BE(0), 1002);
  assert.equal(await ws.next(), null);
  ws.stream.close();
  const again = await RawStreamSocket.open(session, authority, '/echo');
  again.send(maskedFrame(TEXT, Buffer.from('still served')));
  assert.equal((await again.next())!.payload.toString(), 'still served');
  again.stream.close();
});
