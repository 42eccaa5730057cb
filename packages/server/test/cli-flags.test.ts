import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFlags, HELP_FLAG, parseFlags, UsageError, wantsHelp } from '../src/cli-flags.js';

const FLAGS = {
  count: { type: 'string', value: 'N', help: 'how many', unset: '3' },
  tag: { type: 'string', value: 'T', multiple: true, default: [] as string[], help: 'a tag' },
  port: { type: 'string', value: 'N', env: 'PORT', default: '8080', help: 'where' },
  ...HELP_FLAG,
} as const;

test('parseFlags reads a negative number after a flag as its value, spaced or with =', () => {
  assert.equal(parseFlags('x', FLAGS, ['--count', '-1']).count, '-1');
  assert.equal(parseFlags('x', FLAGS, ['--count=-1']).count, '-1');
  assert.equal(parseFlags('x', FLAGS, ['--count', '-.5']).count, '-.5');
  assert.deepEqual(parseFlags('x', FLAGS, ['--tag', 'a', '--tag', '-2']).tag, ['a', '-2']);
});

test('parseFlags throws UsageError on an unknown flag, a missing value, a dash value and a positional', () => {
  for (const args of [['--nope'], ['--count'], ['--count', '--port', '1'], ['--count', '-x'], ['stray'], ['--help=yes']]) {
    assert.throws(() => parseFlags('x', FLAGS, args), UsageError, args.join(' '));
  }
});

test('wantsHelp finds --help or -h before --', () => {
  assert.equal(wantsHelp(['--count', '1', '-h']), true);
  assert.equal(wantsHelp(['--help']), true);
  assert.equal(wantsHelp(['--', '--help']), false);
  assert.equal(wantsHelp(['--count', '1']), false);
});

test('formatFlags lists every flag with its placeholder, env variable and default', () => {
  const lines = formatFlags(FLAGS).split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^ {2}--count N +how many \(default 3\)$/);
  assert.match(lines[1]!, /^ {2}--tag T +a tag \(repeatable\)$/);
  assert.match(lines[2]!, /^ {2}--port N +where \(env PORT; default 8080\)$/);
  assert.match(lines[3]!, /^ {2}-h, --help +print this help and exit$/);
});
