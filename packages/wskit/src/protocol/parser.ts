/**
 * FrameParser: an incremental frame parser (RFC 6455 §5.2). Feed it bytes in
 * pieces of any size; it calls its handler for each frame header, each piece
 * of unmasked payload as it arrives, and each frame's end. A frame that
 * arrives whole is never copied: its payload is unmasked in place and handed
 * on as a view into the input. A masked frame that spans reads is unmasked
 * as it is copied into one buffer of its length, and its pieces are
 * consecutive views into that buffer.
 */
import { ProtocolError } from '../errors.js';
import { CloseCode } from '../constants.js';
import type { FrameHeader } from './frame.js';
import { applyMask, maskInto } from './mask.js';

/** What the parser reports to. A handler may throw a ProtocolError to stop parsing. */
export interface FrameHandler {
  /** A frame header was read; the payload follows. */
  onFrameHeader(header: FrameHeader): void;
  /**
   * A piece of the current frame's payload, already unmasked. Pieces of one
   * frame that spans reads lie back to back in one buffer, so a handler may
   * join them by widening the view instead of copying.
   */
  onPayload(piece: Buffer): void;
  /** The current frame's payload is complete. */
  onFrameEnd(): void;
}

/** Largest payload length we accept from a 64-bit length field: the largest exact JS integer. */
const MAX_LENGTH = Number.MAX_SAFE_INTEGER;

/** FrameParser splits a byte stream into frames for its {@link FrameHandler}. */
export class FrameParser {
  readonly #handler: FrameHandler;
  /**
   * Input not yet consumed: `#first` (possibly partly consumed), then
   * `#rest` in order. Nearly always one chunk or none is waiting, so the
   * usual case needs no array (an idle connection holds none).
   */
  #first: Buffer | null = null;
  #rest: Buffer[] | null = null;
  #offset = 0;
  #buffered = 0;
  /** Payload bytes left in the current frame, or -1 while reading a header. */
  #remaining = -1;
  #mask: Uint8Array | null = null;
  #phase = 0;
  /** Where a masked frame that spans reads is unmasked into (filled up to its length less #remaining). */
  #frame: Buffer | null = null;
  #stopped = false;

  constructor(handler: FrameHandler) {
    this.#handler = handler;
  }

  /** True once parsing stopped (after an error or {@link stop}); later input is ignored. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** True between frames with no input waiting: the next byte given starts a frame header. */
  get idle(): boolean {
    return this.#remaining < 0 && this.#buffered === 0 && !this.#stopped;
  }

  /** Stop parsing: after a close frame or an error nothing more is read (RFC 6455 §5.5.1). */
  stop(): void {
    this.#stopped = true;
    this.#first = null;
    this.#rest = null;
    this.#buffered = 0;
    this.#frame = null;
  }

  /**
   * Parse `chunk`. Throws the ProtocolError that a frame broke (or that the
   * handler threw); parsing then stops for good.
   */
  push(chunk: Buffer): void {
    if (this.#stopped || chunk.length === 0) return;
    if (this.#first === null) this.#first = chunk;
    else (this.#rest ??= []).push(chunk);
    this.#buffered += chunk.length;
    try {
      this.#run();
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  #run(): void {
    while (!this.#stopped) {
      if (this.#remaining < 0) {
        if (!this.#readHeader()) return;
        if (this.#remaining === 0) this.#endFrame();
      } else {
        if (this.#buffered === 0) return;
        this.#readPayload();
      }
    }
  }

  /** Read a whole header if the bytes are there; false if more input is needed. */
  #readHeader(): boolean {
    if (this.#buffered < 2) return false;
    const b0 = this.#peek(0);
    const b1 = this.#peek(1);
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const size = 2 + extra + (masked ? 4 : 0);
    if (this.#buffered < size) return false;
    // A header that lies in one chunk (nearly all) is read where it is; one split across chunks is copied first.
    const first = this.#first!;
    let head = first;
    let at = this.#offset;
    if (first.length - at >= size) this.#advance(size);
    else {
      head = this.#take(size);
      at = 0;
    }
    let length = len7;
    if (len7 === 126) {
      length = (head[at + 2]! << 8) | head[at + 3]!;
    } else if (len7 === 127) {
      const high = head.readUInt32BE(at + 2);
      const low = head.readUInt32BE(at + 6);
      if (high & 0x80000000) {
        // RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0.
        throw new ProtocolError('ERR_INVALID_LENGTH', 'Invalid frame: the 64-bit payload length has its top bit set');
      }
      length = high * 0x1_0000_0000 + low;
      if (length > MAX_LENGTH) {
        throw new ProtocolError(
          'ERR_MESSAGE_TOO_BIG',
          `Frame length ${length} bytes is beyond any supported size`,
          CloseCode.MessageTooBig,
        );
      }
    }
    const mask = masked ? head.subarray(at + 2 + extra, at + 6 + extra) : null;
    const header: FrameHeader = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      mask,
      length,
    };
    this.#handler.onFrameHeader(header);
    this.#remaining = length;
    this.#mask = mask;
    this.#phase = 0;
    return true;
  }

  #readPayload(): void {
    const first = this.#first!;
    const available = first.length - this.#offset;
    const size = Math.min(available, this.#remaining);
    let piece = first.subarray(this.#offset, this.#offset + size);
    this.#advance(size);
    const mask = this.#mask;
    if (mask !== null) {
      if (this.#frame !== null || size < this.#remaining) {
        // Sized from a header the handler has already accepted, so the limit was checked.
        const frame = (this.#frame ??= Buffer.allocUnsafe(this.#remaining));
        const filled = frame.length - this.#remaining;
        const target = frame.subarray(filled, filled + size);
        maskInto(piece, target, mask, this.#phase);
        piece = target;
      } else {
        applyMask(piece, mask, this.#phase);
      }
      this.#phase = (this.#phase + size) & 3;
    }
    this.#remaining -= size;
    this.#handler.onPayload(piece);
    if (this.#remaining === 0) this.#endFrame();
  }

  #endFrame(): void {
    this.#remaining = -1;
    this.#mask = null;
    this.#frame = null;
    this.#handler.onFrameEnd();
  }

  #peek(index: number): number {
    let i = this.#offset + index;
    const first = this.#first!;
    if (i < first.length) return first[i]!;
    i -= first.length;
    for (const chunk of this.#rest ?? []) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError('peek beyond buffered input');
  }

  /** Consume `size` bytes (a header split across chunks: at most 14) as one buffer, copied. */
  #take(size: number): Buffer {
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.#first!;
      const n = Math.min(chunk.length - this.#offset, size - filled);
      chunk.copy(out, filled, this.#offset, this.#offset + n);
      filled += n;
      this.#advance(n);
    }
    return out;
  }

  #advance(n: number): void {
    this.#offset += n;
    this.#buffered -= n;
    if (this.#offset === this.#first!.length) {
      const rest = this.#rest;
      this.#first = rest === null ? null : rest.shift()!;
      // Dropped once empty, so an idle connection holds no array.
      if (rest !== null && rest.length === 0) this.#rest = null;
      this.#offset = 0;
    }
  }
}
