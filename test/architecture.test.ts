/**
 * The two boundaries the layout promises: the protocol core does no I/O, and
 * the apps use the library only through its public entry point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir))) {
    const path = join(dir, entry);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (entry.endsWith('.ts')) out.push(path);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!).concat(
    [...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
  );
}

const IO_MODULES = /^(node:)?(net|tls|http|https|http2|dgram|fs|fs\/promises|zlib|child_process|timers|timers\/promises|worker_threads)$/;

test('the protocol core imports no I/O, timer or zlib module', () => {
  const files = sources('src/protocol');
  assert.ok(files.length >= 8, `expected the core's files, found ${files.length}`);
  for (const file of files) {
    for (const spec of imports(file)) {
      assert.doesNotMatch(spec, IO_MODULES, `${file} imports ${spec}`);
      if (spec.startsWith('.')) {
        const target = join(file, '..', spec);
        assert.ok(
          target.startsWith('src/protocol/') || ['src/errors.js', 'src/constants.js'].includes(target),
          `${file} reaches outside the core: ${spec}`,
        );
      }
    }
  }
});

test('the protocol core has no async functions or timers', () => {
  for (const file of sources('src/protocol')) {
    const text = readFileSync(join(root, file), 'utf8');
    assert.doesNotMatch(text, /\basync\b|\bawait\b|setTimeout|setInterval|setImmediate/, file);
  }
});

test('only src/deflate.ts imports node:zlib', () => {
  for (const file of sources('src')) {
    if (file === 'src/deflate.ts') continue;
    for (const spec of imports(file)) assert.doesNotMatch(spec, /^(node:)?zlib$/, `${file} imports zlib`);
  }
});

test('apps import the library only through src/index.ts', () => {
  const files = sources('apps');
  assert.ok(files.length > 0);
  for (const file of files) {
    for (const spec of imports(file)) {
      if (!spec.startsWith('.')) continue;
      const target = relative('.', join(file, '..', spec));
      if (target.startsWith('src/')) assert.equal(target, 'src/index.js', `${file} imports library internals: ${spec}`);
    }
  }
});

test('only the Redis broker imports the redis client', () => {
  for (const file of [...sources('src'), ...sources('apps')]) {
    if (file === 'apps/chat/redis-broker.ts') continue;
    for (const spec of imports(file)) assert.doesNotMatch(spec, /^(redis|@redis\/)/, `${file} imports ${spec}`);
  }
});
