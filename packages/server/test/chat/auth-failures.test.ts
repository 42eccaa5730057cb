import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailures } from '../../src/chat/auth-failures.js';

test('AuthFailures lets an address fail perMinute times, then asks it to wait', () => {
  const failures = new AuthFailures({ perMinute: 3 });
  for (let i = 0; i < 3; i++) {
    assert.equal(failures.retryAfter('10.0.0.1', 0), 0, `attempt ${i + 1} may go`);
    failures.fail('10.0.0.1', 0);
  }
  // 3 per minute: one failure refills in 20 s.
  assert.equal(failures.retryAfter('10.0.0.1', 0), 20);
  assert.equal(failures.retryAfter('10.0.0.1', 15_000), 5, 'the wait shrinks as the bucket refills');
  assert.equal(failures.retryAfter('10.0.0.1', 20_000), 0, 'one attempt is back after 20 s');
  assert.equal(failures.retryAfter('10.0.0.2', 0), 0, 'another address is not affected');
});

test('AuthFailures refills at most to the burst, so a long quiet spell does not bank attempts', () => {
  const failures = new AuthFailures({ perMinute: 2 });
  failures.fail('a', 0);
  failures.fail('a', 3_600_000);
  failures.fail('a', 3_600_000);
  assert.ok(failures.retryAfter('a', 3_600_000) > 0, 'two failures at once use the whole burst of 2');
});

test('AuthFailures never lets a clock going backwards refill or overdraw the bucket', () => {
  const failures = new AuthFailures({ perMinute: 1 });
  failures.fail('a', 60_000);
  assert.equal(failures.retryAfter('a', 0), 60, 'an earlier time is no refill');
  failures.fail('a', 0);
  assert.equal(failures.retryAfter('a', 60_000), 60, 'the count stays at zero, not below');
  assert.equal(failures.retryAfter('a', 120_000), 0);
});

test('AuthFailures tracks at most maxAddresses, forgetting the least recently failed first', () => {
  const failures = new AuthFailures({ perMinute: 1, maxAddresses: 2 });
  failures.fail('a', 0);
  failures.fail('b', 0);
  failures.fail('a', 0); // a is now the most recent
  failures.fail('c', 0);
  assert.equal(failures.size, 2);
  assert.equal(failures.retryAfter('b', 0), 0, 'b was forgotten');
  assert.ok(failures.retryAfter('a', 0) > 0);
  assert.ok(failures.retryAfter('c', 0) > 0);
});

test('AuthFailures refuses a budget that is not a whole number of at least 1 with RangeError', () => {
  for (const perMinute of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new AuthFailures({ perMinute }), RangeError, String(perMinute));
  }
});
