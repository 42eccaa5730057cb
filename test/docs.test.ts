/**
 * The API reference (`npm run docs`, TypeDoc over the library's three entry
 * points) builds without a warning: every exported name and every member of
 * an exported type has a doc comment, and every {@link} resolves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;
const typedoc = join(dirname(createRequire(import.meta.url).resolve('typedoc/package.json')), 'bin', 'typedoc');

test('every export of wskit, wskit/protocol and wskit/ws is documented (TypeDoc reports no warning)', { timeout: 120_000 }, async () => {
  let output: string;
  try {
    const result = await promisify(execFile)(process.execPath, [typedoc, '--emit', 'none', '--treatWarningsAsErrors'], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    output = result.stdout + result.stderr;
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    assert.fail(`TypeDoc failed:\n${stdout}${stderr}`);
  }
  assert.doesNotMatch(output, /warning/i, output);
});
