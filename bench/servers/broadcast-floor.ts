/**
 * The floor for the fan-out row: a `node:http` server that completes the
 * opening handshake by hand and then, for each text message any connection
 * sends, builds one unmasked frame and writes it with `socket.write` to every
 * other open socket. It keeps no ids, history, presence, rooms or send
 * queues, and reads frames only far enough to find the text. One write per
 * subscriber per message is what every broadcast server on `net.Socket` must
 * make, so its CPU per delivery is the least any of them can spend.
 *
 * The frame carries the chat envelope of bench/servers/chat-ws.ts without the
 * id, `{"type":"message","room","from","text","ts"}`, so subscribers count it
 * as they count the others' and the payloads are about the same size. Every
 * connection is in the one room the bench uses; the path is not checked.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { startHarness, type Counter } from './harness.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The largest client message read, as chat-ws.ts's maxPayload; a longer frame closes the connection. */
const MAX_PAYLOAD = 64 * 1024;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
/** A close frame with no body (RFC 6455 §5.5.1), sent back when a client closes. */
const CLOSE_FRAME = Buffer.from([0x80 | OP_CLOSE, 0x00]);

const counter: Counter = { open: 0 };
const sockets = new Set<Socket>();

/** serverFrame encodes `payload` as one final, unmasked text frame (RFC 6455 §5.2): header and payload in one Buffer, so one write sends it. */
function serverFrame(payload: Buffer): Buffer {
  const head = payload.length < 126 ? 2 : payload.length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + payload.length);
  frame[0] = 0x80 | OP_TEXT;
  if (head === 2) {
    frame[1] = payload.length;
  } else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(payload.length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  payload.copy(frame, head);
  return frame;
}

/** broadcast turns one client message into the chat envelope and writes the same frame to every open socket but the sender's. */
function broadcast(from: Socket, name: string, room: string, text: Buffer): void {
  let msg: { type?: unknown; text?: unknown };
  try {
    msg = JSON.parse(text.toString());
  } catch {
    return;
  }
  if (msg.type !== 'message' || typeof msg.text !== 'string') return;
  const frame = serverFrame(Buffer.from(JSON.stringify({ type: 'message', room, from: name, text: msg.text, ts: Date.now() })));
  for (const socket of sockets) if (socket !== from) socket.write(frame);
}

/**
 * frameReader returns the data handler of one connection: it buffers bytes
 * until a whole client frame is in, unmasks it, broadcasts a final text frame,
 * answers a close frame and ends, and drops every other frame (pings,
 * binary, fragments). A frame without a mask (RFC 6455 §5.1) or longer than
 * MAX_PAYLOAD ends the connection.
 */
function frameReader(socket: Socket, name: string, room: string): (chunk: Buffer) => void {
  let pending: Buffer | undefined;
  return (chunk) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    while (buf.length >= 2) {
      const fin = (buf[0]! & 0x80) !== 0;
      const opcode = buf[0]! & 0x0f;
      if ((buf[1]! & 0x80) === 0) {
        socket.destroy();
        return;
      }
      let length = buf[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buf.length < 4) break;
        length = buf.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (buf.length < 10) break;
        const long = buf.readBigUInt64BE(2);
        length = long > BigInt(MAX_PAYLOAD) ? MAX_PAYLOAD + 1 : Number(long);
        at = 10;
      }
      if (length > MAX_PAYLOAD) {
        socket.destroy();
        return;
      }
      if (buf.length < at + 4 + length) break;
      const mask = buf.subarray(at, at + 4);
      const payload = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) payload[i] = buf[at + 4 + i]! ^ mask[i & 3]!;
      buf = buf.subarray(at + 4 + length);
      if (opcode === OP_CLOSE) {
        socket.end(CLOSE_FRAME);
        return;
      }
      if (fin && opcode === OP_TEXT) broadcast(socket, name, room, payload);
    }
    if (buf.length > 0) pending = Buffer.from(buf);
  };
}

function destroySocket(this: Socket): void {
  this.destroy();
}

const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket: Socket, head: Buffer) => {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || key === '') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  const query = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.setNoDelay(true);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  counter.open++;
  sockets.add(socket);
  const read = frameReader(socket, query.get('name') ?? 'anon', query.get('room') ?? 'lobby');
  socket.on('data', read);
  socket.on('error', destroySocket);
  // node:http sockets are half-open capable: the peer's FIN alone closes nothing.
  socket.on('end', destroySocket);
  socket.on('close', () => {
    counter.open--;
    sockets.delete(socket);
  });
  if (head.length > 0) read(head);
});
startHarness(server, counter);
