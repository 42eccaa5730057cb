#!/usr/bin/env node
// Runs every compiled test file with Node's test runner: the library's
// (packages/wskit/dist/test), the servers' (packages/server/dist/test), and the
// workspace's own (dist/test, dist/bench/test). Node 20's runner takes no globs,
// so the files are listed here explicitly. Optional arguments keep only the
// files whose path (from the repository root) contains one of them.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../', import.meta.url).pathname;
const trees = ['packages/wskit/dist/test', 'packages/server/dist/test', 'dist/test', 'dist/bench/test'];
const filters = process.argv.slice(2);

function collect(dir) {
  const found = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...collect(path));
    else if (entry.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const files = trees.flatMap((tree) => collect(join(root, tree))).filter(
  (file) => filters.length === 0 || filters.some((f) => relative(root, file).includes(f)),
);
if (files.length === 0) {
  console.error(`No test files found under ${trees.join(', ')} matching ${filters.join(', ') || '*'}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=tap', '--test-concurrency=1', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
