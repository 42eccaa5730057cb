import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Opcode } from '../../src/constants.js';
import { COPY_PAYLOAD_MAX, encodeFrame, encodeFrameBuffer, headerLength, writeHeader } from '../../src/protocol/frame.js';
import { RFC_KEY, concat, hex, toHex } from 'wskit-testing/bytes';

test('encodeFrame writes the RFC 6455 §5.7 single-frame unmasked "Hello"', () => {
  assert.equal(toHex(concat(encodeFrame(Opcode.Text, Buffer.from('Hello')))), '81 05 48 65 6c 6c 6f');
});

test('encodeFrame writes the RFC 6455 §5.7 single-frame masked "Hello"', () => {
  const bytes = concat(encodeFrame(Opcode.Text, Buffer.from('Hello'), { mask: true, maskKey: RFC_KEY }));
  assert.equal(toHex(bytes), '81 85 37 fa 21 3d 7f 9f 4d 51 58');
});

test('encodeFrame writes the RFC 6455 §5.7 fragmented "Hello" with fin unset on the first frame', () => {
  const first = concat(encodeFrame(Opcode.Text, Buffer.from('Hel'), { fin: false }));
  const last = concat(encodeFrame(Opcode.Continuation, Buffer.from('lo')));
  assert.equal(toHex(concat([first, last])), '01 03 48 65 6c 80 02 6c 6f');
});

test('encodeFrame writes the RFC 6455 §5.7 ping and masked pong', () => {
  assert.equal(toHex(encodeFrameBuffer(Opcode.Ping, Buffer.from('Hello'))), '89 05 48 65 6c 6c 6f');
  const pong = encodeFrameBuffer(Opcode.Pong, Buffer.from('Hello'), { mask: true, maskKey: RFC_KEY });
  assert.equal(toHex(pong), '8a 85 37 fa 21 3d 7f 9f 4d 51 58');
});

test('encodeFrame uses a 16-bit length for 256 bytes and a 64-bit length for 64 KiB (RFC 6455 §5.7)', () => {
  const small = encodeFrameBuffer(Opcode.Binary, Buffer.alloc(256, 7));
  assert.equal(toHex(small.subarray(0, 4)), '82 7e 01 00');
  assert.equal(small.length, 4 + 256);
  const big = encodeFrameBuffer(Opcode.Binary, Buffer.alloc(65536, 7));
  assert.equal(toHex(big.subarray(0, 10)), '82 7f 00 00 00 00 00 01 00 00');
  assert.equal(big.length, 10 + 65536);
});

test('encodeFrame picks the length form at the 125/126 and 65535/65536 boundaries', () => {
  const cases: [number, string][] = [
    [0, '82 00'],
    [125, '82 7d'],
    [126, '82 7e 00 7e'],
    [65535, '82 7e ff ff'],
    [65536, '82 7f 00 00 00 00 00 01 00 00'],
  ];
  for (const [length, header] of cases) {
    const bytes = encodeFrameBuffer(Opcode.Binary, Buffer.alloc(length));
    const size = header.split(' ').length;
    assert.equal(toHex(bytes.subarray(0, size)), header, `length ${length}`);
    assert.equal(bytes.length, size + length, `length ${length}`);
    assert.equal(headerLength(length, false), size);
    assert.equal(headerLength(length, true), size + 4);
  }
});

test('writeHeader writes 64-bit lengths beyond 32 bits with the top bit clear', () => {
  const target = Buffer.alloc(14);
  let end = writeHeader(target, 0, Opcode.Binary, 2 ** 32 + 5, true, false, null);
  assert.equal(end, 10);
  assert.equal(toHex(target.subarray(0, 10)), '82 7f 00 00 00 01 00 00 00 05');
  end = writeHeader(target, 0, Opcode.Binary, Number.MAX_SAFE_INTEGER, true, false, RFC_KEY);
  assert.equal(end, 14);
  assert.equal(toHex(target), '82 ff 00 1f ff ff ff ff ff ff 37 fa 21 3d');
});

test('writeHeader writes at an offset and returns the offset after the header', () => {
  const target = Buffer.alloc(8, 0xee);
  const end = writeHeader(target, 3, Opcode.Ping, 0, true, false, null);
  assert.equal(end, 5);
  assert.equal(toHex(target), 'ee ee ee 89 00 ee ee ee');
});

test('encodeFrame sets RSV1 for a compressed first frame', () => {
  assert.equal(toHex(encodeFrameBuffer(Opcode.Text, hex('f2 48 cd c9 c9 07 00'), { rsv1: true }).subarray(0, 2)), 'c1 07');
  assert.equal(toHex(encodeFrameBuffer(Opcode.Text, Buffer.alloc(0), { rsv1: true, fin: false })), '41 00');
});

test('encodeFrame masks with a fresh random key when none is given, leaving the caller payload unchanged', () => {
  const payload = Buffer.from('the caller keeps this payload');
  const copy = Buffer.from(payload);
  const a = encodeFrameBuffer(Opcode.Text, payload, { mask: true });
  const b = encodeFrameBuffer(Opcode.Text, payload, { mask: true });
  assert.deepEqual(payload, copy);
  for (const frame of [a, b]) {
    assert.equal(frame[1]! & 0x80, 0x80);
    const key = frame.subarray(2, 6);
    const body = Buffer.from(frame.subarray(6));
    for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
    assert.deepEqual(body, payload);
  }
  // Two random 32-bit keys agree with probability 2^-32.
  assert.notDeepEqual(a.subarray(2, 6), b.subarray(2, 6));
});

test('encodeFrame copies a small payload next to its header, so one write carries the frame', () => {
  const payload = Buffer.alloc(COPY_PAYLOAD_MAX, 1);
  const parts = encodeFrame(Opcode.Binary, payload);
  assert.equal(parts.length, 1);
  assert.equal(parts[0]!.length, 4 + COPY_PAYLOAD_MAX);
});

test('encodeFrame returns a large unmasked payload as its own part, without copying it', () => {
  const payload = Buffer.alloc(COPY_PAYLOAD_MAX + 1, 2);
  const parts = encodeFrame(Opcode.Binary, payload);
  assert.equal(parts.length, 2);
  assert.equal(toHex(parts[0]!), '82 7e 40 01');
  assert.equal(parts[1], payload);
  // A plain Uint8Array comes back as a Buffer over the same memory.
  const plain = new Uint8Array(COPY_PAYLOAD_MAX + 10).subarray(3);
  const [, view] = encodeFrame(Opcode.Binary, plain);
  assert.ok(Buffer.isBuffer(view));
  assert.equal(view!.buffer, plain.buffer);
  assert.equal(view!.byteOffset, plain.byteOffset);
  assert.equal(view!.length, plain.length);
});

test('encodeFrame masks a large payload into one buffer, leaving the caller payload unchanged', () => {
  const payload = Buffer.alloc(70_000, 0x55);
  const parts = encodeFrame(Opcode.Binary, payload, { mask: true, maskKey: RFC_KEY });
  assert.equal(parts.length, 1);
  assert.equal(toHex(parts[0]!.subarray(0, 14)), '82 ff 00 00 00 00 00 01 11 70 37 fa 21 3d');
  assert.ok(payload.every((b) => b === 0x55));
  assert.equal(parts[0]![14], 0x55 ^ 0x37);
  assert.equal(parts[0]![14 + 70_000 - 1], 0x55 ^ RFC_KEY[(70_000 - 1) & 3]!);
});
