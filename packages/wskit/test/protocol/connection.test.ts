import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { CloseCode, Defaults, Opcode } from '../../src/constants.js';
import { ProtocolError } from '../../src/errors.js';
import { Connection, type ConnectionEvent, type ConnectionOptions, deflateBound } from '../../src/protocol/connection.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { FUZZ_SEED, RFC_KEY, concat, filled, frameBytes, fuzzRuns, hex, splitAt, threeWays } from 'wskit-testing/bytes';

type Role = ConnectionOptions['role'];
const ROLES: readonly Role[] = ['server', 'client'];
const MiB = 1024 * 1024;

function connection(options: Partial<ConnectionOptions> = {}): Connection {
  return new Connection({ role: 'client', maxMessageSize: MiB, compression: false, ...options });
}

/** What feeding some pieces produced: the events, and the error if one was thrown (and at which piece). */
interface Outcome {
  events: ConnectionEvent[];
  error: unknown;
  failedAt: number;
}

function feed(pieces: readonly Buffer[], options: Partial<ConnectionOptions> = {}): Outcome {
  const conn = connection(options);
  for (let i = 0; i < pieces.length; i++) {
    try {
      conn.receive(pieces[i]!);
    } catch (error) {
      return { events: conn.events, error, failedAt: i };
    }
  }
  return { events: conn.events, error: null, failedAt: -1 };
}

/** Frame bytes as a peer of `role` sends them: masked (with the RFC key) when we are the server. */
function peer(role: Role, b0: number, payload: string | Uint8Array = ''): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return frameBytes(b0, bytes, role === 'server' ? RFC_KEY : null);
}

const text = (data: string | Buffer, compressed = false): ConnectionEvent => ({
  kind: 'message',
  type: 'text',
  data: Buffer.from(data),
  compressed,
});
const binary = (data: Buffer, compressed = false): ConnectionEvent => ({ kind: 'message', type: 'binary', data, compressed });
const ping = (data = ''): ConnectionEvent => ({ kind: 'ping', data: Buffer.from(data) });
const pong = (data = ''): ConnectionEvent => ({ kind: 'pong', data: Buffer.from(data) });
const close = (code: number, reason = ''): ConnectionEvent => ({ kind: 'close', code, reason });

/** Assert that `bytes`, fed whole, halved and byte by byte, produce exactly `expected`. */
function expectEvents(bytes: Buffer, expected: ConnectionEvent[], options: Partial<ConnectionOptions> = {}): void {
  for (const way of threeWays(bytes)) {
    const outcome = feed(way.pieces, options);
    assert.equal(outcome.error, null, `${way.name}: unexpected ${String(outcome.error)}`);
    assert.deepEqual(outcome.events, expected, way.name);
  }
}

/**
 * Assert that `bytes`, fed whole, halved and byte by byte, throw a
 * ProtocolError carrying `closeCode` (and `code` when given), after producing
 * the events in `before`.
 */
function expectFailure(
  bytes: Buffer,
  closeCode: number,
  code: string | undefined,
  options: Partial<ConnectionOptions> = {},
  before: ConnectionEvent[] = [],
): void {
  for (const way of threeWays(bytes)) {
    const { error, events } = feed(way.pieces, options);
    assert.ok(error instanceof ProtocolError, `${way.name}: expected a ProtocolError, got ${String(error)}`);
    assert.equal(error.closeCode, closeCode, `${way.name}: ${error.message}`);
    if (code !== undefined) assert.equal(error.code, code, way.name);
    assert.deepEqual(events, before, way.name);
  }
}

// RFC 6455 §5.7 examples, as a client receives them from a server.

test('Connection reads the RFC 6455 §5.7 unmasked "Hello" as a client', () => {
  expectEvents(hex('81 05 48 65 6c 6c 6f'), [text('Hello')]);
});

test('Connection reads the RFC 6455 §5.7 masked "Hello" as a server', () => {
  expectEvents(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), [text('Hello')], { role: 'server' });
});

test('Connection assembles the RFC 6455 §5.7 fragmented "Hello"', () => {
  expectEvents(hex('01 03 48 65 6c 80 02 6c 6f'), [text('Hello')]);
});

test('Connection reports the RFC 6455 §5.7 ping and pong', () => {
  expectEvents(hex('89 05 48 65 6c 6c 6f 8a 05 48 65 6c 6c 6f'), [ping('Hello'), pong('Hello')]);
});

