/**
 * Byte helpers for the bytes-in, bytes-out tests of the protocol core: hex
 * fixtures, the three ways every parser test feeds its input (whole, halved,
 * one byte at a time), splitting at chosen points, and the fast-check run
 * count.
 */

/** hex turns `'81 05 48 65'` (spaces and line breaks ignored) into bytes. */
export function hex(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new TypeError(`Not a hex fixture: ${JSON.stringify(text)}`);
  return Buffer.from(digits, 'hex');
}

/** toHex renders bytes as space-separated pairs, for readable assertion failures. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

/** One way of delivering input: its name (for test output) and the pieces in order. */
export interface Delivery {
  name: 'whole' | 'halved' | 'bytewise';
  pieces: Buffer[];
}

/**
 * threeWays returns the input delivered whole, in two halves and one byte at
 * a time. Every piece is a fresh copy: the parser unmasks payload in place,
 * so each delivery must start from pristine bytes.
 */
export function threeWays(bytes: Uint8Array): Delivery[] {
  const half = bytes.length >> 1;
  const bytewise: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) bytewise.push(Buffer.from([bytes[i]!]));
  return [
    { name: 'whole', pieces: [Buffer.from(bytes)] },
    { name: 'halved', pieces: [Buffer.from(bytes.subarray(0, half)), Buffer.from(bytes.subarray(half))] },
    { name: 'bytewise', pieces: bytewise },
  ];
}

/**
 * splitAt cuts a copy of `bytes` at the given offsets (any order, duplicates
 * and out-of-range offsets ignored), so pieces are never empty.
 */
export function splitAt(bytes: Uint8Array, offsets: readonly number[]): Buffer[] {
  const cuts = [...new Set(offsets.filter((o) => o > 0 && o < bytes.length))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    pieces.push(Buffer.from(bytes.subarray(start, cut)));
    start = cut;
  }
  if (start < bytes.length || bytes.length === 0) pieces.push(Buffer.from(bytes.subarray(start)));
  return pieces;
}

/** concat joins byte arrays (and arrays of them, as encodeFrame returns) into one buffer. */
export function concat(...parts: (Uint8Array | readonly Uint8Array[])[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => (p instanceof Uint8Array ? [p] : [...p])));
}

/**
 * fuzzRuns is the fast-check run count for a property: `normal` for the
 * everyday test run, or the value of env `WSKIT_FUZZ_RUNS` when that is set
 * higher (for long fuzzing sessions).
 */
export function fuzzRuns(normal: number): number {
  const wanted = Number(process.env['WSKIT_FUZZ_RUNS'] ?? '');
  return Number.isInteger(wanted) && wanted > normal ? wanted : normal;
}

/** The fixed seed of every property, so a failure reproduces; fast-check prints the path to replay. */
export const FUZZ_SEED = 42;

/** The masking key of RFC 6455 §5.7's examples, used for every masked fixture. */
export const RFC_KEY: Uint8Array = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/**
 * frameBytes builds a frame by hand, independent of the encoder under test:
 * `b0` is the first byte as sent (FIN, RSV1–3, opcode), the length takes the
 * shortest form, and with a `key` the payload is masked with it.
 */
export function frameBytes(b0: number, payload: Uint8Array, key: Uint8Array | null = null): Buffer {
  const length = payload.length;
  const head: number[] = [b0];
  if (length < 126) head.push(length);
  else if (length < 65536) head.push(126, length >>> 8, length & 0xff);
  else {
    const high = Math.floor(length / 0x1_0000_0000);
    head.push(127, 0, 0, (high >>> 8) & 0xff, high & 0xff);
    head.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  const body = Buffer.from(payload);
  if (key) {
    head[1]! |= 0x80;
    head.push(...key);
    for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/** A deterministic payload of any size, cheaper than drawing every byte from fast-check. */
export function filled(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
