import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { CloseCode } from '../../src/constants.js';
import { ProtocolError } from '../../src/errors.js';
import {
  MAX_CLOSE_REASON,
  encodeClosePayload,
  isValidCloseCode,
  parseClosePayload,
  truncateReason,
} from '../../src/protocol/close.js';
import { FUZZ_SEED, fuzzRuns, hex, toHex } from 'wskit-testing/bytes';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

test('isValidCloseCode accepts the registered and application codes of RFC 6455 §7.4', () => {
  for (const code of VALID_CODES) assert.equal(isValidCloseCode(code), true, String(code));
});

test('isValidCloseCode refuses reserved, unassigned and out-of-range codes', () => {
  for (const code of INVALID_CODES) assert.equal(isValidCloseCode(code), false, String(code));
});

test('parseClosePayload reads an empty payload as 1005 with no reason', () => {
  assert.deepEqual(parseClosePayload(Buffer.alloc(0)), { code: CloseCode.NoStatusReceived, reason: '' });
});

test('parseClosePayload reads a code and a UTF-8 reason', () => {
  assert.deepEqual(parseClosePayload(hex('03 e8 62 79 65')), { code: 1000, reason: 'bye' });
  assert.deepEqual(parseClosePayload(hex('0f a0')), { code: 4000, reason: '' });
  assert.deepEqual(parseClosePayload(Buffer.concat([hex('03 e9'), Buffer.from('à bientôt')])), { code: 1001, reason: 'à bientôt' });
});

test('parseClosePayload rejects a 1-byte payload with 1002', () => {
  assert.throws(
    () => parseClosePayload(hex('03')),
    (err: unknown) => err instanceof ProtocolError && err.closeCode === CloseCode.ProtocolError,
  );
});

test('parseClosePayload rejects codes that may not be sent with 1002', () => {
  for (const code of INVALID_CODES) {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    assert.throws(
      () => parseClosePayload(payload),
      (err: unknown) => err instanceof ProtocolError && err.closeCode === CloseCode.ProtocolError && err.code === 'ERR_INVALID_CLOSE_CODE',
      String(code),
    );
  }
});

test('parseClosePayload rejects a reason that is not UTF-8 with 1007', () => {
  for (const reason of [hex('ff'), hex('c3'), hex('ed a0 80'), hex('62 79 e2 82')]) {
    assert.throws(
      () => parseClosePayload(Buffer.concat([hex('03 e8'), reason])),
      (err: unknown) => err instanceof ProtocolError && err.closeCode === CloseCode.InvalidPayloadData,
      toHex(reason),
    );
  }
});

test('encodeClosePayload writes the code big-endian, then the reason', () => {
  assert.equal(toHex(encodeClosePayload(1000)), '03 e8');
  assert.equal(toHex(encodeClosePayload(4999, 'ok')), '13 87 6f 6b');
});

test('encodeClosePayload gives an empty payload for 1005, "no code"', () => {
  assert.equal(encodeClosePayload(CloseCode.NoStatusReceived).length, 0);
});

test('encodeClosePayload throws RangeError for a code that may not be sent', () => {
  for (const code of [0, 999, 1004, 1006, 1015, 2999, 5000]) {
    assert.throws(() => encodeClosePayload(code), RangeError, String(code));
  }
});

test('encodeClosePayload takes a reason of 123 bytes and throws RangeError at 124', () => {
  assert.equal(encodeClosePayload(1000, 'x'.repeat(MAX_CLOSE_REASON)).length, 125);
  assert.throws(() => encodeClosePayload(1000, 'x'.repeat(MAX_CLOSE_REASON + 1)), RangeError);
  // Counted in bytes, not characters: 62 two-byte characters are 124 bytes.
  assert.throws(() => encodeClosePayload(1000, 'é'.repeat(62)), RangeError);
});

test('truncateReason leaves a short reason alone', () => {
  assert.equal(truncateReason('going away'), 'going away');
  assert.equal(truncateReason('x'.repeat(MAX_CLOSE_REASON)), 'x'.repeat(MAX_CLOSE_REASON));
});

test('truncateReason shortens a long reason on a character boundary, marked with "..."', () => {
  const long = '😀'.repeat(40);
  const short = truncateReason(long);
  assert.ok(short.endsWith('...'));
  assert.ok(Buffer.byteLength(short) <= MAX_CLOSE_REASON);
  assert.ok(long.startsWith(short.slice(0, -3)));
});

test('encodeClosePayload and parseClosePayload round-trip any valid code with any truncated reason', () => {
  const code = fc.oneof(fc.constantFrom(...VALID_CODES), fc.integer({ min: 3000, max: 4999 }));
  fc.assert(
    fc.property(code, fc.string({ unit: 'grapheme', maxLength: 100 }), (c, text) => {
      const reason = truncateReason(text);
      assert.ok(Buffer.byteLength(reason) <= MAX_CLOSE_REASON);
      assert.ok(text === reason || text.startsWith(reason.slice(0, -3)));
      const payload = encodeClosePayload(c, reason);
      assert.ok(payload.length <= 125);
      assert.ok(isUtf8(payload.subarray(2)));
      assert.deepEqual(parseClosePayload(payload), { code: c, reason });
    }),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(500) },
  );
});
