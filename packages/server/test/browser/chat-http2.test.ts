// The chat page in real Chromium over HTTPS from `wskit serve` with a test
// certificate: the page arrives over HTTP/2, and because the server's HTTP/2
// connection allows extended CONNECT, Chromium opens the page's WebSocket
// as a stream of that same connection (RFC 8441). The server's own /metrics
// counter proves it (h2, not h1), its log shows two tabs' WebSockets
// coming from one TCP connection, and the chat works as over HTTP/1.1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createTestCa, hasOpenssl, type TestCa } from 'wskit-testing/tls';

// The callbacks given to page.evaluate/waitForFunction run in the page; the
// project compiles without the DOM library, so these declarations describe
// the little of the DOM they touch.
interface PageElement {
  textContent: string | null;
  firstChild: PageElement | null;
  dataset: Record<string, string | undefined>;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement>;
  getElementById(id: string): PageElement | null;
};
declare const performance: { getEntriesByType(type: string): { nextHopProtocol?: string }[] };

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const REQUIRED = process.env.WSKIT_REQUIRE_SERVICES === '1';
const skip = REQUIRED ? false : !existsSync(CHROMIUM) ? `Chromium not installed at ${CHROMIUM}` : !hasOpenssl() ? 'the openssl command is not installed' : false;

/** The server package's root, found from this file whether run from test/ or dist/test/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'wskit'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`Cannot find the server package above ${fileURLToPath(import.meta.url)}`);
}
const ROOT = packageRoot();

interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  output: string[];
}

/** Starts `wskit serve` over TLS and resolves once it prints the https URL it listens on. */
function startServer(dataDir: string, tls: { certFile: string; keyFile: string }): Promise<Server> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/wskit'), 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--tls-cert', tls.certFile, '--tls-key', tls.keyFile],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wskit serve printed no listening line within 10000 ms:\n${output.join('')}`));
    }, 10_000);
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      output.push(chunk.toString());
      const match = /wskit listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(output.join(''));
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), exited, output });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`wskit serve exited with ${code} before listening:\n${output.join('')}`));
    });
  });
}

/** Sends SIGTERM and waits for the exit; SIGKILL after 5 s so nothing outlives the test. */
async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5_000);
  await server.exited.finally(() => clearTimeout(timer));
}

/** GET /metrics over HTTP/2, trusting the test CA. */
function metrics(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
    session.once('error', reject);
    const stream = session.request({ ':path': '/metrics' });
    let body = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    stream.once('end', () => {
      session.close();
      resolve(body);
    });
    stream.once('error', reject);
  });
}

/** A sample of a metric with a protocol label, 0 when absent. */
function sample(text: string, name: string, protocol: 'h1' | 'h2'): number {
  const match = new RegExp(`^${name}\\{protocol="${protocol}"\\} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

async function waitForState(page: Page, state: string): Promise<void> {
  await page.waitForFunction((s) => document.getElementById('status')?.dataset.state === s, state);
}

async function waitForUsers(page: Page, users: string[]): Promise<void> {
  await page.waitForFunction(
    (wanted) => JSON.stringify([...document.querySelectorAll('#users li')].map((li) => li.firstChild?.textContent ?? '')) === JSON.stringify(wanted),
    users,
  );
}

async function waitForText(page: Page, text: string): Promise<void> {
  await page.waitForFunction((wanted) => [...document.querySelectorAll('#messages .text')].some((el) => el.textContent === wanted), text);
}

describe('chat page in Chromium over HTTP/2', { skip }, () => {
  let dataDir = '';
  let ca: TestCa | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wskit-chat-h2-'));
    ca = createTestCa();
    server = await startServer(dataDir, ca.issue('server'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
    // The test CA is not in Chromium's store: its certificate errors are ignored, as on a developer's machine.
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
  });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    if (server) await stopServer(server);
    ca?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('two tabs load the page over HTTP/2, open their WebSockets as streams of one TCP connection, and chat', { timeout: 40_000 }, async () => {
    const base = `https://127.0.0.1:${server!.port}`;
    const ada = await context!.newPage();
    const grace = await context!.newPage();
    for (const page of [ada, grace]) page.setDefaultTimeout(10_000);
    await ada.goto(`${base}/?room=lobby&name=Ada`);
    await grace.goto(`${base}/?room=lobby&name=Grace`);
    for (const page of [ada, grace]) {
      const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.nextHopProtocol);
      assert.equal(protocol, 'h2', 'the page itself came over HTTP/2');
    }
    await waitForState(ada, 'online');
    await waitForState(grace, 'online');
    await waitForUsers(ada, ['Ada', 'Grace']);
    await waitForUsers(grace, ['Ada', 'Grace']);

    // The server's counter, not a guess: both WebSockets were HTTP/2 streams, none an HTTP/1.1 upgrade.
    const text = await metrics(server!.port, ca!.cert);
    assert.equal(sample(text, 'wskit_websocket_connections_total', 'h2'), 2, text.split('\n').filter((l) => l.startsWith('wskit_websocket')).join('\n'));
    assert.equal(sample(text, 'wskit_websocket_connections_total', 'h1'), 0);
    // The chat logs each WebSocket's peer: a stream's is its connection's, so one address and port means one TCP connection.
    const opens = server!.output.join('').split('\n').map((line) => / chat: open "(Ada|Grace)" in "lobby" from (\S+)$/.exec(line)).filter((m) => m !== null);
    assert.deepEqual(opens.map((m) => m[1]).sort(), ['Ada', 'Grace']);
    assert.equal(new Set(opens.map((m) => m[2])).size, 1, `both tabs' WebSockets came over one TCP connection: ${opens.map((m) => m[2]).join(', ')}`);

    await ada.fill('#send-text', 'hello over h2');
    await ada.press('#send-text', 'Enter');
    await waitForText(grace, 'hello over h2');
    await grace.fill('#send-text', 'and back');
    await grace.press('#send-text', 'Enter');
    await waitForText(ada, 'and back');
    await waitForText(grace, 'and back');
  });
});
