/**
 * Fuzzer: one end of a conformance case, played over a raw socket (or the
 * HTTP/2 stream of an extended CONNECT, RFC 8441, whose END_STREAM stands
 * for TCP's FIN) against the implementation under test, as
 * Autobahn|Testsuite's fuzzer does. The same scripts run with the fuzzer as
 * client (testing our server) and as server (testing our client): only
 * masking and who closes TCP first differ.
 *
 * Every frame the peer sends is checked too (masking, RSV bits, control
 * frame rules), and every expectation is strict: the next frame must be the
 * one expected, so an extra pong or a late echo fails the case.
 */
import type { Duplex } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { PeerDeflater, PeerInflater, type DeflateSide } from './deflate-peer.js';
import { buildFrame, describeFrame, ENDED, type FrameBits, FrameReader, type WireFrame } from './wire.js';

/** Opcodes, spelled out here so cases read as the RFC does. */
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** Close code meaning "a close frame with an empty payload". */
export const EMPTY_CLOSE = 1005;

/** The agreed compression, seen from the fuzzer: how it compresses and how the peer does. */
export interface AgreedDeflate {
  own: DeflateSide;
  peer: DeflateSide;
}

/** Options of {@link Fuzzer.sendMessage}. */
export interface SendMessageOptions {
  /** Split the (possibly compressed) payload into frames of this many bytes. Default: one frame. */
  fragmentSize?: number;
  /** Compress with the agreed permessage-deflate. Default false. */
  compress?: boolean;
  /** Write the bytes in pieces of this size, each its own socket write. Default: one write. */
  chop?: number;
}

/** The byte stream a fuzzer plays over: a TCP socket, or an HTTP/2 stream (which has no Nagle switch of its own). */
export type FuzzerSocket = Duplex & { setNoDelay?(noDelay?: boolean): unknown };

/** Fuzzer drives one connection of a case. */
export class Fuzzer {
  /** Which end the fuzzer plays: 'client' when testing a server. */
  readonly role: 'client' | 'server';
  /** The agreed compression, or null. */
  readonly deflate: AgreedDeflate | null;
  /** Default wait for each expected frame, in ms. */
  timeoutMs: number;
  readonly #socket: FuzzerSocket;
  readonly #reader: FrameReader;
  readonly #deflater: PeerDeflater | null;
  readonly #inflater: PeerInflater | null;
  #closeSent = false;
  #finished = false;
  /** Messages received so far with RSV1 set (compressed by the peer). */
  compressedReceived = 0;
  #socketClosed: Promise<unknown>;

  constructor(socket: FuzzerSocket, role: 'client' | 'server', leftover: Buffer, deflate: AgreedDeflate | null, timeoutMs = 5000) {
    this.#socket = socket;
    this.role = role;
    this.deflate = deflate;
    this.timeoutMs = timeoutMs;
    this.#reader = new FrameReader(socket, leftover);
    this.#deflater = deflate ? new PeerDeflater(deflate.own) : null;
    this.#inflater = deflate ? new PeerInflater(deflate.peer) : null;
    this.#socketClosed = socket.destroyed ? Promise.resolve() : once(socket, 'close');
    socket.setNoDelay?.(true);
    socket.on('error', () => {
      // A peer that resets the connection shows up as ENDED in the reader.
    });
  }

  /** True once the case ended the connection through a closing handshake. */
  get finished(): boolean {
    return this.#finished;
  }

  // ---- sending ----

  /** frame builds one frame as this end must send it (masked when the fuzzer is the client). */
  frame(opcode: number, payload: Uint8Array | string = '', bits: FrameBits = {}): Buffer {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return buildFrame(opcode, bytes, this.role === 'client', bits);
  }

  /** send writes one frame. */
  send(opcode: number, payload: Uint8Array | string = '', bits: FrameBits = {}): Promise<void> {
    return this.sendRaw(this.frame(opcode, payload, bits));
  }

  /** sendRaw writes bytes as they are; with `chop`, in pieces of that size, each flushed before the next. */
  async sendRaw(bytes: Uint8Array, chop = 0): Promise<void> {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    if (chop <= 0 || chop >= bytes.length) {
      await this.#write(bytes);
      return;
    }
    for (let at = 0; at < bytes.length && this.#socket.writable; at += chop) {
      await this.#write(bytes.subarray(at, at + chop));
    }
  }

