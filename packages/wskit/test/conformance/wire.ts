/**
 * Wire helpers for the conformance fuzzer: frames built byte by byte (any
 * opcode, any RSV bit, masked or not) and a reader that turns a raw socket's
 * bytes into frames with wskit's FrameParser, which only splits frames and
 * judges nothing, so the fuzzer sees exactly what the peer sent.
 */
import type { Duplex } from 'node:stream';
import { encodeFrameBuffer } from '../../src/protocol/frame.js';
import { FrameParser } from '../../src/protocol/parser.js';
import type { FrameHeader } from '../../src/protocol/frame.js';

/** A frame as it went over the wire, payload unmasked. */
export interface WireFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Bits of a frame to build; everything unset gives a final frame with no RSV bit. */
export interface FrameBits {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
}

/** buildFrame encodes one frame, masked when `mask` (a client's frame), with any RSV bits. */
export function buildFrame(opcode: number, payload: Uint8Array, mask: boolean, bits: FrameBits = {}): Buffer {
  const frame = encodeFrameBuffer(opcode, payload, { fin: bits.fin ?? true, rsv1: bits.rsv1 ?? false, mask });
  // encodeFrame knows RSV1 only (the one bit an extension defines); RSV2/3 are set here by hand.
  if (bits.rsv2) frame[0]! |= 0x20;
  if (bits.rsv3) frame[0]! |= 0x10;
  return frame;
}

/** How a wait for the next frame ended without one. */
export const ENDED = Symbol('ended');

/**
 * FrameReader collects the frames a socket delivers. `next(ms)` resolves
 * with the next frame, with {@link ENDED} once the peer closed TCP (or the
 * socket closed), and rejects when nothing came within `ms`.
 */
export class FrameReader {
  readonly #frames: WireFrame[] = [];
  readonly #parser: FrameParser;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #header: FrameHeader | null = null;
  #pieces: Buffer[] = [];

  constructor(socket: Duplex, leftover: Buffer) {
    this.#parser = new FrameParser({
      onFrameHeader: (header) => {
        this.#header = header;
        this.#pieces = [];
      },
      // Pieces are views into the socket's chunk: copy before keeping.
      onPayload: (piece) => this.#pieces.push(Buffer.from(piece)),
      onFrameEnd: () => {
        const h = this.#header!;
        this.#frames.push({
          fin: h.fin,
          rsv1: h.rsv1,
          rsv2: h.rsv2,
          rsv3: h.rsv3,
          opcode: h.opcode,
          masked: h.mask !== null,
          payload: Buffer.concat(this.#pieces),
        });
        this.#pieces = [];
        this.#notify();
      },
    });
    const feed = (chunk: Buffer) => {
      try {
        this.#parser.push(chunk);
      } catch (err) {
        this.#error = new Error(`Peer sent bytes that are not frames: ${(err as Error).message}`);
        this.#notify();
      }
    };
    socket.on('data', feed);
    socket.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
    if (leftover.length > 0) feed(leftover);
    socket.resume();
  }

  /** True once the peer closed its side of TCP (or the socket closed). */
  get ended(): boolean {
    return this.#ended;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The next frame, or ENDED once TCP ended with no frame left; rejects after `ms` with nothing. */
  async next(ms: number, what = 'a frame'): Promise<WireFrame | typeof ENDED> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.#error) throw this.#error;
      const frame = this.#frames.shift();
      if (frame) return frame;
      if (this.#ended) return ENDED;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** describeFrame names a frame for failure messages: "text fin=1 rsv1=0 len=5". */
export function describeFrame(frame: WireFrame | typeof ENDED): string {
  if (frame === ENDED) return 'the end of the TCP connection';
  const names: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
  const name = names[frame.opcode] ?? `opcode 0x${frame.opcode.toString(16)}`;
  let detail = `${name} frame (fin=${Number(frame.fin)} rsv1=${Number(frame.rsv1)} length ${frame.payload.length}`;
  if (frame.opcode === 8 && frame.payload.length >= 2) {
    detail += `, code ${frame.payload.readUInt16BE(0)} ${JSON.stringify(frame.payload.subarray(2).toString())}`;
  }
  return `${detail})`;
}
