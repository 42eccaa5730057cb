/**
 * A minimal WebSocket client for the load generator: a hand-written
 * handshake over `net`, pre-encoded masked frames, and a frame reader that
 * finds message boundaries without copying payloads it does not need. It does
 * far less work per message than a full client, so the server, not the
 * generator, is what saturates. It answers pings and close frames, and
 * nothing else: it exists only to load servers in this bench.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { constants, deflateRawSync } from 'node:zlib';

/**
 * FrameHandler receives each complete frame: `payload` is null for data
 * frames when payloads are not kept; `length` is the frame's payload length
 * and `rsv1` its compression bit, so a caller can check what came back
 * without keeping it.
 */
export type FrameHandler = (fin: boolean, opcode: number, payload: Buffer | null, length: number, rsv1: boolean) => void;

/** maskedFrame encodes one masked client frame (RFC 6455 §5.2) with a fresh random key. */
export function maskedFrame(opcode: number, payload: Buffer, rsv1 = false): Buffer {
  const len = payload.length;
  const headLen = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headLen + 4 + len);
  frame[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65_536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  const key = randomBytes(4);
  key.copy(frame, headLen);
  const start = headLen + 4;
  for (let i = 0; i < len; i++) frame[start + i] = payload[i]! ^ key[i & 3]!;
  return frame;
}

/** compressMessage deflates one message as permessage-deflate without context takeover (RFC 7692 §7.2.1). */
export function compressMessage(payload: Buffer): Buffer {
  const out = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH });
  // §7.2.1: the sender removes the 0x00 0x00 0xff 0xff tail of the sync flush.
  return out.subarray(0, out.length - 4);
}

/** FrameReader splits a stream of unmasked server frames, keeping payloads only when asked. */
export class FrameReader {
  private readonly head = Buffer.alloc(14);
  private headLen = 0;
  private need = 2;
  private inHeader = true;
  private remaining = 0;
  private fin = false;
  private opcode = 0;
  private parts: Buffer[] = [];
  private keepThis = false;
  private length = 0;
  private rsv1 = false;

  constructor(
    private readonly keepData: boolean,
    private readonly onFrame: FrameHandler,
  ) {}

  /** push feeds received bytes; complete frames go to the handler in order. */
  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.inHeader) {
        this.head[this.headLen++] = chunk[i++]!;
        if (this.headLen === 2) {
          const len7 = this.head[1]! & 0x7f;
          this.need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.head[1]! & 0x80 ? 4 : 0);
        }
        if (this.headLen >= 2 && this.headLen === this.need) this.startPayload();
      } else {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.keepThis) this.parts.push(chunk.subarray(i, i + take));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.emit();
      }
    }
  }

  private startPayload(): void {
    const b0 = this.head[0]!;
    const len7 = this.head[1]! & 0x7f;
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    this.remaining = len7 === 126 ? this.head.readUInt16BE(2) : len7 === 127 ? this.head.readUInt32BE(2) * 2 ** 32 + this.head.readUInt32BE(6) : len7;
    this.length = this.remaining;
    this.rsv1 = (b0 & 0x40) !== 0;
    this.keepThis = this.keepData || this.opcode >= 8;
    this.inHeader = false;
    if (this.remaining === 0) this.emit();
  }

  private emit(): void {
    const payload = this.keepThis ? (this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)) : null;
    this.parts = [];
    this.inHeader = true;
    this.headLen = 0;
    this.need = 2;
    this.onFrame(this.fin, this.opcode, payload, this.length, this.rsv1);
  }
}

/** RawConn is an open raw client connection. */
export interface RawConn {
  socket: Socket;
  /** extensions is the server's Sec-WebSocket-Extensions answer, '' if none. */
  extensions: string;
}

/**
 * rawConnect opens a WebSocket connection to 127.0.0.1:`port` `path`, offering
 * `extensions` if given, and resolves after the 101 response. Data frames go
 * to `onData`; pings are answered, a close frame is answered and the socket ended.
 */
export function rawConnect(port: number, path: string, extensions: string, keepData: boolean, onData: FrameHandler): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const key = randomBytes(16).toString('base64');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`handshake with 127.0.0.1:${port}${path} took over 10 s`));
    }, 10_000);
    const reader = new FrameReader(keepData, (fin, opcode, payload, length, rsv1) => {
      if (opcode === 0x9) socket.write(maskedFrame(0xa, payload!));
      else if (opcode === 0x8) socket.end(maskedFrame(0x8, payload!.subarray(0, 2)));
      else if (opcode < 0x8) onData(fin, opcode, payload, length, rsv1);
    });
    let head = Buffer.alloc(0);
    const onHandshake = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16_384) socket.destroy(new Error('handshake response head over 16 KiB'));
        return;
      }
      clearTimeout(timer);
      socket.off('data', onHandshake);
      const text = head.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`handshake refused: ${text.split('\r\n')[0]}`));
        return;
      }
      const ext = /^sec-websocket-extensions:\s*(.*)$/im.exec(text)?.[1]?.trim() ?? '';
      socket.on('data', (c: Buffer) => reader.push(c));
      if (head.length > end + 4) reader.push(head.subarray(end + 4));
      resolve({ socket, extensions: ext });
    };
    socket.on('data', onHandshake);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') +
        '\r\n',
    );
  });
}

/**
 * readInt reads the decimal digits of `buf` from `at` (the numbers the
 * publishers write into message text) and returns the number and the index
 * just past the character that ended it, without making a string.
 */
export function readInt(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let i = at;
  for (; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  return [value, i + 1];
}
