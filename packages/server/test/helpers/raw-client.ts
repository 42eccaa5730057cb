/**
 * A raw TCP client for attack tests: it sends any bytes (partial handshakes,
 * hand-built frames with any header bits, garbage) and reads back the HTTP
 * response head and the server's frames with the library's FrameParser, so a
 * test sees exactly what the server put on the wire.
 */
import net from 'node:net';
import { applyMask, computeAccept, FrameParser, generateKey, type FrameHeader } from 'wskit/protocol';

/** A frame as the server sent it. */
export interface RawFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** The head of an HTTP response; `body` is what followed it, filled in by {@link RawClient.body}. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
}

/** A close frame's contents; `code` is 1005 when the payload was empty. */
export interface RawClose {
  code: number;
  reason: string;
}

/** Settings of {@link buildFrame}; each header bit can be set at will. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** FIN bit. Default true. */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Mask the payload as a client must. Default true. */
  mask?: boolean;
  /** Announce this payload length instead of the real one (the bytes sent are still `payload`). */
  length?: number | bigint;
  /** Force the 7-bit, 16-bit or 64-bit length form. Default: the shortest. */
  lengthForm?: 7 | 16 | 64;
}

const MASK_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/**
 * buildFrame encodes a frame exactly as told, including what the RFC
 * forbids (reserved bits, unknown opcodes, unmasked client frames, lengths
 * that do not match the payload, 64-bit lengths with the top bit set).
 */