test('Connection reads a 256-byte binary message with a 16-bit length', () => {
  const payload = Buffer.alloc(256, 0x42);
  expectEvents(concat(hex('82 7e 01 00'), payload), [binary(payload)]);
});

test('Connection reads a 64 KiB binary message with a 64-bit length', () => {
  const payload = Buffer.alloc(65536, 0x43);
  expectEvents(concat(hex('82 7f 00 00 00 00 00 01 00 00'), payload), [binary(payload)]);
});

for (const role of ROLES) {
  const as = `(${role} role)`;

  test(`Connection reads empty messages and empty fragments ${as}`, () => {
    expectEvents(concat(peer(role, 0x81), peer(role, 0x02), peer(role, 0x00), peer(role, 0x80)), [text(''), binary(Buffer.alloc(0))], {
      role,
    });
  });

  test(`Connection accepts a 125-byte ping, the largest control frame ${as}`, () => {
    expectEvents(peer(role, 0x89, 'p'.repeat(125)), [ping('p'.repeat(125))], { role });
  });

  // RSV bits (RFC 6455 §5.2, RFC 7692 §6).

  test(`Connection rejects RSV1 without a negotiated extension with 1002 ${as}`, () => {
    expectFailure(peer(role, 0xc1, 'Hello'), CloseCode.ProtocolError, 'ERR_RSV', { role });
  });

  test(`Connection rejects RSV2 and RSV3 with 1002, even with compression negotiated ${as}`, () => {
    expectFailure(peer(role, 0xa1, 'Hello'), CloseCode.ProtocolError, 'ERR_RSV', { role, compression: true });
    expectFailure(peer(role, 0x91, 'Hello'), CloseCode.ProtocolError, 'ERR_RSV', { role, compression: true });
  });

  test(`Connection rejects RSV1 on a control frame with 1002, even with compression negotiated ${as}`, () => {
    expectFailure(peer(role, 0xc9, 'x'), CloseCode.ProtocolError, 'ERR_RSV', { role, compression: true });
  });

  test(`Connection rejects RSV1 on a continuation frame with 1002 ${as}`, () => {
    const bytes = concat(peer(role, 0x41, 'ab'), peer(role, 0xc0, 'cd'));
    expectFailure(bytes, CloseCode.ProtocolError, 'ERR_RSV', { role, compression: true });
  });

  test(`Connection passes a compressed message on unchecked, marked compressed ${as}`, () => {
    // Deflated bytes are not UTF-8; validation waits for the inflated text.
    const deflated = hex('f2 48 cd c9 c9 07 00');
    const bytes = concat(peer(role, 0x41, deflated.subarray(0, 3)), peer(role, 0x89, 'between'), peer(role, 0x80, deflated.subarray(3)));
    expectEvents(bytes, [ping('between'), text(deflated, true)], { role, compression: true });
  });

  // Opcodes (RFC 6455 §5.2).

  for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    test(`Connection rejects unknown opcode 0x${opcode.toString(16)} with 1002 at its header ${as}`, () => {
      // Only the header is fed: the verdict needs no payload.
      const header = peer(role, 0x80 | opcode, 'abc').subarray(0, role === 'server' ? 6 : 2);
      expectFailure(header, CloseCode.ProtocolError, 'ERR_INVALID_OPCODE', { role });
    });
  }

  // Control frames (RFC 6455 §5.5).

  test(`Connection rejects a control frame longer than 125 bytes with 1002 at its header ${as}`, () => {
    for (const b0 of [0x88, 0x89, 0x8a]) {
      const header = peer(role, b0, Buffer.alloc(126)).subarray(0, role === 'server' ? 8 : 4);
      expectFailure(header, CloseCode.ProtocolError, 'ERR_CONTROL_TOO_LONG', { role });
    }
  });

  test(`Connection rejects a fragmented control frame with 1002 ${as}`, () => {
    for (const b0 of [0x08, 0x09, 0x0a]) {
      expectFailure(peer(role, b0, 'x'), CloseCode.ProtocolError, 'ERR_FRAGMENTED_CONTROL', { role });
    }
  });

  test(`Connection accepts control frames interleaved between the fragments of a message ${as}`, () => {
    const bytes = concat(
      peer(role, 0x01, 'Hel'),
      peer(role, 0x89, 'p1'),
      peer(role, 0x00, 'l'),
      peer(role, 0x8a, 'p2'),
      peer(role, 0x89),
      peer(role, 0x80, 'o'),
    );
    expectEvents(bytes, [ping('p1'), pong('p2'), ping(''), text('Hello')], { role });
  });

  // Fragmentation (RFC 6455 §5.4).

  test(`Connection rejects a continuation frame with no message to continue with 1002 ${as}`, () => {
    expectFailure(peer(role, 0x80, 'lo'), CloseCode.ProtocolError, 'ERR_UNEXPECTED_CONTINUATION', { role });
    // Also right after a complete message.
    expectFailure(concat(peer(role, 0x81, 'Hel'), peer(role, 0x80, 'lo')), CloseCode.ProtocolError, 'ERR_UNEXPECTED_CONTINUATION', { role }, [
      text('Hel'),
    ]);
  });

  test(`Connection rejects a new data message inside a fragmented one with 1002 ${as}`, () => {
    expectFailure(concat(peer(role, 0x01, 'Hel'), peer(role, 0x81, 'lo')), CloseCode.ProtocolError, 'ERR_EXPECTED_CONTINUATION', { role });
    expectFailure(concat(peer(role, 0x02, 'ab'), peer(role, 0x02, 'cd')), CloseCode.ProtocolError, 'ERR_EXPECTED_CONTINUATION', { role });
  });

  test(`Connection assembles a message of many tiny fragments: 4 MiB in 64-byte fragments ${as}`, () => {
    const size = 4 * MiB;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31 + (i >>> 8)) & 0xff;
    const frames: Buffer[] = [];
    for (let offset = 0; offset < size; offset += 64) {
      const b0 = (offset === 0 ? Opcode.Binary : Opcode.Continuation) | (offset + 64 >= size ? 0x80 : 0);
      frames.push(peer(role, b0, payload.subarray(offset, offset + 64)));
    }
    const bytes = concat(frames);
    // Whole, halved, and in 1000-byte pieces that cut headers and payloads
    // everywhere (byte by byte would be 4.6 million calls for no new case).
    const offsets: number[] = [];
    for (let o = 1000; o < bytes.length; o += 1000) offsets.push(o);
    for (const [name, pieces] of [
      ['whole', [bytes]],
      ['halved', splitAt(bytes, [bytes.length >> 1])],
      ['1000-byte pieces', splitAt(bytes, offsets)],
    ] as const) {
      const { events, error } = feed(pieces.map((p) => Buffer.from(p)), { role, maxMessageSize: size, maxFragments: size / 64 });
      assert.equal(error, null, name);
      assert.equal(events.length, 1, name);
      assert.ok(payload.equals((events[0] as { data: Buffer }).data), name);
    }
  });

  // Masking (RFC 6455 §5.1, §5.3).

  test(`Connection rejects ${role === 'server' ? 'an unmasked frame from a client' : 'a masked frame from a server'} with 1002 ${as}`, () => {
    const wrong = frameBytes(0x81, Buffer.from('Hello'), role === 'server' ? null : RFC_KEY);
    expectFailure(wrong.subarray(0, role === 'server' ? 2 : 6), CloseCode.ProtocolError, role === 'server' ? 'ERR_UNMASKED' : 'ERR_MASKED', {
      role,
    });
    // Control frames too.
    const wrongPing = frameBytes(0x89, Buffer.alloc(0), role === 'server' ? null : RFC_KEY);
    expectFailure(wrongPing, CloseCode.ProtocolError, undefined, { role });
  });

  // Lengths and limits (RFC 6455 §5.2, §10.4).

  test(`Connection rejects a 64-bit length with the top bit set with 1002 ${as}`, () => {
    const header = concat(hex('82 ff 80 00 00 00 00 00 00 10'), RFC_KEY);
    if (role === 'client') header[1] = 0x7f;
    expectFailure(role === 'client' ? header.subarray(0, 10) : header, CloseCode.ProtocolError, 'ERR_INVALID_LENGTH', { role });
  });

  test(`Connection rejects a header announcing 1 GiB with 1009 before any payload arrives ${as}`, () => {
    const header = role === 'server' ? concat(hex('82 ff 00 00 00 00 40 00 00 00'), RFC_KEY) : hex('82 7f 00 00 00 00 40 00 00 00');
    expectFailure(header, CloseCode.MessageTooBig, 'ERR_MESSAGE_TOO_BIG', { role });
  });

  test(`Connection rejects fragments that add up past maxMessageSize with 1009 at the header that crosses it ${as}`, () => {
    const first = peer(role, 0x02, Buffer.alloc(600));
    const secondHeader = peer(role, 0x80, Buffer.alloc(401)).subarray(0, role === 'server' ? 8 : 4);
    expectFailure(concat(first, secondHeader), CloseCode.MessageTooBig, 'ERR_MESSAGE_TOO_BIG', { role, maxMessageSize: 1000 });
  });

  test(`Connection accepts a message of exactly maxMessageSize, and the limit applies per message ${as}`, () => {
    const bytes = concat(peer(role, 0x02, Buffer.alloc(600)), peer(role, 0x80, Buffer.alloc(400)), peer(role, 0x82, Buffer.alloc(1000)));
    expectEvents(bytes, [binary(Buffer.alloc(1000)), binary(Buffer.alloc(1000))], { role, maxMessageSize: 1000 });
  });

  test(`Connection does not count control frames against maxMessageSize ${as}`, () => {
    expectEvents(concat(peer(role, 0x01, 'abcd'), peer(role, 0x89, 'ping!'), peer(role, 0x80, 'ef')), [ping('ping!'), text('abcdef')], {
      role,
      maxMessageSize: 6,
    });
  });

  test(`Connection accepts a message of exactly maxFragments frames, empty ones included, and the count restarts per message ${as}`, () => {
    const four = concat(peer(role, 0x01, 'a'), peer(role, 0x00), peer(role, 0x00, 'b'), peer(role, 0x80));
    expectEvents(concat(four, four), [text('ab'), text('ab')], { role, maxFragments: 4 });
    // A lone final frame is one fragment: the smallest limit still reads unfragmented messages.
    expectEvents(concat(peer(role, 0x82, 'x'), peer(role, 0x81, 'y')), [binary(Buffer.from('x')), text('y')], { role, maxFragments: 1 });
  });

  test(`Connection rejects a message of more than maxFragments frames with 1009 at the header that crosses it ${as}`, () => {
    const header = peer(role, 0x00, 'payload').subarray(0, role === 'server' ? 6 : 2);
    expectFailure(concat(peer(role, 0x02), peer(role, 0x00), peer(role, 0x00), header), CloseCode.MessageTooBig, 'ERR_TOO_MANY_FRAGMENTS', {
      role,
      maxFragments: 3,
    });
  });

  test(`Connection does not count control frames against maxFragments ${as}`, () => {
    const bytes = concat(peer(role, 0x01, 'a'), peer(role, 0x89), peer(role, 0x8a), peer(role, 0x80, 'b'));
    expectEvents(bytes, [ping(), pong(), text('ab')], { role, maxFragments: 2 });
  });

  test(`Connection rejects a flood of empty fragments past the default limit of ${Defaults.maxFragments} ${as}`, () => {
    const empty = peer(role, 0x00);
    const bytes = concat(peer(role, 0x01), ...Array.from({ length: Defaults.maxFragments }, () => empty));
    const { error, events, failedAt } = feed([bytes], { role });
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.code, 'ERR_TOO_MANY_FRAGMENTS');
    assert.equal(error.closeCode, CloseCode.MessageTooBig);
    assert.match(error.message, new RegExp(`more than ${Defaults.maxFragments} fragments`));
    assert.deepEqual([events, failedAt], [[], 0]);
    // One fewer continuation, then a final frame: the message is read.
    const fits = concat(peer(role, 0x01), ...Array.from({ length: Defaults.maxFragments - 2 }, () => empty), peer(role, 0x80, 'end'));
    assert.deepEqual(feed([fits], { role }).events, [text('end')]);
  });

  // UTF-8 (RFC 6455 §8.1).

  test(`Connection rejects invalid UTF-8 in a text message with 1007 at the first bad piece ${as}`, () => {
    // The frame announces 1000 bytes; only its first 4 arrive, and FF is never UTF-8.
    const payload = Buffer.concat([Buffer.from('abc'), hex('ff'), Buffer.alloc(996, 0x61)]);
    const full = peer(role, 0x81, payload);
    const prefix = full.subarray(0, (role === 'server' ? 8 : 4) + 4);
    expectFailure(prefix, CloseCode.InvalidPayloadData, 'ERR_INVALID_UTF8', { role });
  });

  test(`Connection rejects invalid UTF-8 split across fragments with 1007 before the message ends ${as}`, () => {
    // F0 9F opens a 4-byte sequence; the next fragment breaks it; no final fragment is sent.
    const bytes = concat(peer(role, 0x01, hex('41 f0 9f')), peer(role, 0x00, hex('41 42')));
    expectFailure(bytes, CloseCode.InvalidPayloadData, 'ERR_INVALID_UTF8', { role });
  });

  test(`Connection accepts a valid code point split across fragments ${as}`, () => {
    const bytes = concat(peer(role, 0x01, hex('f0 9f')), peer(role, 0x89), peer(role, 0x00, hex('98')), peer(role, 0x80, hex('80')));
    expectEvents(bytes, [ping(), text('😀')], { role });
  });

  test(`Connection rejects a text message ending inside a code point with 1007 ${as}`, () => {
    expectFailure(peer(role, 0x81, hex('48 69 e2 82')), CloseCode.InvalidPayloadData, 'ERR_INVALID_UTF8', { role });
    expectFailure(concat(peer(role, 0x01, 'Hi'), peer(role, 0x80, hex('e2 82'))), CloseCode.InvalidPayloadData, 'ERR_INVALID_UTF8', {
      role,
    });
  });

  test(`Connection does not check binary messages for UTF-8 ${as}`, () => {
    expectEvents(peer(role, 0x82, hex('ff fe e2 82')), [binary(hex('ff fe e2 82'))], { role });
  });

  test(`Connection checks each text message afresh after a binary one ${as}`, () => {
    const bytes = concat(peer(role, 0x82, hex('e2')), peer(role, 0x81, 'ok'), peer(role, 0x81, hex('c3')));
    expectFailure(bytes, CloseCode.InvalidPayloadData, 'ERR_INVALID_UTF8', { role }, [binary(hex('e2')), text('ok')]);
  });

  // Close frames (RFC 6455 §5.5.1, §7.4).

  test(`Connection reports an empty close frame as code 1005 ${as}`, () => {
    expectEvents(peer(role, 0x88), [close(CloseCode.NoStatusReceived)], { role });
  });

  test(`Connection rejects a close frame with a 1-byte payload with 1002 ${as}`, () => {
    expectFailure(peer(role, 0x88, hex('03')), CloseCode.ProtocolError, 'ERR_INVALID_CLOSE', { role });
  });

  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    test(`Connection rejects close code ${code} with 1002 ${as}`, () => {
      expectFailure(peer(role, 0x88, hex(code.toString(16).padStart(4, '0'))), CloseCode.ProtocolError, 'ERR_INVALID_CLOSE_CODE', { role });
    });
  }

  test(`Connection accepts close codes 1000–1003, 1007–1014, 3000 and 4999 with their reason ${as}`, () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
      const payload = concat(hex(code.toString(16).padStart(4, '0')), Buffer.from('bye ✓'));
      expectEvents(peer(role, 0x88, payload), [close(code, 'bye ✓')], { role });
    }
  });

  test(`Connection rejects a close reason that is not UTF-8 with 1007 ${as}`, () => {
    expectFailure(peer(role, 0x88, hex('03 e8 62 79 c3')), CloseCode.InvalidPayloadData, 'ERR_INVALID_UTF8', { role });
  });

  test(`Connection parses nothing after a close frame, not even broken frames ${as}`, () => {
    const bytes = concat(peer(role, 0x81, 'before'), peer(role, 0x88, hex('03 e8')), peer(role, 0x81, 'after'), hex('ff ff ff ff'));
    for (const way of threeWays(bytes)) {
      const conn = connection({ role });
      for (const piece of way.pieces) conn.receive(piece);
      conn.receive(peer(role, 0x89, 'later'));
      assert.equal(conn.closeReceived, true, way.name);
      assert.deepEqual(conn.events, [text('before'), close(1000)], way.name);
    }
  });

  test(`Connection parses nothing after stop() ${as}`, () => {
    const conn = connection({ role });
    conn.receive(peer(role, 0x81, 'one'));
    conn.stop();
    conn.receive(peer(role, 0x81, 'two'));
    conn.receive(hex('ff ff'));
    assert.deepEqual(conn.events, [text('one')]);
    assert.equal(conn.closeReceived, false);
  });

  test(`Connection parses nothing after a protocol error ${as}`, () => {
    const conn = connection({ role });
    assert.throws(() => conn.receive(concat(peer(role, 0x83), peer(role, 0x81, 'hidden'))), ProtocolError);
    conn.receive(peer(role, 0x81, 'later'));
    assert.deepEqual(conn.events, []);
  });
}

