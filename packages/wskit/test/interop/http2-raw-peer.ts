/**
 * A WebSocket client over HTTP/2 written by hand for interop tests (RFC
 * 8441): Node's own http2 client sends the extended CONNECT with headers
 * spelled out here, and frames are built and read with the few lines of RFC
 * 6455 §5.2 below, not with wskit's code, so wskit's server is judged by a
 * peer that shares nothing with it but Node.
 */
import { randomBytes } from 'node:crypto';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';

/** A frame as the server sent it. */
export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** maskedFrame builds one client frame (RFC 6455 §5.2): FIN as asked, masked with a fresh key, or unmasked when `mask` is false. */
export function maskedFrame(opcode: number, payload: Buffer, fin = true, mask = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + lengthBytes);
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([head, body]);
}

/** A WebSocket opened by hand on a stream: the server's answer, and its frames as they come. */
export class RawStreamSocket {
  readonly stream: ClientHttp2Stream;
  readonly response: IncomingHttpHeaders;
  #buffer = Buffer.alloc(0);
  #frames: RawFrame[] = [];
  #ended = false;
  #wake: (() => void) | null = null;

  private constructor(stream: ClientHttp2Stream, response: IncomingHttpHeaders) {
    this.stream = stream;
    this.response = response;
    stream.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
      this.#wake?.();
    });
    stream.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  /** open sends an extended CONNECT for `path` with `extra` header fields and resolves once the server answers (any status). */
  static open(session: ClientHttp2Session, authority: string, path: string, extra: Record<string, string> = {}): Promise<RawStreamSocket> {
    const stream = session.request(
      { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':authority': authority, ':path': path, 'sec-websocket-version': '13', ...extra },
      { endStream: false },
    );
    stream.on('error', () => {});
    return new Promise((resolve, reject) => {
      stream.once('response', (response) => resolve(new RawStreamSocket(stream, response)));
      stream.once('close', () => reject(new Error(`The stream closed before an answer (RST_STREAM ${stream.rstCode})`)));
    });
  }

  /** send writes bytes as they are. */
  send(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  /** next resolves with the server's next frame, or null once it ended its side of the stream (END_STREAM); rejects after `ms`. */
  async next(ms = 5_000): Promise<RawFrame | null> {
    const deadline = Date.now() + ms;
    while (this.#frames.length === 0 && !this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No frame from the server within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    return this.#frames.shift() ?? null;
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (masked) at += 4;
      if (b.length < at + length) return;
      this.#frames.push({ fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 0x7, opcode: b[0]! & 0x0f, masked, payload: Buffer.from(b.subarray(at, at + length)) });
      this.#buffer = b.subarray(at + length);
    }
  }
}

/** connectH2c opens an h2c session to `url`'s origin and waits for its SETTINGS. */
export async function connectH2c(url: string): Promise<{ session: ClientHttp2Session; settings: http2.Settings }> {
  const session = http2.connect(new URL(url).origin.replace(/^ws/, 'http'));
  session.on('error', () => {});
  const settings = await new Promise<http2.Settings>((resolve, reject) => {
    session.once('remoteSettings', resolve);
    session.once('error', reject);
  });
  return { session, settings };
}
