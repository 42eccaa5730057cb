/**
 * Where `npm run bench` writes its tables: only a plain run replaces the
 * full table README quotes; any narrowed or changed run goes elsewhere.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions } from '../options.js';

test('a plain run writes the full table to bench/results', () => {
  assert.equal(parseOptions([], {}).outDir, 'bench/results');
});

test('a run with any other flag or BENCH_* setting writes to bench/results/partial', () => {
  for (const argv of [['--only', 'echo'], ['--rows', '32B x1'], ['--quick'], ['--sizes', '32'], ['--gen', 'raw'], ['--rounds', '1']]) {
    assert.equal(parseOptions(argv, {}).outDir, 'bench/results/partial', argv.join(' '));
  }
  assert.equal(parseOptions([], { BENCH_ONLY: 'core' }).outDir, 'bench/results/partial');
  assert.equal(parseOptions([], { BENCH_QUICK: '1' }).outDir, 'bench/results/partial');
});

test('--out wins in either case', () => {
  assert.equal(parseOptions(['--out', '/tmp/b'], {}).outDir, '/tmp/b');
  assert.equal(parseOptions(['--only', 'echo', '--out', '/tmp/b'], {}).outDir, '/tmp/b');
});

test('the C generator is the default, and an unknown one is refused', () => {
  assert.equal(parseOptions([], {}).gen, 'native');
  assert.equal(parseOptions(['--gen', 'ws'], {}).gen, 'ws');
  assert.throws(() => parseOptions(['--gen', 'go'], {}), /Unknown generator "go": expected native, raw or ws/);
});

test('the echo rows read with onMessage unless --wskit-style says for-await, and an unknown style is refused', () => {
  assert.equal(parseOptions([], {}).wskitStyle, 'on-message');
  assert.equal(parseOptions(['--wskit-style', 'for-await'], {}).wskitStyle, 'for-await');
  assert.throws(() => parseOptions(['--wskit-style', 'callbacks'], {}), /--wskit-style must be on-message or for-await, not callbacks/);
});