test('Connection keeps each message intact when the next frames arrive in the same chunk', () => {
  // Message data may be a view into the input; later frames unmasked in place must not touch it.
  const bytes = concat(peer('server', 0x81, 'first'), peer('server', 0x01, 'sec'), peer('server', 0x80, 'ond'), peer('server', 0x82, 'third'));
  const { events, error } = feed([bytes], { role: 'server' });
  assert.equal(error, null);
  assert.deepEqual(events, [text('first'), text('second'), binary(Buffer.from('third'))]);
});

test('Connection delivers a masked frame that spans reads as one message whose data is a single buffer, and validates its text', () => {
  const payload = Buffer.from('é'.repeat(40_000));
  const bytes = peer('server', 0x81, payload);
  // The cut falls inside a two-byte character, so the UTF-8 check carries across pieces.
  const cut = 14 + 65_535;
  assert.equal(payload[cut - 14]! & 0xc0, 0x80, 'the cut splits a character');
  const conn = connection({ role: 'server' });
  for (const part of splitAt(bytes, [cut, cut + 1000])) conn.receive(part);
  assert.equal(conn.events.length, 1);
  const event = conn.events[0]!;
  assert.equal(event.kind, 'message');
  const data = (event as { data: Buffer }).data;
  assert.ok(data.equals(payload));
  // One allocation the size of the frame, not a join of pieces grown as they came.
  assert.equal(data.buffer.byteLength, payload.length);
});

