/**
 * `wskit serve` over TLS: HTTPS and WSS on one port with a certificate from
 * a throwaway test CA, the certificate swapped and re-read on SIGHUP while
 * an open connection stays, a broken file kept out at reload and refused
 * at start, and the warning for plain HTTP beyond loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { dial } from 'wskit';
import { createTestCa, hasOpenssl, type TestCa } from 'wskit-testing/tls';
import { plainTextWarning, startServer } from '../src/server.js';
import { spawnServe } from './helpers/server-child.js';
import { tempDataDir, until } from './chat/harness.js';

const REQUIRED = process.env.WSKIT_REQUIRE_SERVICES === '1';
const skip = !REQUIRED && !hasOpenssl() ? 'the openssl command is not installed (set WSKIT_REQUIRE_SERVICES=1 to fail instead)' : false;

function testCa(t: { after(fn: () => void): void }): TestCa {
  const ca = createTestCa();
  t.after(() => ca.remove());
  return ca;
}

/** The certificate 127.0.0.1:port presents, checked against `ca`. */
function servedCertificate(port: number, ca: Buffer): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** GET over HTTPS trusting `ca`: status and body. */
function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

test('TLS: HTTPS serves the page and WSS the echo and chat routes to a client trusting the test CA', { skip, timeout: 30_000 }, async (t) => {
  const ca = testCa(t);
  const running = await startServer({ port: 0, host: '127.0.0.1', tls: ca.issue('server'), chat: { dataDir: tempDataDir(t) }, log: () => {} });
  t.after(() => running.shutdown());
  assert.match(running.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const page = await httpsGet(`${running.url}/`, ca.cert);
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);

  const wss = running.url.replace('https:', 'wss:');
  const { conn: echo } = await dial(`${wss}/echo`, { tls: { ca: ca.cert } });
  await echo.write('text', 'over tls');
  assert.equal((await echo.read()).data.toString(), 'over tls');
  await echo.close();

  const { conn: chat } = await dial(`${wss}/ws?room=lobby&name=ada`, { tls: { ca: ca.cert } });
  assert.equal(((await chat.readJSON()) as { type: string }).type, 'history');
  await chat.close();
});

test('TLS: a client that does not trust the CA is refused by its own certificate check', { skip, timeout: 30_000 }, async (t) => {
  const ca = testCa(t);
  const running = await startServer({ port: 0, host: '127.0.0.1', tls: ca.issue('server'), chat: { dataDir: tempDataDir(t) }, log: () => {} });
  t.after(() => running.shutdown());
  await assert.rejects(dial(`${running.url.replace('https:', 'wss:')}/echo`), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
});

test('TLS: wskit serve re-reads its certificate on SIGHUP; new connections get the new one, an open connection stays', { skip, timeout: 60_000 }, async (t) => {
  const ca = testCa(t);
  const first = ca.issue('first');
  const second = ca.issue('second');
  const certFile = join(ca.dir, 'live.crt');
  const keyFile = join(ca.dir, 'live.key');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  const serve = await spawnServe(['--data', tempDataDir(t), '--tls-cert', certFile, '--tls-key', keyFile]);
  t.after(() => serve.stop('SIGKILL').then(() => undefined));
  assert.match(serve.httpBase, /^https:/);
  assert.equal((await servedCertificate(serve.port, ca.cert)).subject.CN, 'first');

  const { conn: open } = await dial(`${serve.wsBase}/echo`, { tls: { ca: ca.cert } });
  copyFileSync(second.certFile, certFile);
  copyFileSync(second.keyFile, keyFile);
  serve.process.kill('SIGHUP');
  await until(() => /reload: TLS certificate re-read/.test(serve.stdout()), 'the reload log line', 10_000);
  assert.equal((await servedCertificate(serve.port, ca.cert)).subject.CN, 'second');

  await open.write('text', 'still here');
  assert.equal((await open.read()).data.toString(), 'still here', 'the connection opened before the reload still works');
  await open.close();

  // A broken file at the next reload is logged and the certificate in use stays.
  writeFileSync(certFile, 'not a certificate\n');
  serve.process.kill('SIGHUP');
  await until(() => /reload: keeping the old TLS certificate: Cannot use the TLS certificate/.test(serve.stdout()), 'the failed reload line', 10_000);
  assert.equal((await servedCertificate(serve.port, ca.cert)).subject.CN, 'second');
  const { conn: after } = await dial(`${serve.wsBase}/echo`, { tls: { ca: ca.cert } });
  await after.close();
  assert.equal(serve.process.exitCode, null, 'the server is still running');
});

test('TLS: startServer refuses a missing or mismatched certificate with an error naming the file', { skip, timeout: 30_000 }, async (t) => {
  const ca = testCa(t);
  const one = ca.issue('one');
  const two = ca.issue('two');
  await assert.rejects(
    startServer({ port: 0, host: '127.0.0.1', tls: { certFile: join(ca.dir, 'missing.crt'), keyFile: one.keyFile }, chat: { dataDir: tempDataDir(t) } }),
    /Cannot read the TLS certificate .*missing\.crt/,
  );
  await assert.rejects(
    startServer({ port: 0, host: '127.0.0.1', tls: { certFile: one.certFile, keyFile: two.keyFile }, chat: { dataDir: tempDataDir(t) } }),
    /Cannot use the TLS certificate .*server-\d\.crt with the key .*server-\d\.key/,
  );
});

test('plain HTTP: a warning when listening beyond loopback, none on loopback', () => {
  for (const address of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) assert.equal(plainTextWarning(address), undefined, address);
  for (const address of ['0.0.0.0', '::', '192.0.2.7', '2001:db8::1']) {
    assert.match(plainTextWarning(address) ?? '', /^warning: serving plain HTTP and WS on .* not a loopback address; use --tls-cert and --tls-key/, address);
  }
});
