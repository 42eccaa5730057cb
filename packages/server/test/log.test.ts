import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timestampedLog } from '../src/log.js';

test('timestampedLog prefixes each line with the ISO 8601 UTC time and a space', () => {
  const written: string[] = [];
  const log = timestampedLog((text) => written.push(text), () => new Date(Date.UTC(2026, 11, 3, 8, 40, 1, 123)));
  log('open /echo 127.0.0.1:51234');
  assert.deepEqual(written, ['2026-12-03T08:40:01.123Z open /echo 127.0.0.1:51234']);
});