// Properties.

const messageArb = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((s) => ({ type: 'text' as const, data: Buffer.from(s) })) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => ({ type: 'binary' as const, data: Buffer.from(a) })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 65536, max: 70000 }), fc.integer())
      .map(([n, s]) => ({ type: 'binary' as const, data: filled(n, s) })),
  },
);

const controlArb = fc.record({
  opcode: fc.constantFrom(Opcode.Ping, Opcode.Pong),
  data: fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a)),
});

const plannedArb = fc.record({
  message: messageArb,
  cuts: fc.array(fc.nat(), { maxLength: 5 }),
  // Control frames to slip in after fragment `at` (taken modulo the fragment count).
  controls: fc.array(fc.record({ at: fc.nat(), frame: controlArb }), { maxLength: 3 }),
});

test('Connection round-trips random messages fragmented at random points with control frames interleaved', () => {
  fc.assert(
    fc.property(
      fc.array(plannedArb, { minLength: 1, maxLength: 5 }),
      fc.constantFrom(...ROLES),
      fc.option(fc.record({ code: fc.constantFrom(1000, 1001, 3000, 4999), reason: fc.string({ maxLength: 20 }) })),
      fc.array(fc.nat(), { maxLength: 10 }),
      (plan, role, closing, inputCuts) => {
        const frames: Buffer[][] = [];
        const expected: ConnectionEvent[] = [];
        for (const { message, cuts, controls } of plan) {
          // Fragments may cut inside a UTF-8 code point: validation must carry over.
          const fragments = splitAt(message.data, cuts.map((c) => c % (message.data.length + 1)));
          fragments.forEach((fragment, i) => {
            const opcode = i === 0 ? (message.type === 'text' ? Opcode.Text : Opcode.Binary) : Opcode.Continuation;
            const fin = i === fragments.length - 1;
            frames.push(encodeFrame(opcode, fragment, { fin, mask: role === 'server' }));
            // The message is reported on its last fragment, before any control frame after it.
            if (fin) expected.push({ kind: 'message', type: message.type, data: message.data, compressed: false });
            for (const c of controls.filter((c) => c.at % fragments.length === i)) {
              frames.push(encodeFrame(c.frame.opcode, c.frame.data, { mask: role === 'server' }));
              expected.push({ kind: c.frame.opcode === Opcode.Ping ? 'ping' : 'pong', data: c.frame.data });
            }
          });
        }
        if (closing) {
          const reason = Buffer.from(closing.reason);
          frames.push(encodeFrame(Opcode.Close, concat(hex(closing.code.toString(16).padStart(4, '0')), reason), { mask: role === 'server' }));
          expected.push(close(closing.code, reason.toString()));
        }
        const bytes = concat(...frames);
        const { events, error } = feed(
          splitAt(bytes, inputCuts.map((c) => c % (bytes.length + 1))),
          { role, maxMessageSize: 128 * 1024 },
        );
        assert.equal(error, null);
        assert.deepEqual(events, expected);
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
  );
});

test('Connection delivers any message of at most maxFragments frames and fails one of more with ERR_TOO_MANY_FRAGMENTS (both roles)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...ROLES),
      fc.integer({ min: 1, max: 40 }),
      // Fragment sizes: many are 0, and empty fragments count like any other.
      fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 45 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (role, maxFragments, sizes, inputCuts) => {
        const fragments = sizes.map((size, i) => Buffer.alloc(size, i));
        const data = concat(...fragments);
        const bytes = concat(
          ...fragments.map((fragment, i) =>
            encodeFrame(i === 0 ? Opcode.Binary : Opcode.Continuation, fragment, { fin: i === fragments.length - 1, mask: role === 'server' }),
          ),
        );
        const { events, error } = feed(splitAt(bytes, inputCuts.map((c) => c % (bytes.length + 1))), { role, maxFragments });
        if (fragments.length <= maxFragments) {
          assert.equal(error, null);
          assert.deepEqual(events, [binary(Buffer.from(data))]);
        } else {
          assert.ok(error instanceof ProtocolError);
          assert.equal(error.code, 'ERR_TOO_MANY_FRAGMENTS');
          assert.equal(error.closeCode, CloseCode.MessageTooBig);
          assert.deepEqual(events, []);
        }
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(300) },
  );
});