  #write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      // A peer that already failed the connection may reset it: that is its answer, not our error.
      this.#socket.write(bytes, () => resolve());
    });
  }

  /** sendMessage sends a whole text or binary message, fragmented and compressed as asked. */
  async sendMessage(type: 'text' | 'binary', data: Uint8Array | string, options: SendMessageOptions = {}): Promise<void> {
    let payload: Buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const compress = options.compress ?? false;
    if (compress) {
      if (!this.#deflater) throw new Error('Case asked to compress but permessage-deflate was not agreed');
      payload = await this.#deflater.compress(payload);
    }
    const size = options.fragmentSize ?? 0;
    const opcode = type === 'text' ? OP.TEXT : OP.BINARY;
    if (size <= 0 || payload.length <= size) {
      await this.sendRaw(this.frame(opcode, payload, { rsv1: compress }), options.chop);
      return;
    }
    const frames: Buffer[] = [];
    for (let at = 0; at < payload.length; at += size) {
      const last = at + size >= payload.length;
      frames.push(this.frame(at === 0 ? opcode : OP.CONT, payload.subarray(at, at + size), { fin: last, rsv1: compress && at === 0 }));
    }
    await this.sendRaw(Buffer.concat(frames), options.chop);
  }

  /** compress gives the agreed deflate encoding of `data` (for cases that frame it by hand). */
  compress(data: Uint8Array): Promise<Buffer> {
    if (!this.#deflater) throw new Error('permessage-deflate was not agreed');
    return this.#deflater.compress(Buffer.from(data));
  }

  /** close starts the closing handshake: send a close frame (code 1005 = empty payload). */
  sendClose(code: number = 1000, reason: string | Uint8Array = ''): Promise<void> {
    this.#closeSent = true;
    return this.send(OP.CLOSE, closePayload(code, reason));
  }

  // ---- expecting ----

  async #next(what: string, timeoutMs = this.timeoutMs): Promise<WireFrame | typeof ENDED> {
    const frame = await this.#reader.next(timeoutMs, what);
    if (frame !== ENDED) this.#checkFrame(frame);
    return frame;
  }

  /** The peer's own frames must follow the RFC whatever we sent. */
  #checkFrame(frame: WireFrame): void {
    const peerIsClient = this.role === 'server';
    if (frame.masked !== peerIsClient) {
      throw new Error(`Peer sent a ${frame.masked ? 'masked' : 'unmasked'} ${describeFrame(frame)}: a ${peerIsClient ? 'client' : 'server'} must ${peerIsClient ? '' : 'not '}mask`);
    }
    if (frame.rsv2 || frame.rsv3) throw new Error(`Peer set RSV2/RSV3 on ${describeFrame(frame)}`);
    if (frame.opcode >= 8) {
      if (!frame.fin || frame.payload.length > 125 || frame.rsv1) throw new Error(`Peer sent an invalid control frame: ${describeFrame(frame)}`);
      if (frame.opcode > OP.PONG) throw new Error(`Peer sent an unknown opcode: ${describeFrame(frame)}`);
    } else if (frame.opcode > OP.BINARY) {
      throw new Error(`Peer sent an unknown opcode: ${describeFrame(frame)}`);
    }
    if (frame.rsv1 && (this.deflate === null || frame.opcode === OP.CONT)) {
      throw new Error(`Peer set RSV1 ${this.deflate ? 'on a continuation frame' : 'without permessage-deflate'}: ${describeFrame(frame)}`);
    }
  }

  /**
   * expectMessage reads the next message (all its fragments) and requires it
   * to be `type` with exactly `data`.
   */
  async expectMessage(type: 'text' | 'binary', data: Uint8Array | string, timeoutMs = this.timeoutMs): Promise<void> {
    const expected = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const what = `the echo of a ${expected.length}-byte ${type} message`;
    const first = await this.#next(what, timeoutMs);
    if (first === ENDED || (first.opcode !== OP.TEXT && first.opcode !== OP.BINARY)) {
      throw new Error(`Expected ${what}, got ${describeFrame(first)}`);
    }
    const pieces = [first.payload];
    let last = first;
    while (!last.fin) {
      const frame = await this.#next(`the next fragment of ${what}`, timeoutMs);
      if (frame === ENDED || frame.opcode !== OP.CONT) {
        throw new Error(`Expected a continuation of ${what}, got ${describeFrame(frame)}`);
      }
      pieces.push(frame.payload);
      last = frame;
    }
    let payload: Buffer = Buffer.concat(pieces);
    if (first.rsv1) {
      this.compressedReceived++;
      payload = await this.#inflater!.decompress(payload);
    }
    const gotType = first.opcode === OP.TEXT ? 'text' : 'binary';
    if (gotType !== type) throw new Error(`Expected ${what}, got a ${gotType} message of ${payload.length} bytes`);
    if (!payload.equals(expected)) {
      let at = 0;
      while (at < payload.length && at < expected.length && payload[at] === expected[at]) at++;
      throw new Error(`Echo of ${what} differs: got ${payload.length} bytes, first difference at byte ${at}`);
    }
  }

  /** expectPong requires the next frame to be a pong carrying `data`. */
  async expectPong(data: Uint8Array | string = ''): Promise<void> {
    const expected = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const frame = await this.#next(`a pong of ${expected.length} bytes`);
    if (frame === ENDED || frame.opcode !== OP.PONG) throw new Error(`Expected a pong of ${expected.length} bytes, got ${describeFrame(frame)}`);
    if (!frame.payload.equals(expected)) throw new Error(`Pong payload differs from the ping's (${frame.payload.length} bytes, expected ${expected.length})`);
  }

  /**
   * expectClose requires the next frame to be a close with one of `codes`
   * (1005: empty payload), then finishes the closing handshake: answer it
   * if we have not sent a close, and see TCP end in the RFC's order (the
   * server closes first). The case passes only if all of that happens.
   */
  async expectClose(codes: number | readonly number[], timeoutMs = this.timeoutMs): Promise<{ code: number; reason: string }> {
    const allowed = typeof codes === 'number' ? [codes] : codes;
    const what = `a close frame with code ${allowed.join(' or ')}`;
    const frame = await this.#next(what, timeoutMs);
    if (frame === ENDED || frame.opcode !== OP.CLOSE) throw new Error(`Expected ${what}, got ${describeFrame(frame)}`);
    if (frame.payload.length === 1) throw new Error('Peer sent a close frame with a 1-byte payload');
    const code = frame.payload.length === 0 ? EMPTY_CLOSE : frame.payload.readUInt16BE(0);
    const reasonBytes = frame.payload.subarray(2);
    if (!isUtf8(reasonBytes)) throw new Error('Peer sent a close reason that is not UTF-8');
    if (!allowed.includes(code)) throw new Error(`Expected ${what}, got ${describeFrame(frame)}`);
    if (!this.#closeSent) {
      // RFC 6455 §5.5.1: answer with a close, echoing the code.
      this.#closeSent = true;
      await this.sendRaw(this.frame(OP.CLOSE, frame.payload.subarray(0, 2)));
    }
    await this.#endTcp();
    return { code, reason: reasonBytes.toString('utf8') };
  }

  /** closeNormally runs a closing handshake we start; the peer must echo one of `codes`. */
  async closeNormally(code = 1000, reason = '', codes: readonly number[] = [code]): Promise<void> {
    await this.sendClose(code, reason);
    await this.expectClose(codes);
  }

  async #endTcp(): Promise<void> {
    if (this.role === 'client') {
      // RFC 6455 §7.1.1: the server closes the TCP connection first.
      const frame = await this.#reader.next(this.timeoutMs, 'the server to close TCP after the closing handshake');
      if (frame !== ENDED) throw new Error(`Peer sent ${describeFrame(frame)} after the closing handshake`);
      this.#socket.end();
    } else {
      this.#socket.end();
      const frame = await this.#reader.next(this.timeoutMs, 'the client to close TCP after the closing handshake');
      if (frame !== ENDED) throw new Error(`Peer sent ${describeFrame(frame)} after the closing handshake`);
    }
    await withTimeout(this.#socketClosed, this.timeoutMs, 'the TCP connection to close');
    this.#finished = true;
  }

  /** destroy drops the socket (cleanup after a failed case). */
  destroy(): void {
    this.#socket.destroy();
    this.#deflater?.close();
    this.#inflater?.close();
  }
}

/** closePayload builds a close frame payload; code 1005 gives an empty one. */
export function closePayload(code: number, reason: string | Uint8Array = ''): Buffer {
  if (code === EMPTY_CLOSE) return Buffer.alloc(0);
  const reasonBytes = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : Buffer.from(reason);
  const out = Buffer.alloc(2 + reasonBytes.length);
  out.writeUInt16BE(code, 0);
  reasonBytes.copy(out, 2);
  return out;
}

/** withTimeout rejects when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
