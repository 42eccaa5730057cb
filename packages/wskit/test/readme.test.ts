/**
 * README's server and client examples run as written (only the port is
 * changed to a free one), so the documentation cannot rot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;

function example(name: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = new RegExp('```js example:' + name + '\\n([\\s\\S]*?)```').exec(readme);
  assert.ok(match, `README has no "js example:${name}" block`);
  return match[1]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on port ${port}`);
}

test('README server and client examples run as written and talk to each other', async () => {
  const port = await freePort();
  // Inside the package, so `import ... from 'wskit'` resolves to this package by its exports.
  const dir = join(root, 'test-results', 'readme');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.mjs'), example('server').replaceAll('8080', String(port)));
  writeFileSync(join(dir, 'client.mjs'), example('client').replaceAll('8080', String(port)));
  const server = spawn(process.execPath, [join(dir, 'server.mjs')], { stdio: 'pipe' });
  try {
    await waitForPort(port);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'client.mjs')], { timeout: 15_000 });
    assert.match(stdout, /handshake: 101 \S+=/);
    assert.match(stdout, /echoed: \{ A: 7, B: 4 \}/);
    assert.doesNotMatch(stdout, /unexpected close/);
  } finally {
    server.kill();
  }
});

test('README HTTP/2 server and client examples run as written: three WebSockets as streams of one connection', async () => {
  const port = await freePort();
  const dir = join(root, 'test-results', 'readme');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'http2-server.mjs'), example('http2-server').replaceAll('8080', String(port)));
  writeFileSync(join(dir, 'http2-client.mjs'), example('http2-client').replaceAll('8080', String(port)));
  const server = spawn(process.execPath, [join(dir, 'http2-server.mjs')], { stdio: 'pipe' });
  try {
    await waitForPort(port);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'http2-client.mjs')], { timeout: 15_000 });
    assert.equal(stdout, '2 stream 0\n2 stream 1\n2 stream 2\n');
  } finally {
    server.kill();
  }
});