export function buildFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : Buffer.from(spec.payload ?? []);
  const length = BigInt(spec.length ?? payload.length);
  const masked = spec.mask ?? true;
  const form = spec.lengthForm ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const b0 = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) | (spec.opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  let head: Buffer;
  if (form === 7) head = Buffer.from([b0, maskBit | Number(length)]);
  else if (form === 16) {
    head = Buffer.from([b0, maskBit | 126, 0, 0]);
    head.writeUInt16BE(Number(length), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(length, 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  const body = Buffer.from(payload);
  applyMask(body, MASK_KEY, 0);
  return Buffer.concat([head, MASK_KEY, body]);
}

/** closePayload builds a close frame payload from a code and reason bytes (any, even invalid ones). */
export function closePayload(code: number, reason: Uint8Array | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

/** Settings of {@link upgradeRequest}. */
export interface UpgradeRequestOptions {
  /** Host header. Default `127.0.0.1`. */
  host?: string;
  /** Sec-WebSocket-Key. Default: a fresh valid key. */
  key?: string;
  /** Extra header lines, sent in order after the standard ones (repeats allowed). */
  extra?: [string, string][];
  /** Standard headers to leave out, by lower-case name (`sec-websocket-key`, `upgrade`, ...). */
  omit?: string[];
  /** Replace a standard header's value, by lower-case name. */
  set?: Record<string, string>;
}

/** upgradeRequest renders a WebSocket upgrade request head, altered as told. */
export function upgradeRequest(path: string, options: UpgradeRequestOptions = {}): { text: string; key: string } {
  const key = options.key ?? generateKey();
  const standard: [string, string][] = [
    ['host', options.host ?? '127.0.0.1'],
    ['upgrade', 'websocket'],
    ['connection', 'Upgrade'],
    ['sec-websocket-key', key],
    ['sec-websocket-version', '13'],
  ];
  const omit = new Set(options.omit ?? []);
  const lines = [`GET ${path} HTTP/1.1`];
  for (const [name, value] of standard) {
    if (!omit.has(name)) lines.push(`${name}: ${options.set?.[name] ?? value}`);
  }
  for (const [name, value] of options.extra ?? []) lines.push(`${name}: ${value}`);
  return { text: `${lines.join('\r\n')}\r\n\r\n`, key };
}

/** RawClient is one TCP connection to the server under attack. */
export class RawClient {
  readonly socket: net.Socket;
  /** Settles once the TCP connection has closed (both ways, or destroyed). */
  readonly ended: Promise<void>;
  /** Bytes received in all. */
  received = 0;
  #isEnded = false;
  #head: Buffer = Buffer.alloc(0);
  #response: RawResponse | null = null;
  #afterHead: Buffer[] = [];
  #framing = false;
  readonly #parser: FrameParser;
  readonly #frames: RawFrame[] = [];
  #current: { header: FrameHeader; pieces: Buffer[] } | null = null;
  #parseError: Error | null = null;
  /** When set, frames go here instead of the queue that {@link frame} reads (floods: count, do not keep). */
  onFrame: ((frame: RawFrame) => void) | null = null;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.#parser = new FrameParser({
      onFrameHeader: (header) => {
        this.#current = { header, pieces: [] };
      },
      onPayload: (piece) => {
        this.#current!.pieces.push(Buffer.from(piece));
      },
      onFrameEnd: () => {
        const { header, pieces } = this.#current!;
        this.#current = null;
        const frame = { fin: header.fin, rsv1: header.rsv1, opcode: header.opcode, payload: Buffer.concat(pieces) };
        if (this.onFrame) this.onFrame(frame);
        else this.#frames.push(frame);
      },
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    this.ended = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isEnded = true;
        this.#wake();
        resolve();
      }),
    );
  }

  /** connect opens a TCP connection to 127.0.0.1:port. */
  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** True once the TCP connection has closed. */
  get isEnded(): boolean {
    return this.#isEnded;
  }

  /** send writes raw bytes (or a latin-1 string) now; errors surface as the connection ending. */
  send(bytes: Uint8Array | string): void {
    if (!this.socket.destroyed) this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** sendFrame sends a frame built by {@link buildFrame}. */
  sendFrame(spec: FrameSpec): void {
    this.send(buildFrame(spec));
  }

  /** response waits for the HTTP response head. */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    await this.#until(() => this.#response !== null, 'the HTTP response head', timeoutMs);
    return this.#response!;
  }

  /** body waits for the connection to end and returns what followed the response head. */
  async body(timeoutMs = 5000): Promise<string> {
    await this.response(timeoutMs);
    await this.#until(() => this.#isEnded, 'the end of the response', timeoutMs);
    return Buffer.concat(this.#afterHead).toString('utf8');
  }

  /** frame waits for the server's next frame; rejects when the connection ends first. */
  async frame(timeoutMs = 5000): Promise<RawFrame> {
    await this.#until(() => this.#frames.length > 0, 'a frame', timeoutMs, true);
    return this.#frames.shift()!;
  }

  /** closeFrame reads frames until a close frame and returns its code and reason (skipping data frames). */
  async closeFrame(timeoutMs = 5000): Promise<RawClose> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.frame(Math.max(1, deadline - Date.now()));
      if (frame.opcode !== 0x8) continue;
      if (frame.payload.length < 2) return { code: 1005, reason: '' };
      return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') };
    }
  }

  /** waitEnd waits for the TCP connection to close; rejects after `timeoutMs`. */
  waitEnd(timeoutMs = 5000): Promise<void> {
    return this.#until(() => this.#isEnded, 'the connection to close', timeoutMs);
  }

  /** handshake sends an upgrade request for `path` and checks for 101 with the right accept key. */
  async handshake(path: string, options: UpgradeRequestOptions = {}, timeoutMs = 5000): Promise<RawResponse> {
    const { text, key } = upgradeRequest(path, options);
    this.send(text);
    const response = await this.response(timeoutMs);
    if (response.status !== 101) throw new Error(`Upgrade to ${path} got ${response.status}, not 101`);
    if (response.headers['sec-websocket-accept'] !== computeAccept(key)) throw new Error(`Upgrade to ${path}: wrong Sec-WebSocket-Accept`);
    return response;
  }

  /** destroy drops the TCP connection at once (no close frame, no FIN handshake). */
  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.#framing) return this.#parse(chunk);
    if (this.#response !== null) {
      this.#afterHead.push(chunk);
      return this.#wake();
    }
    this.#head = Buffer.concat([this.#head, chunk]);
    const end = this.#head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = this.#head.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) {
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
    }
    this.#response = { status, headers };
    const rest = this.#head.subarray(end + 4);
    this.#head = Buffer.alloc(0);
    if (status === 101) {
      this.#framing = true;
      if (rest.length > 0) this.#parse(rest);
    } else if (rest.length > 0) {
      this.#afterHead.push(rest);
    }
    this.#wake();
  }

  #parse(chunk: Buffer): void {
    try {
      this.#parser.push(chunk);
    } catch (err) {
      this.#parseError = err as Error;
    }
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #until(ready: () => boolean, what: string, timeoutMs: number, failOnEnd = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#parseError) return finish(new Error(`The server sent a malformed frame: ${this.#parseError.message}`));
        if (ready()) return finish();
        if (failOnEnd && this.#isEnded) return finish(new Error(`The connection closed before ${what} arrived`));
      };
      const timer = setTimeout(() => finish(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }
}

/** openRaw connects and completes a WebSocket handshake on `path`, ready for hand-built frames. */
export async function openRaw(port: number, path: string, options: UpgradeRequestOptions = {}): Promise<RawClient> {
  const client = await RawClient.connect(port);
  try {
    await client.handshake(path, options);
  } catch (err) {
    client.destroy();
    throw err;
  }
  return client;
}

/**
 * rawRequest sends `bytes` on a fresh connection and returns the response
 * head and body once the server has closed the connection.
 */
export async function rawRequest(port: number, bytes: Uint8Array | string, timeoutMs = 5000): Promise<RawResponse & { body: string }> {
  const client = await RawClient.connect(port);
  try {
    client.send(bytes);
    const response = await client.response(timeoutMs);
    const body = await client.body(timeoutMs);
    return { ...response, body };
  } finally {
    client.destroy();
  }
}
