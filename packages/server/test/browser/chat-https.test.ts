// The chat page in real Chromium over HTTPS: `wskit serve --tls-cert
// --tls-key` with a certificate from a throwaway test CA (the browser
// context ignores certificate errors, as it cannot trust the CA), the page
// and its WebSocket both encrypted, two users chatting as over plain HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createTestCa, type TestCa } from 'wskit-testing/tls';
import { chromiumSkip, launchChromium, waitForMessage, waitForState, waitForUsers } from '../helpers/chromium.js';
import { spawnServe, type ServeProcess } from '../helpers/server-child.js';

/** Records the URL of every WebSocket the page opens, in window.wsUrls. */
const RECORD_SOCKETS = `
  window.wsUrls = [];
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(url, ...rest) { super(url, ...rest); window.wsUrls.push(String(url)); }
  };
`;

describe('chat page over HTTPS, in Chromium', { skip: chromiumSkip }, () => {
  let dir = '';
  let ca: TestCa | undefined;
  let server: ServeProcess | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  async function openPage(path: string): Promise<Page> {
    const context = await browser!.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
    contexts.push(context);
    await context.addInitScript({ content: RECORD_SOCKETS });
    const page = await context.newPage();
    page.setDefaultTimeout(8_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${server!.httpBase}${path}`);
    return page;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wskit-chat-https-'));
    ca = createTestCa();
    const { certFile, keyFile } = ca.issue('chat page');
    server = await spawnServe(['--data', dir, '--tls-cert', certFile, '--tls-key', keyFile]);
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.stop();
    ca?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads over https, opens its WebSocket over wss, and two users chat', { timeout: 40_000 }, async () => {
    assert.match(server!.httpBase, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ada = await openPage('/?room=secure&name=Ada');
    await waitForState(ada, 'online');
    const grace = await openPage('/?room=secure&name=Grace');
    await waitForState(grace, 'online');
    await waitForUsers(ada, ['Ada', 'Grace']);

    await ada.fill('#send-text', 'hello over TLS');
    await ada.press('#send-text', 'Enter');
    await waitForMessage(grace, 'Ada', 'hello over TLS');
    await waitForMessage(ada, 'Ada', 'hello over TLS');

    for (const page of [ada, grace]) {
      assert.equal(await page.evaluate('location.protocol'), 'https:');
      const urls = (await page.evaluate('window.wsUrls')) as string[];
      assert.ok(urls.length > 0 && urls.every((url) => url.startsWith(`wss://127.0.0.1:${server!.port}/ws?`)), `the page's sockets: ${urls.join(', ')}`);
    }
    assert.match(server!.stdout(), /open \/ws|chat: open "Ada"/, 'the server saw the connection');
    assert.deepEqual(pageErrors, []);
  });
});
