import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloseCode } from '../../src/constants.js';
import { ProtocolError } from '../../src/errors.js';
import { encodeFrame, type FrameHeader } from '../../src/protocol/frame.js';
import { type FrameHandler, FrameParser } from '../../src/protocol/parser.js';
import { FUZZ_SEED, RFC_KEY, concat, filled, frameBytes, fuzzRuns, hex, splitAt, threeWays } from 'wskit-testing/bytes';

/** A frame as the parser reported it, with copies of the key and the joined payload. */
interface Parsed {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  mask: string | null;
  length: number;
  payload: Buffer;
}

/** Records what the parser reports, checking the calls come in header, payload…, end order. */
class Recorder implements FrameHandler {
  readonly frames: Parsed[] = [];
  readonly pieces: Buffer[] = [];
  #open: Parsed | null = null;
  #parts: Buffer[] = [];

  onFrameHeader(h: FrameHeader): void {
    assert.equal(this.#open, null, 'a header arrived inside a frame');
    this.#open = {
      fin: h.fin,
      rsv1: h.rsv1,
      rsv2: h.rsv2,
      rsv3: h.rsv3,
      opcode: h.opcode,
      mask: h.mask ? Buffer.from(h.mask).toString('hex') : null,
      length: h.length,
      payload: Buffer.alloc(0),
    };
  }
  onPayload(piece: Buffer): void {
    assert.notEqual(this.#open, null, 'payload outside a frame');
    assert.ok(piece.length > 0, 'an empty payload piece');
    this.pieces.push(piece);
    this.#parts.push(Buffer.from(piece));
  }
  onFrameEnd(): void {
    const frame = this.#open!;
    frame.payload = Buffer.concat(this.#parts);
    assert.equal(frame.payload.length, frame.length);
    this.frames.push(frame);
    this.#open = null;
    this.#parts = [];
  }
}

function parse(pieces: readonly Buffer[]): Parsed[] {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder);
  for (const piece of pieces) parser.push(piece);
  return recorder.frames;
}

function frame(opcode: number, payload: string | Buffer, extra: Partial<Parsed> = {}): Parsed {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, mask: null, length: bytes.length, payload: bytes, ...extra };
}

const FIXTURES: { name: string; bytes: Buffer; frames: Parsed[] }[] = [
  { name: 'a single-frame unmasked "Hello"', bytes: hex('81 05 48 65 6c 6c 6f'), frames: [frame(1, 'Hello')] },
  {
    name: 'a single-frame masked "Hello"',
    bytes: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'),
    frames: [frame(1, 'Hello', { mask: '37fa213d' })],
  },
  {
    name: 'a fragmented unmasked "Hello"',
    bytes: hex('01 03 48 65 6c 80 02 6c 6f'),
    frames: [frame(1, 'Hel', { fin: false }), frame(0, 'lo')],
  },
  {
    name: 'an unmasked ping and a masked pong',
    bytes: hex('89 05 48 65 6c 6c 6f 8a 85 37 fa 21 3d 7f 9f 4d 51 58'),
    frames: [frame(9, 'Hello'), frame(10, 'Hello', { mask: '37fa213d' })],
  },
  {
    name: 'a 256-byte binary frame with a 16-bit length',
    bytes: concat(hex('82 7e 01 00'), Buffer.alloc(256, 0xab)),
    frames: [frame(2, Buffer.alloc(256, 0xab))],
  },
  {
    name: 'a 64 KiB binary frame with a 64-bit length',
    bytes: concat(hex('82 7f 00 00 00 00 00 01 00 00'), Buffer.alloc(65536, 0xcd)),
    frames: [frame(2, Buffer.alloc(65536, 0xcd))],
  },
  { name: 'an empty frame', bytes: hex('82 00'), frames: [frame(2, '')] },
  { name: 'an empty masked frame', bytes: hex('81 80 37 fa 21 3d'), frames: [frame(1, '', { mask: '37fa213d' })] },
  {
    name: 'RSV bits and an unknown opcode, reported as they are (the Connection judges them)',
    bytes: hex('f3 01 00 0b 00'),
    frames: [frame(3, hex('00'), { rsv1: true, rsv2: true, rsv3: true }), frame(11, '', { fin: false })],
  },
];

for (const fixture of FIXTURES) {
  test(`FrameParser parses ${fixture.name}, fed whole, halved and byte by byte`, () => {
    // The 64 KiB fixture byte by byte is 65 546 pushes: cheap enough to keep.
    for (const way of threeWays(fixture.bytes)) assert.deepEqual(parse(way.pieces), fixture.frames, way.name);
  });
}

test('FrameParser reports a header as soon as it is complete, before any payload', () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder);
  let seen: FrameHeader | null = null;
  recorder.onFrameHeader = (h) => {
    seen = h;
  };
  parser.push(hex('82 7f 00 00 00 00 40 00'));
  assert.equal(seen, null, 'a 64-bit length is not complete after 8 bytes');
  parser.push(hex('00 00'));
  assert.equal((seen as FrameHeader | null)?.length, 2 ** 30);
});

test('FrameParser hands on payload pieces as they arrive, unmasked across key phases', () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder);
  const bytes = frameBytes(0x81, Buffer.from('Hello, world'), RFC_KEY);
  parser.push(bytes.subarray(0, 9));
  assert.deepEqual(Buffer.concat(recorder.pieces).toString(), 'Hel');
  parser.push(bytes.subarray(9, 13));
  assert.deepEqual(Buffer.concat(recorder.pieces).toString(), 'Hello, ');
  assert.equal(recorder.frames.length, 0);
  parser.push(bytes.subarray(13));
  assert.equal(recorder.frames[0]!.payload.toString(), 'Hello, world');
});

