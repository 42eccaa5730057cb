/**
 * Frame encoding (RFC 6455 §5.2). Pure functions: bytes out, no socket.
 */
import { randomFillSync } from 'node:crypto';
import { maskInto } from './mask.js';

/** What a frame header says, as the parser reports it and the encoder takes it. */
export interface FrameHeader {
  /** This is the last frame of its message. */
  fin: boolean;
  /** RSV1: set on the first frame of a permessage-deflate compressed message (RFC 7692 §6). */
  rsv1: boolean;
  /** RSV2: no extension wskit knows uses it; must be clear. */
  rsv2: boolean;
  /** RSV3: no extension wskit knows uses it; must be clear. */
  rsv3: boolean;
  /** The frame's opcode, one of `Opcode`. */
  opcode: number;
  /** The masking key, or null for an unmasked frame. */
  mask: Uint8Array | null;
  /** Payload length in bytes. */
  length: number;
}

/** Options for {@link encodeFrame}. */
export interface EncodeOptions {
  /** Final fragment of its message. Default true. */
  fin?: boolean;
  /** RSV1: set on the first frame of a compressed message (RFC 7692 §6). Default false. */
  rsv1?: boolean;
  /** Mask the payload (every client frame, RFC 6455 §5.3). Default false. */
  mask?: boolean;
  /** Use this key instead of a random one (tests only). */
  maskKey?: Uint8Array;
}

/** Random bytes for mask keys, drawn 8 KiB at a time: one system call per 2,048 frames, not one per frame. */
const keyPool = Buffer.allocUnsafe(8192);
let keyOffset = keyPool.length;

/** nextMaskKey returns a fresh 4-byte masking key (RFC 6455 §5.3: unpredictable, from a strong source). */
function nextMaskKey(): Buffer {
  if (keyOffset === keyPool.length) {
    randomFillSync(keyPool);
    keyOffset = 0;
  }
  keyOffset += 4;
  return keyPool.subarray(keyOffset - 4, keyOffset);
}

/** Payloads up to this size are copied next to their header so one write carries the frame. */
export const COPY_PAYLOAD_MAX = 16 * 1024;

/** headerLength is the size of a frame header for a payload length. */
export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}

/** writeHeader writes a frame header into `target` at `offset` and returns the offset after it. */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  payloadLength: number,
  fin: boolean,
  rsv1: boolean,
  maskKey: Uint8Array | null,
): number {
  target[offset++] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = maskKey ? 0x80 : 0;
  if (payloadLength < 126) {
    target[offset++] = maskBit | payloadLength;
  } else if (payloadLength < 65536) {
    target[offset++] = maskBit | 126;
    target[offset++] = payloadLength >>> 8;
    target[offset++] = payloadLength & 0xff;
  } else {
    target[offset++] = maskBit | 127;
    // 64-bit length, most significant bit 0 (RFC 6455 §5.2).
    const high = Math.floor(payloadLength / 0x1_0000_0000);
    const low = payloadLength >>> 0;
    target[offset++] = (high >>> 24) & 0xff;
    target[offset++] = (high >>> 16) & 0xff;
    target[offset++] = (high >>> 8) & 0xff;
    target[offset++] = high & 0xff;
    target[offset++] = (low >>> 24) & 0xff;
    target[offset++] = (low >>> 16) & 0xff;
    target[offset++] = (low >>> 8) & 0xff;
    target[offset++] = low & 0xff;
  }
  if (maskKey) {
    target[offset++] = maskKey[0]!;
    target[offset++] = maskKey[1]!;
    target[offset++] = maskKey[2]!;
    target[offset++] = maskKey[3]!;
  }
  return offset;
}

/**
 * encodeFrame returns a frame's bytes as one buffer, or as header and payload
 * when the payload is large and unmasked (so it is written without a copy).
 * The caller's payload is never modified: a masked frame masks a copy.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, options: EncodeOptions = {}): Buffer[] {
  const fin = options.fin ?? true;
  const rsv1 = options.rsv1 ?? false;
  const masked = options.mask ?? false;
  let key: Uint8Array | null = null;
  if (masked) {
    key = options.maskKey ?? nextMaskKey();
  }
  const length = payload.length;
  if (masked || length <= COPY_PAYLOAD_MAX) return [encodeWhole(opcode, payload, fin, rsv1, key)];
  const header = Buffer.allocUnsafe(headerLength(length, false));
  writeHeader(header, 0, opcode, length, fin, rsv1, null);
  return [header, Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, length)];
}

/**
 * encodeWhole returns a frame as one buffer, its payload copied after the
 * header (and masked with `key` when given): what {@link encodeFrame} does
 * for every masked frame and every payload up to {@link COPY_PAYLOAD_MAX},
 * without the options object and array, for a writer that knows it is in
 * that case.
 */
export function encodeWhole(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean, key: Uint8Array | null): Buffer {
  const length = payload.length;
  const frame = Buffer.allocUnsafe(headerLength(length, key !== null) + length);
  const start = writeHeader(frame, 0, opcode, length, fin, rsv1, key);
  if (key) maskInto(payload, frame.subarray(start), key, 0);
  else frame.set(payload, start);
  return frame;
}

/** encodeFrameBuffer is {@link encodeFrame} joined into one buffer (tests, prepared messages). */
export function encodeFrameBuffer(opcode: number, payload: Uint8Array, options: EncodeOptions = {}): Buffer {
  const parts = encodeFrame(opcode, payload, options);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
