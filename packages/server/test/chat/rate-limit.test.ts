import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/chat/rate-limit.js';

function countAllowed(bucket: TokenBucket, times: number, now: number): number {
  let allowed = 0;
  for (let i = 0; i < times; i++) if (bucket.take(now)) allowed++;
  return allowed;
}

test('TokenBucket allows a burst, then the rate', () => {
  const bucket = new TokenBucket({ rate: 20, burst: 40 }, 0);
  assert.equal(countAllowed(bucket, 100, 0), 40);
  assert.equal(countAllowed(bucket, 100, 500), 10, 'half a second refills 10 tokens');
  assert.equal(countAllowed(bucket, 100, 10_500), 40, 'refill stops at the burst');
});

test('TokenBucket with rate 0 never refuses', () => {
  const bucket = new TokenBucket({ rate: 0, burst: 1 }, 0);
  assert.equal(countAllowed(bucket, 10_000, 0), 10_000);
});

test('TokenBucket does not mint tokens when the clock steps back', () => {
  const bucket = new TokenBucket({ rate: 10, burst: 1 }, 1000);
  assert.equal(bucket.take(1000), true);
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(1000), false, 'no time has passed since the last refill');
  assert.equal(bucket.take(1100), true);
});

test('TokenBucket defaults the burst to the rate', () => {
  const bucket = new TokenBucket({ rate: 5 }, 0);
  assert.equal(countAllowed(bucket, 100, 0), 5);
});

test('TokenBucket rejects a negative rate with RangeError', () => {
  assert.throws(() => new TokenBucket({ rate: -1 }), RangeError);
});
