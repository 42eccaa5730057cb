/**
 * The whole-frame pass of Connection.receive (src/protocol/whole-frames.ts)
 * against the full parser: the same bytes, fed in reads of random sizes
 * (where whole frames take the pass) and one byte at a time (where nothing
 * can, since a frame header needs two), must give the same events and the
 * same error. The frames are arbitrary: every opcode, extension bits,
 * fragments, masked or not, lengths in any of the three encodings, valid,
 * invalid and cut-off UTF-8, messages over the size limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FUZZ_SEED, fuzzRuns } from 'wskit-testing/bytes';
import { Connection } from '../../src/protocol/index.js';

const MAX_MESSAGE = 200;

/** One frame as a client or server might send it, right or wrong. */
const frame = fc.record({
  fin: fc.boolean(),
  rsv: fc.constantFrom(0, 0, 0, 0, 0x40, 0x20, 0x10),
  opcode: fc.constantFrom(0x1, 0x1, 0x1, 0x2, 0x2, 0x0, 0x8, 0x9, 0xa, 0x3, 0xb),
  /** Whether the mask bit is right for the receiver. */
  rightMask: fc.constantFrom(true, true, true, true, true, true, true, true, true, false),
  encoding: fc.constantFrom<'7' | '16' | '64'>('7', '7', '16', '64'),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 120, maxLength: 260 }),
    // Text-shaped bytes: ASCII with multi-byte sequences, some cut off, some invalid.
    fc.array(fc.constantFrom([0x61], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xe2, 0x82], [0xff], [0xed, 0xa0, 0x80]), { maxLength: 30 }).map((parts) => Uint8Array.from(parts.flat())),
  ),
  key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
});

function encode(f: { fin: boolean; rsv: number; opcode: number; encoding: '7' | '16' | '64'; payload: Uint8Array; key: Uint8Array }, masked: boolean): Buffer {
  const length = f.payload.length;
  // A 7-bit length only fits below 126; a longer payload takes the 16-bit form instead.
  const encoding = f.encoding === '7' && length > 125 ? '16' : f.encoding;
  const head = encoding === '7' ? 2 : encoding === '16' ? 4 : 10;
  const out = Buffer.alloc(head + (masked ? 4 : 0) + length);
  out[0] = (f.fin ? 0x80 : 0) | f.rsv | f.opcode;
  out[1] = (masked ? 0x80 : 0) | (encoding === '7' ? length : encoding === '16' ? 126 : 127);
  if (encoding === '16') out.writeUInt16BE(length, 2);
  if (encoding === '64') out.writeBigUInt64BE(BigInt(length), 2);
  let at = head;
  if (masked) {
    out.set(f.key, at);
    at += 4;
  }
  for (let i = 0; i < length; i++) out[at + i] = f.payload[i]! ^ (masked ? f.key[i & 3]! : 0);
  return out;
}

/** What a Connection made of some bytes: its events, then the error it threw (or none). */
function outcome(role: 'server' | 'client', compression: boolean, reads: Buffer[]): string[] {
  const conn = new Connection({ role, maxMessageSize: MAX_MESSAGE, compression });
  const seen: string[] = [];
  try {
    for (const read of reads) conn.receive(read);
  } catch (err) {
    const e = err as { code?: string; closeCode?: number; message: string };
    seen.push(...conn.events.map(describe), `error ${e.code} ${e.closeCode} ${e.message}`);
    return seen;
  }
  return conn.events.map(describe);
}

function describe(event: Connection['events'][number]): string {
  switch (event.kind) {
    case 'message':
      return `message ${event.type} ${event.compressed} ${event.data.toString('hex')}`;
    case 'close':
      return `close ${event.code} ${event.reason}`;
    default:
      return `${event.kind} ${event.data.toString('hex')}`;
  }
}

/** Splits `bytes` at the given cut points (fractions of its length). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const reads: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    if (point > from) reads.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  reads.push(bytes.subarray(from));
  return reads;
}

test('whole-frame reads give the events and errors that the parser gives byte by byte', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<'server' | 'client'>('server', 'client'),
      fc.boolean(),
      fc.array(frame, { minLength: 1, maxLength: 12 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
      (role, compression, frames, cuts) => {
        const masked = role === 'server';
        const bytes = Buffer.concat(frames.map((f) => encode(f, f.rightMask ? masked : !masked)));
        // Frames are unmasked in place: each run gets its own copy.
        const whole = outcome(role, compression, split(Buffer.from(bytes), cuts));
        const byteByByte = outcome(
          role,
          compression,
          Array.from({ length: bytes.length }, (_, i) => Buffer.from(bytes.subarray(i, i + 1))),
        );
        assert.deepEqual(whole, byteByByte);
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(2000) },
  );
});

test('whole-frame reads take the common case: several one-frame messages in one read', () => {
  const conn = new Connection({ role: 'server', maxMessageSize: MAX_MESSAGE, compression: false });
  const key = Uint8Array.of(1, 2, 3, 4);
  const frames = ['héllo', 'x'.repeat(130), ''].map((text) =>
    encode({ fin: true, rsv: 0, opcode: 0x1, encoding: '7', payload: Buffer.from(text), key }, true),
  );
  conn.receive(Buffer.concat(frames));
  assert.deepEqual(
    conn.events.map((e) => (e.kind === 'message' ? e.data.toString() : e.kind)),
    ['héllo', 'x'.repeat(130), ''],
  );
});
