import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyMask, applyMaskWords, maskSimple, maskInto } from '../../src/protocol/mask.js';
import { XOR_BLOCK, xorKernel } from '../../src/protocol/xor-kernel.js';
import { FUZZ_SEED, fuzzRuns, hex } from 'wskit-testing/bytes';

const KEY = hex('37 fa 21 3d');

test('applyMask masks "Hello" with key 37fa213d as in RFC 6455 §5.7', () => {
  const data = Buffer.from('Hello');
  applyMask(data, KEY);
  assert.deepEqual(data, hex('7f 9f 4d 51 58'));
});

test('applyMask undoes itself: masking twice gives the original bytes', () => {
  const original = Buffer.from('a longer payload that goes through the word-at-a-time loop of applyMask');
  const data = Buffer.from(original);
  applyMask(data, KEY);
  assert.notDeepEqual(data, original);
  applyMask(data, KEY);
  assert.deepEqual(data, original);
});

test('applyMask continues from a phase, so a payload can be unmasked in pieces', () => {
  const whole = Buffer.from('Hello, pieces of a masked payload of some length');
  const expected = Buffer.from(whole);
  applyMask(expected, KEY, 0);
  const pieced = Buffer.from(whole);
  let offset = 0;
  for (const size of [3, 1, 37, 2, 5]) {
    applyMask(pieced.subarray(offset, offset + size), KEY, offset & 3);
    offset += size;
  }
  assert.equal(offset, whole.length);
  assert.deepEqual(pieced, expected);
});

test('applyMask leaves an empty payload alone', () => {
  const data = Buffer.alloc(0);
  applyMask(data, KEY, 3);
  assert.equal(data.length, 0);
});

test('applyMask touches only the view it is given, not the bytes around it', () => {
  const backing = Buffer.alloc(100, 0xaa);
  applyMask(backing.subarray(3, 90), KEY, 1);
  assert.ok(backing.subarray(0, 3).every((b) => b === 0xaa));
  assert.ok(backing.subarray(90).every((b) => b === 0xaa));
});

/**
 * A payload, a key, a phase and two offsets of up to 7 bytes. Up to 600 bytes
 * long, so both paths run: the SIMD kernel from 256 bytes, the word loop below.
 */
const maskCase = [
  fc.uint8Array({ minLength: 0, maxLength: 600 }),
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.integer({ min: 0, max: 3 }),
  fc.integer({ min: 0, max: 7 }),
  fc.integer({ min: 0, max: 7 }),
] as const;

/** Property: `mask` applied in place equals maskSimple, at any offset inside a larger buffer and touching nothing around it. */
function assertInPlaceMatchesReference(mask: (data: Uint8Array, key: Uint8Array, phase?: number) => void): void {
  fc.assert(
    fc.property(
      ...maskCase,
      (data, key, phase, lead, trail) => {
        // The payload sits at an arbitrary offset inside a larger buffer, as a
        // frame's payload does inside a socket chunk.
        const backing = new Uint8Array(lead + data.length + trail);
        backing.set(data, lead);
        const reference = Uint8Array.from(backing);
        mask(backing.subarray(lead, lead + data.length), key, phase);
        maskSimple(reference.subarray(lead, lead + data.length), key, phase);
        assert.deepEqual(backing, reference);
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(500) },
  );
}

test('applyMask equals maskSimple for random data, keys, phases and unaligned offsets', () => {
  assertInPlaceMatchesReference(applyMask);
});

test('applyMaskWords, the JavaScript path, equals maskSimple for random data, keys, phases and offsets', () => {
  assertInPlaceMatchesReference(applyMaskWords);
});

test('maskInto equals maskSimple on a copy, leaves the source alone and writes only its target', () => {
  fc.assert(
    fc.property(
      ...maskCase,
      (data, key, phase, sourceLead, targetLead) => {
        const source = new Uint8Array(sourceLead + data.length + 3);
        source.set(data, sourceLead);
        const sourceBefore = Uint8Array.from(source);
        const target = new Uint8Array(targetLead + data.length + 3).fill(0xaa);
        maskInto(source.subarray(sourceLead, sourceLead + data.length), target.subarray(targetLead, targetLead + data.length), key, phase);
        const expected = Uint8Array.from(data);
        maskSimple(expected, key, phase);
        assert.deepEqual(target.subarray(targetLead, targetLead + data.length), expected);
        assert.ok(target.subarray(0, targetLead).every((b) => b === 0xaa));
        assert.ok(target.subarray(targetLead + data.length).every((b) => b === 0xaa));
        assert.deepEqual(source, sourceBefore);
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(500) },
  );
});

test('the WebAssembly SIMD kernel is available on this Node, so long payloads take it', () => {
  // Were the hand-assembled module rejected, masking would silently fall back to the slower loop.
  const kernel = xorKernel();
  assert.ok(kernel !== null);
  kernel.memory.fill(0, 0, 32);
  kernel.xor(20, 0x3d21fa37);
  // Little-endian: key byte 0x37 first. 20 rounds up to 32 bytes, all of them XORed.
  assert.deepEqual([...kernel.memory.subarray(0, 8)], [0x37, 0xfa, 0x21, 0x3d, 0x37, 0xfa, 0x21, 0x3d]);
  assert.deepEqual([...kernel.memory.subarray(28, 36)], [0x37, 0xfa, 0x21, 0x3d, 0, 0, 0, 0]);
});

test('applyMask and maskInto equal maskSimple across several kernel blocks, at every phase and an odd offset', () => {
  const data = Buffer.alloc(2 * XOR_BLOCK + 1001);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  for (let phase = 0; phase < 4; phase++) {
    const expected = Buffer.from(data);
    maskSimple(expected, KEY, phase);
    const inPlace = Buffer.concat([Buffer.alloc(3), data]).subarray(3);
    applyMask(inPlace, KEY, phase);
    assert.ok(inPlace.equals(expected), `applyMask at phase ${phase}`);
    const source = Buffer.from(data);
    const target = Buffer.alloc(data.length + 1).subarray(1);
    maskInto(source, target, KEY, phase);
    assert.ok(target.equals(expected), `maskInto at phase ${phase}`);
    assert.ok(source.equals(data), 'maskInto leaves its source alone');
  }
});
