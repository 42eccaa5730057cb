/**
 * The boundaries the layout promises. The library (packages/wskit): the
 * protocol core does no I/O, only src/deflate.ts touches zlib, and nothing but
 * Node itself is imported. The servers (packages/server): they use the library
 * only by its package name, and only the Redis broker knows the Redis client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const LIB = 'packages/wskit';
const SERVER = 'packages/server';

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
  const files = sources(`${LIB}/src/protocol`);
  assert.ok(files.length >= 8, `expected the core's files, found ${files.length}`);
  for (const file of files) {
    for (const spec of imports(file)) {
      assert.doesNotMatch(spec, IO_MODULES, `${file} imports ${spec}`);
      if (spec.startsWith('.')) {
        const target = join(file, '..', spec);
        assert.ok(
          target.startsWith(`${LIB}/src/protocol/`) || [`${LIB}/src/errors.js`, `${LIB}/src/constants.js`].includes(target),
          `${file} reaches outside the core: ${spec}`,
        );
      }
    }
  }
});

test('the protocol core has no async functions or timers', () => {
  for (const file of sources(`${LIB}/src/protocol`)) {
    const text = readFileSync(join(root, file), 'utf8');
    assert.doesNotMatch(text, /\basync\b|\bawait\b|setTimeout|setInterval|setImmediate/, file);
  }
});

test('only src/deflate.ts imports node:zlib', () => {
  for (const file of sources(`${LIB}/src`)) {
    if (file === `${LIB}/src/deflate.ts`) continue;
    for (const spec of imports(file)) assert.doesNotMatch(spec, /^(node:)?zlib$/, `${file} imports zlib`);
  }
});

test('the library imports only Node built-ins and its own files, and declares no dependency', () => {
  for (const file of sources(`${LIB}/src`)) {
    for (const spec of imports(file)) {
      if (spec.startsWith('.')) {
        assert.ok(join(file, '..', spec).startsWith(`${LIB}/src/`), `${file} reaches outside src/: ${spec}`);
      } else {
        assert.match(spec, /^node:/, `${file} imports ${spec}: the library has no runtime dependencies`);
      }
    }
  }
  const manifest = JSON.parse(readFileSync(join(root, LIB, 'package.json'), 'utf8')) as Record<string, unknown>;
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies']) {
    assert.equal(manifest[field], undefined, `package.json declares ${field}`);
  }
});

test('the servers import the library only by its package name, and stay inside their package', () => {
  const files = sources(`${SERVER}/src`);
  assert.ok(files.length > 10, `expected the servers' files, found ${files.length}`);
  for (const file of files) {
    for (const spec of imports(file)) {
      if (spec.startsWith('.')) assert.ok(join(file, '..', spec).startsWith(`${SERVER}/src/`), `${file} reaches outside src/: ${spec}`);
      else assert.doesNotMatch(spec, /^wskit\//, `${file} imports a library subpath: ${spec}`);
    }
  }
});

/** Asserts that no source of the library or the servers but `owner` imports a module matching `spec`. */
function assertOnlyImporter(owner: string, spec: RegExp): void {
  for (const file of [...sources(`${LIB}/src`), ...sources(`${SERVER}/src`)]) {
    if (file === owner) continue;
    for (const imported of imports(file)) assert.doesNotMatch(imported, spec, `${file} imports ${imported}`);
  }
}

test('only the Redis broker\'s connection module imports the redis client', () => {
  assertOnlyImporter(`${SERVER}/src/chat/redis-connection.ts`, /^(redis|@redis\/)/);
});

test('only the chat auth module imports jose', () => {
  assertOnlyImporter(`${SERVER}/src/chat/auth.ts`, /^jose(\/|$)/);
});
