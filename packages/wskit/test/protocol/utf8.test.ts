import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { Utf8Validator, isValidUtf8 } from '../../src/protocol/utf8.js';
import { FUZZ_SEED, fuzzRuns, hex, splitAt, threeWays } from 'wskit-testing/bytes';

/** Feed pieces; the result of the first failing feed, or of the end check. */
function validate(pieces: readonly Uint8Array[]): boolean {
  const v = new Utf8Validator();
  for (const piece of pieces) if (!v.feed(piece)) return false;
  return v.complete;
}

const fatal = new TextDecoder('utf-8', { fatal: true });
function decoderAccepts(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const VALID = {
  ascii: Buffer.from('Hello'),
  'two-byte é': hex('c3 a9'),
  'three-byte €': hex('e2 82 ac'),
  'four-byte 😀': hex('f0 9f 98 80'),
  'U+D7FF before the surrogates': hex('ed 9f bf'),
  'U+E000 after the surrogates': hex('ee 80 80'),
  'U+10FFFF, the last code point': hex('f4 8f bf bf'),
  mixed: Buffer.from('κόσμε 😀 €uro ascii'),
  empty: Buffer.alloc(0),
};

const INVALID = {
  'lone continuation byte': hex('80'),
  'overlong 2-byte NUL C0 80': hex('c0 80'),
  'overlong C1 BF': hex('c1 bf'),
  'overlong 3-byte E0 80 80': hex('e0 80 80'),
  'overlong 4-byte F0 80 80 80': hex('f0 80 80 80'),
  'surrogate U+D800 ED A0 80': hex('ed a0 80'),
  'surrogate U+DFFF ED BF BF': hex('ed bf bf'),
  'beyond U+10FFFF F4 90 80 80': hex('f4 90 80 80'),
  'F5 lead byte': hex('f5 80 80 80'),
  'FF byte': hex('ff'),
  'lead byte followed by ASCII': hex('c3 41'),
  'ASCII then a bad byte': Buffer.concat([Buffer.from('Hello'), hex('fe')]),
};

const TRUNCATED = {
  'two-byte missing its last byte': hex('c3'),
  'three-byte missing one byte': hex('e2 82'),
  'four-byte missing one byte': hex('f0 9f 98'),
  'text ending in half a code point': Buffer.concat([Buffer.from('Hello '), hex('f0 9f')]),
};

for (const [name, bytes] of Object.entries(VALID)) {
  test(`Utf8Validator accepts ${name}, fed whole, halved and byte by byte`, () => {
    for (const way of threeWays(bytes)) assert.equal(validate(way.pieces), true, way.name);
  });
}

for (const [name, bytes] of Object.entries(INVALID)) {
  test(`Utf8Validator rejects ${name}, fed whole, halved and byte by byte`, () => {
    for (const way of threeWays(bytes)) assert.equal(validate(way.pieces), false, way.name);
  });
}

for (const [name, bytes] of Object.entries(TRUNCATED)) {
  test(`Utf8Validator accepts the pieces of ${name} but reports it incomplete`, () => {
    for (const way of threeWays(bytes)) {
      const v = new Utf8Validator();
      for (const piece of way.pieces) assert.equal(v.feed(piece), true, way.name);
      assert.equal(v.complete, false, way.name);
    }
  });
}

test('Utf8Validator accepts every valid string cut at every byte offset', () => {
  const text = Buffer.from('aé€😀b\u{10FFFF}\u{E000}');
  for (let cut = 0; cut <= text.length; cut++) {
    assert.equal(validate(splitAt(text, [cut])), true, `cut at ${cut}`);
  }
});

test('Utf8Validator fails at the first bad piece, whatever follows', () => {
  const v = new Utf8Validator();
  assert.equal(v.feed(Buffer.from('fine so far ')), true);
  assert.equal(v.feed(hex('e0')), true);
  // E0 must be followed by A0–BF: 80 makes an overlong form, decided here without more input.
  assert.equal(v.feed(hex('80')), false);
  assert.equal(v.complete, false);
});

test('Utf8Validator.reset forgets a half-read code point', () => {
  const v = new Utf8Validator();
  assert.equal(v.feed(hex('f0 9f')), true);
  assert.equal(v.complete, false);
  v.reset();
  assert.equal(v.complete, true);
  assert.equal(v.feed(Buffer.from('abc')), true);
  assert.equal(v.complete, true);
});

test('isValidUtf8 agrees with the fixtures', () => {
  for (const bytes of Object.values(VALID)) assert.equal(isValidUtf8(bytes), true);
  for (const bytes of [...Object.values(INVALID), ...Object.values(TRUNCATED)]) assert.equal(isValidUtf8(bytes), false);
});

/** Random byte strings biased toward UTF-8 lead and continuation bytes, so they are valid now and then. */
const utf8ish = fc.array(
  fc.oneof(
    fc.integer({ min: 0x00, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0xbf }),
    fc.integer({ min: 0xc0, max: 0xff }),
    fc.constantFrom(0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0x9f, 0xa0, 0x8f, 0x90),
  ),
  { maxLength: 64 },
);
const cuts = fc.array(fc.nat({ max: 70 }), { maxLength: 8 });

test('Utf8Validator fed in random pieces agrees with isUtf8 and a fatal TextDecoder on random bytes', () => {
  fc.assert(
    fc.property(utf8ish, cuts, (list, offsets) => {
      const bytes = Uint8Array.from(list);
      const expected = isUtf8(bytes);
      assert.equal(decoderAccepts(bytes), expected);
      assert.equal(validate(splitAt(bytes, offsets)), expected);
    }),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(2000) },
  );
});

test('Utf8Validator fed in random pieces agrees with isUtf8 on valid strings with random mutations', () => {
  const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.array(mutation, { maxLength: 2 }), cuts, (text, mutations, offsets) => {
      const bytes = Buffer.from(text);
      if (mutations.length === 0) assert.equal(validate(splitAt(bytes, offsets)), true);
      for (const m of mutations) if (bytes.length > 0) bytes[m.at % bytes.length] = m.value;
      const expected = isUtf8(bytes);
      assert.equal(decoderAccepts(bytes), expected);
      assert.equal(validate(splitAt(bytes, offsets)), expected);
    }),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(2000) },
  );
});

test('Utf8Validator stays failed after an invalid byte until reset', () => {
  const validator = new Utf8Validator();
  assert.equal(validator.feed(Buffer.from([0x61, 0xff])), false);
  assert.equal(validator.feed(Buffer.from('plain ascii')), false);
  assert.equal(validator.feed(Buffer.from([0x80, 0x80, 0x80])), false);
  assert.equal(validator.complete, false);
  validator.reset();
  assert.equal(validator.feed(Buffer.from('plain ascii')), true);
  assert.equal(validator.complete, true);
});
