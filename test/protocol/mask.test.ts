import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyMask, maskSimple } from '../../src/protocol/mask.js';
import { FUZZ_SEED, fuzzRuns, hex } from '../helpers/bytes.js';

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

test('applyMask equals maskSimple for random data, keys, phases and unaligned offsets', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 7 }),
      (data, key, phase, lead, trail) => {
        // The payload sits at an arbitrary offset inside a larger buffer, as a
        // frame's payload does inside a socket chunk.
        const backing = new Uint8Array(lead + data.length + trail);
        backing.set(data, lead);
        const reference = Uint8Array.from(backing);
        applyMask(backing.subarray(lead, lead + data.length), key, phase);
        maskSimple(reference.subarray(lead, lead + data.length), key, phase);
        assert.deepEqual(backing, reference);
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(500) },
  );
});