/** Random frame-shaped input: any first byte, random payloads, usually the right masking, sometimes garbage. */
const noisyFrameArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      b0: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x01, 0x00, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8a, 0x41, 0xc1)),
      payload: fc.oneof(
        fc.uint8Array({ maxLength: 140 }),
        fc.constantFrom(hex('03 e8'), hex('03 e8 ff'), hex('f0 9f'), hex('98 80'), hex('ed a0 80'), hex('00 00')),
      ),
      rightMask: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }) },
);

test('Connection fed random bytes yields events or a ProtocolError, never another exception (both roles)', () => {
  fc.assert(
    fc.property(
      fc.array(noisyFrameArb, { maxLength: 8 }),
      fc.constantFrom(...ROLES),
      fc.boolean(),
      fc.integer({ min: 0, max: 300 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (noisy, role, compression, maxMessageSize, cutSeeds) => {
        const bytes = concat(
          ...noisy.map((n) => {
            if (n instanceof Uint8Array) return n;
            const masked = (role === 'server') === n.rightMask;
            return frameBytes(n.b0, n.payload, masked ? RFC_KEY : null);
          }),
        );
        const pieces = splitAt(bytes, cutSeeds.map((c) => c % (bytes.length + 1)));
        const conn = connection({ role, compression, maxMessageSize });
        let failed = false;
        for (const piece of pieces) {
          try {
            conn.receive(piece);
          } catch (err) {
            assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
            assert.ok([1002, 1007, 1009].includes(err.closeCode), `close code ${err.closeCode}`);
            failed = true;
            break;
          }
        }
        // Whatever was reported obeys the rules the Connection promises.
        const count = conn.events.length;
        conn.events.forEach((event, i) => {
          if (event.kind === 'message') {
            // A compressed message is checked against the limit when inflated; on the wire it may reach deflate's bound.
            assert.ok(event.data.length <= (event.compressed ? deflateBound(maxMessageSize) : maxMessageSize));
            if (event.type === 'text' && !event.compressed) assert.ok(isUtf8(event.data));
            if (event.compressed) assert.equal(compression, true);
          } else if (event.kind === 'close') {
            assert.equal(i, count - 1, 'nothing follows a close');
            assert.ok(event.code === 1005 || (event.code >= 1000 && event.code <= 4999));
          } else {
            assert.ok(event.data.length <= 125);
          }
        });
        // After an error or a close frame, input is ignored.
        if (failed || conn.closeReceived) {
          conn.receive(peer(role, 0x81, 'more'));
          assert.equal(conn.events.length, count);
        }
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(1000) },
  );
});
