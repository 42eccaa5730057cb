// The chat page in real Chromium over HTTPS from `wskit serve` with a test
// certificate: the page arrives over HTTP/2, and because the server's HTTP/2
// connection allows extended CONNECT, Chromium opens the page's WebSocket
// as a stream of that same connection (RFC 8441). The server's own /metrics
// counter proves it (h2, not h1), its log shows two tabs' WebSockets
// coming from one TCP connection, and the chat works as over HTTP/1.1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { createTestCa, hasOpenssl, type TestCa } from 'wskit-testing/tls';
import { chromiumSkip, launchChromium, waitForState, waitForText, waitForUsers } from '../helpers/chromium.js';
import { spawnServe, type ServeProcess } from '../helpers/server-child.js';

// The callbacks given to page.evaluate/waitForFunction run in the page; the
// project compiles without the DOM library, so these declarations describe
// the little of the DOM they touch.
declare const document: { querySelectorAll(selector: string): Iterable<{ textContent: string | null }> };
declare const performance: { getEntriesByType(type: string): { nextHopProtocol?: string }[] };

const skip = chromiumSkip || (process.env.WSKIT_REQUIRE_SERVICES !== '1' && !hasOpenssl() ? 'the openssl command is not installed' : false);

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

describe('chat page in Chromium over HTTP/2', { skip }, () => {
  let dataDir = '';
  let ca: TestCa | undefined;
  let server: ServeProcess | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wskit-chat-h2-'));
    ca = createTestCa();
    const { certFile, keyFile } = ca.issue('server');
    server = await spawnServe(['--data', dataDir, '--tls-cert', certFile, '--tls-key', keyFile]);
    browser = await launchChromium();
    // The test CA is not in Chromium's store: its certificate errors are ignored, as on a developer's machine.
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
  });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.stop();
    ca?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('two tabs load the page over HTTP/2, open their WebSockets as streams of one TCP connection, and chat', { timeout: 40_000 }, async () => {
    const base = server!.httpBase;
    assert.match(base, /^https:\/\/127\.0\.0\.1:\d+$/);
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
    const opens = server!.stdout().split('\n').map((line) => / chat: open "(Ada|Grace)" in "lobby" from (\S+)$/.exec(line)).filter((m) => m !== null);
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
