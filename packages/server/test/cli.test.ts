/**
 * The `wskit` binary as a user runs it: help for each command, one-line
 * messages naming the flag (or variable) to change on a usage error, a bad
 * value or a busy port, the exit codes (0 help, 1 bad value or failure, 2
 * usage), and log lines that start with an ISO 8601 UTC timestamp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ADD_FLAGS, SERVE_FLAGS } from '../src/cli.js';
import { until } from './chat/harness.js';
import { spawnServe, WSKIT_BIN } from './helpers/server-child.js';

const ISO_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const STACK_LINE = /^\s+at /m;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `wskit ...args` to its exit (killed after 10 s), with PORT and HOST unset unless `env` sets them. */
async function wskit(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { PORT: _port, HOST: _host, ...inherited } = process.env;
  const child = spawn(process.execPath, [WSKIT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...inherited, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** A temporary data directory, removed after the test. */
function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `wskit serve` flags that would start a harmless server should validation let a bad value through. */
function serveArgs(t: { after(fn: () => void): void }, ...flags: string[]): string[] {
  return ['serve', '--port', '0', '--host', '127.0.0.1', '--data', tempDir(t), ...flags];
}

function assertOneLine(run: Run): void {
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line on stderr: ${run.stderr}`);
  assert.doesNotMatch(run.stderr + run.stdout, STACK_LINE, 'no stack trace');
}

test('wskit --help and wskit help list the commands and exit 0', async () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const run = await wskit(args);
    assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stdout, /^\s+serve\s/m);
    assert.match(run.stdout, /^\s+add\s/m);
    assert.equal(run.stderr, '');
  }
});

test('wskit serve --help lists every serve flag with PORT and HOST and exits 0', async () => {
  for (const help of ['--help', '-h']) {
    const run = await wskit(['serve', help]);
    assert.equal(run.code, 0, run.stderr);
    for (const name of Object.keys(SERVE_FLAGS)) assert.match(run.stdout, new RegExp(`--${name}\\b`), `--${name} listed`);
    assert.match(run.stdout, /--port N .*PORT.*8080/);
    assert.match(run.stdout, /--host H .*HOST.*127\.0\.0\.1/);
    assert.match(run.stdout, /--history N .*default 100/);
  }
});

test('wskit serve --help wins over other flags, even unknown ones', async () => {
  const run = await wskit(['serve', '--nope', '--help']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /--history/);
});

test('wskit add --help lists every add flag with its default and exits 0', async () => {
  const run = await wskit(['add', '--help']);
  assert.equal(run.code, 0, run.stderr);
  for (const name of Object.keys(ADD_FLAGS)) assert.match(run.stdout, new RegExp(`--${name}\\b`), `--${name} listed`);
  assert.match(run.stdout, /--count N .*default 10/);
});

test('wskit without a command prints usage on stderr and exits 2', async () => {
  const run = await wskit([]);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /Usage: wskit/);
});

test('wskit with an unknown command names it and exits 2', async () => {
  const run = await wskit(['serf']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /"serf"/);
  assertOneLine(run);
});

test('wskit serve with an unknown flag names it, points to --help and exits 2', async (t) => {
  const run = await wskit(serveArgs(t, '--foo'));
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /--foo/);
  assert.match(run.stderr, /wskit serve --help/);
  assertOneLine(run);
});

test('wskit serve with a flag missing its value names the flag and exits 2', async (t) => {
  const run = await wskit([...serveArgs(t), '--history']);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /--history/);
  assertOneLine(run);
});

test('wskit serve --history with a negative, fractional or empty value names --history and its range, and exits 1', async (t) => {
  for (const flags of [['--history', '-1'], ['--history=-1'], ['--history', '1.5'], ['--history', '']]) {
    const run = await wskit(serveArgs(t, ...flags));
    assert.equal(run.code, 1, `${flags.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /--history/, flags.join(' '));
    assert.match(run.stderr, /1 or more/, flags.join(' '));
    assert.doesNotMatch(run.stderr, /ambiguous/, flags.join(' '));
    assertOneLine(run);
  }
});

test('wskit add takes a negative --a after a space', async () => {
  // --count 0 fails after --a is read, so nothing is dialed.
  const run = await wskit(['add', '--a', '-5', '--count', '0']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /--count/);
  assert.doesNotMatch(run.stderr, /--a\b/);
});

test('wskit serve --redis with a URL of another scheme or no host says which form to use, and exits 1', async (t) => {
  for (const url of ['http://x', 'redis://', 'localhost:6379']) {
    const run = await wskit(serveArgs(t, '--redis', url));
    assert.equal(run.code, 1, `${url}: ${run.stderr}`);
    assert.match(run.stderr, /--redis/);
    assert.match(run.stderr, /redis:\/\/HOST:PORT/);
    assertOneLine(run);
  }
});

test('wskit serve refuses half a TLS pair, unreadable TLS or auth files, a bad --trust-proxy and both auth modes, in one line naming the flag, and exits 1', async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'missing.pem');
  const cases: [string[], RegExp][] = [
    [['--tls-cert', missing], /--tls-cert and --tls-key go together; --tls-key is missing/],
    [['--tls-key', missing], /--tls-cert and --tls-key go together; --tls-cert is missing/],
    [['--tls-cert', missing, '--tls-key', missing], /Cannot read the TLS certificate .*missing\.pem/],
    [['--trust-proxy', '10.0.0.0/33'], /Invalid --trust-proxy "10\.0\.0\.0\/33"/],
    [['--max-connections-per-ip', '0'], /Invalid --max-connections-per-ip "?0"?: use a whole number, 1 or more/],
    [['--auth-secret-file', missing, '--auth-jwks-file', missing], /exactly one of --auth-secret-file .* and --auth-jwks-file/],
    [['--auth-secret-file', missing], /missing\.pem/],
    [['--api-key-file', missing], /Cannot read --api-key-file .*missing\.pem/],
  ];
  for (const [flags, message] of cases) {
    const run = await wskit(serveArgs(t, ...flags));
    assert.equal(run.code, 1, `${flags.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message, flags.join(' '));
    assertOneLine(run);
  }
});

test('wskit serve --redis hides the password of a rejected URL', async (t) => {
  const run = await wskit(serveArgs(t, '--redis', 'redis://user:s3cret@127.0.0.1:6379/not-a-db'));
  assert.equal(run.code, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /s3cret/);
});

test('wskit serve with a bad PORT variable names the variable and exits 1', async (t) => {
  const run = await wskit(['serve', '--data', tempDir(t)], { PORT: '80a' });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /PORT "80a"/);
  assertOneLine(run);
});

test('wskit serve on a busy port says so in one line naming --port and PORT, and exits 1', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const { port } = holder.address() as AddressInfo;
  const run = await wskit(['serve', '--port', String(port), '--host', '127.0.0.1', '--data', tempDir(t)]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.match(run.stderr, /in use/);
  assert.match(run.stderr, /--port/);
  assert.match(run.stderr, /\bPORT\b/);
  assert.doesNotMatch(run.stdout, /listening/);
  assertOneLine(run);
});

test('wskit serve on an address not of this machine names --host and HOST, and exits 1', async (t) => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
  const run = await wskit(['serve', '--port', '0', '--host', '192.0.2.1', '--data', tempDir(t)]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /--host/);
  assert.match(run.stderr, /\bHOST\b/);
  assertOneLine(run);
});

test('wskit serve starts each log line with an ISO 8601 UTC timestamp: listening, open, close and shutdown', { timeout: 30_000 }, async (t) => {
  const serve = await spawnServe(['--data', tempDir(t)]);
  t.after(() => serve.stop('SIGKILL').then(() => undefined));
  const client = new WebSocket(`${serve.wsBase}/echo`);
  t.after(() => client.terminate());
  await once(client, 'open');
  client.close(1000, 'done');
  await once(client, 'close');
  await until(() => /close \/echo /.test(serve.stdout()), 'the close log line');
  const { code } = await serve.stop('SIGTERM');
  assert.equal(code, 0);
  const lines = serve.stdout().split('\n').filter((line) => line !== '');
  for (const line of lines) assert.match(line, ISO_LINE);
  for (const event of [/ wskit listening on http:\/\/127\.0\.0\.1:\d+$/, / open \/echo 127\.0\.0\.1:\d+ http\/1\.1$/, / close \/echo 127\.0\.0\.1:\d+ code=1000/, / SIGTERM: shutting down$/]) {
    assert.ok(lines.some((line) => event.test(line)), `${event} in:\n${lines.join('\n')}`);
  }
  const stamp = Date.parse(lines[0]!.split(' ')[0]!);
  assert.ok(Math.abs(Date.now() - stamp) < 60_000, `the timestamp ${lines[0]} is now, in UTC`);
});

test('README documents every flag of wskit serve in its flags table', () => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'README.md')) || !existsSync(join(dir, 'packages'))) {
    const up = dirname(dir);
    assert.notEqual(up, dir, 'the repository root (README.md beside packages/) is above this test');
    dir = up;
  }
  const rows = readFileSync(join(dir, 'README.md'), 'utf8').split('\n').filter((line) => line.startsWith('| `--'));
  for (const name of Object.keys(SERVE_FLAGS).filter((flag) => flag !== 'help')) {
    assert.ok(rows.some((row) => row.split('|')[1]!.includes(`\`--${name}`)), `README's flags table has no row for --${name}`);
  }
});