test('FrameParser passes a frame that arrives whole as one view into the input, without a copy', () => {
  const recorder = new Recorder();
  const input = frameBytes(0x82, Buffer.alloc(1000, 9), RFC_KEY);
  new FrameParser(recorder).push(input);
  assert.equal(recorder.pieces.length, 1);
  assert.equal(recorder.pieces[0]!.buffer, input.buffer);
  assert.equal(recorder.pieces[0]!.byteOffset, input.byteOffset + 8);
});

test('FrameParser unmasks a frame that spans reads into one buffer: pieces back to back, the input left as it came', () => {
  const payload = Buffer.alloc(70_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
  const input = frameBytes(0x82, payload, RFC_KEY);
  const inputBefore = Buffer.from(input);
  const recorder = new Recorder();
  const parser = new FrameParser(recorder);
  // Cut where socket reads would, including one cut that is not a multiple of 4 (the copy-then-unmask path).
  for (const part of splitAt(input, [65_536, 65_541, 69_000])) parser.push(part);
  assert.equal(recorder.pieces.length, 4);
  for (let i = 1; i < recorder.pieces.length; i++) {
    const before = recorder.pieces[i - 1]!;
    assert.equal(recorder.pieces[i]!.buffer, before.buffer, 'every piece lies in the same buffer');
    assert.equal(recorder.pieces[i]!.byteOffset, before.byteOffset + before.length, 'each piece starts where the last ended');
  }
  assert.ok(recorder.frames[0]!.payload.equals(payload));
  assert.ok(input.equals(inputBefore), 'the input chunks are not unmasked in place');
});

test('FrameParser parses several frames from one chunk and a header split across chunks', () => {
  const bytes = concat(frameBytes(0x89, Buffer.from('a')), frameBytes(0x82, Buffer.alloc(300, 1)), frameBytes(0x8a, Buffer.alloc(0)));
  // Cut inside the second frame's 16-bit length.
  const frames = parse(splitAt(bytes, [5]));
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.length]),
    [
      [9, 1],
      [2, 300],
      [10, 0],
    ],
  );
});

test('FrameParser rejects a 64-bit length with the top bit set with 1002, from the header alone', () => {
  const header = hex('82 7f 80 00 00 00 00 00 00 05');
  for (const way of threeWays(header)) {
    assert.throws(
      () => parse(way.pieces),
      (err: unknown) => err instanceof ProtocolError && err.closeCode === CloseCode.ProtocolError && err.code === 'ERR_INVALID_LENGTH',
      way.name,
    );
  }
});

test('FrameParser rejects a 64-bit length beyond 2^53 with 1009, from the header alone', () => {
  const header = hex('82 7f 7f ff ff ff ff ff ff ff');
  for (const way of threeWays(header)) {
    assert.throws(
      () => parse(way.pieces),
      (err: unknown) => err instanceof ProtocolError && err.closeCode === CloseCode.MessageTooBig,
      way.name,
    );
  }
});

test('FrameParser stops for good after its handler throws, ignoring later input', () => {
  const recorder = new Recorder();
  let headers = 0;
  const parser = new FrameParser({
    onFrameHeader(h) {
      headers++;
      if (h.opcode === 3) throw new ProtocolError('ERR_TEST', 'test');
      recorder.onFrameHeader(h);
    },
    onPayload: (p) => recorder.onPayload(p),
    onFrameEnd: () => recorder.onFrameEnd(),
  });
  assert.throws(() => parser.push(concat(hex('83 00'), hex('81 01 41'))), ProtocolError);
  assert.equal(parser.stopped, true);
  parser.push(hex('81 01 42'));
  assert.equal(headers, 1);
  assert.equal(recorder.frames.length, 0);
});

test('FrameParser.stop ignores the rest of the chunk and all later input', () => {
  const recorder = new Recorder();
  const parser = new FrameParser({
    onFrameHeader: (h) => recorder.onFrameHeader(h),
    onPayload: (p) => recorder.onPayload(p),
    onFrameEnd() {
      recorder.onFrameEnd();
      parser.stop();
    },
  });
  parser.push(hex('81 01 41 81 01 42'));
  parser.push(hex('81 01 43'));
  assert.deepEqual(
    recorder.frames.map((f) => f.payload.toString()),
    ['A'],
  );
  assert.equal(parser.stopped, true);
});

const payloadArb = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 140 }).map((a) => Buffer.from(a)) },
  { weight: 3, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 126, max: 65535 }), fc.integer()).map(([n, s]) => filled(n, s)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 65536, max: 70000 }), fc.integer()).map(([n, s]) => filled(n, s)) },
);

const frameArb = fc.record({
  opcode: fc.integer({ min: 0, max: 15 }),
  fin: fc.boolean(),
  rsv1: fc.boolean(),
  payload: payloadArb,
  key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
});

test('FrameParser parses back random encodeFrame sequences identically, split at random points', () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 12 }),
      (frames, masked, cutSeeds) => {
        const encoded = concat(
          ...frames.map((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, rsv1: f.rsv1, mask: masked, maskKey: f.key })),
        );
        const cuts = cutSeeds.map((s) => s % (encoded.length + 1));
        const parsed = parse(splitAt(encoded, cuts));
        assert.deepEqual(
          parsed,
          frames.map((f) =>
            frame(f.opcode, f.payload, {
              fin: f.fin,
              rsv1: f.rsv1,
              mask: masked ? Buffer.from(f.key).toString('hex') : null,
            }),
          ),
        );
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
  );
});
