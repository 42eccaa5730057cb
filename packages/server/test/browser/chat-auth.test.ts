// The chat page in real Chromium against `wskit serve --auth-secret-file`:
// a link with ?token= joins as the token's sub (a name parameter changes
// nothing), a pasted token joins too, an expired token is refused before
// connecting, and a session the server ends (4001 token expired, 4003
// removed through the server API) is said so, without reconnecting.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, waitForMessage, waitForState, waitForUsers } from '../helpers/chromium.js';
import { spawnServe, type ServeProcess } from '../helpers/server-child.js';

// Callbacks given to page.waitForFunction run in the page; the project
// compiles without the DOM library, so this declares the little they touch.
declare const document: { getElementById(id: string): { textContent: string | null } | null };

const SECRET = 'browser-test-hmac-key-0123456789-abcdefgh';
const API_KEY = 'browser-test-api-key-0123456789';

/** Counts the page's WebSocket constructions in window.wsOpened, to see whether it reconnects. */
const COUNT_SOCKETS = `
  window.wsOpened = 0;
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) { super(...args); window.wsOpened += 1; }
  };
`;

function sign(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

async function sockets(page: Page): Promise<number> {
  return page.evaluate('window.wsOpened') as Promise<number>;
}

describe('chat page with auth on, in Chromium', { skip }, () => {
  let dir = '';
  let server: ServeProcess | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  async function openPage(path: string): Promise<Page> {
    const context = await browser!.newContext({ viewport: { width: 960, height: 640 } });
    contexts.push(context);
    await context.addInitScript({ content: COUNT_SOCKETS });
    const page = await context.newPage();
    page.setDefaultTimeout(8_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${server!.httpBase}${path}`);
    return page;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wskit-chat-auth-page-'));
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
    writeFileSync(join(dir, 'api.key'), `${API_KEY}\n`);
    server = await spawnServe(['--data', dir, '--auth-secret-file', join(dir, 'secret'), '--api-key-file', join(dir, 'api.key')]);
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a page opened with ?token= joins as the token\'s sub, and a pasted token joins too', { timeout: 30_000 }, async () => {
    const token = await sign({ sub: 'alice', exp: nowSeconds() + 600 });
    const alice = await openPage(`/?room=lobby&name=mallory&token=${token}`);
    await waitForState(alice, 'online');
    await waitForUsers(alice, ['alice']);
    assert.match((await alice.textContent('#room-title')) ?? '', /#lobby as alice/);
    assert.equal(await alice.isVisible('#join-name'), false, 'no name field: the name comes from the token');
    await alice.fill('#send-text', 'signed in');
    await alice.press('#send-text', 'Enter');
    await waitForMessage(alice, 'alice', 'signed in');

    const bob = await openPage('/?room=lobby');
    assert.equal(await bob.isVisible('#join-token'), true, 'the page asks for a token');
    assert.equal(await bob.getAttribute('#status', 'data-state'), 'offline');
    assert.equal(await sockets(bob), 0, 'nothing is tried without a token');
    await bob.fill('#join-token', await sign({ sub: 'bob', exp: nowSeconds() + 600 }));
    await bob.press('#join-token', 'Enter');
    await waitForState(bob, 'online');
    await waitForUsers(bob, ['alice', 'bob']);
    await waitForUsers(alice, ['alice', 'bob']);
    assert.ok(!new URL(bob.url()).searchParams.has('token'), 'a pasted token stays out of the address bar');
    assert.deepEqual(pageErrors, []);
  });

  it('a token that has expired is refused before connecting', { timeout: 20_000 }, async () => {
    const page = await openPage(`/?room=lobby&token=${await sign({ sub: 'dan', exp: nowSeconds() - 60 })}`);
    await page.waitForFunction(() => /expired/.test(document.getElementById('join-error')?.textContent ?? ''));
    assert.equal(await page.isVisible('#chat'), false);
    assert.equal(await sockets(page), 0);
  });

  it('a session closed with 4001 shows "session expired" and does not reconnect', { timeout: 30_000 }, async () => {
    // Past exp but inside the server's 5 s leeway: accepted, then closed with 4001 within about 4 s.
    const page = await openPage(`/?room=expiry&token=${await sign({ sub: 'carol', exp: nowSeconds() - 1 })}`);
    await waitForState(page, 'online');
    await waitForUsers(page, ['carol']);
    await waitForState(page, 'expired', 15_000);
    assert.equal(await page.textContent('#status'), 'session expired');
    // Reconnects start after 125 to 250 ms; wait well past that.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(await sockets(page), 1, 'one connection, no reconnect');
    assert.equal(await page.getAttribute('#status', 'data-state'), 'expired');
    assert.equal(await page.isVisible('#retry'), false);
    assert.deepEqual(pageErrors, []);
  });

  it('a member removed through the server API (4003) is shown "removed" and does not reconnect', { timeout: 30_000 }, async () => {
    const page = await openPage(`/?room=removal&token=${await sign({ sub: 'erin', exp: nowSeconds() + 600 })}`);
    await waitForState(page, 'online');
    await waitForUsers(page, ['erin']);
    const res = await fetch(`${server!.httpBase}/api/rooms/removal/members/erin`, { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(res.status, 204, await res.text());
    await waitForState(page, 'removed');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(await sockets(page), 1, 'one connection, no reconnect');
    assert.equal(await page.getAttribute('#status', 'data-state'), 'removed');
    assert.deepEqual(pageErrors, []);
  });
});
