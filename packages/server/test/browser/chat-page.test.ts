// The chat page in real Chromium against the real `wskit serve` process:
// chatting between two pages, presence, text never run as HTML, the join
// form's checks, a phone-sized layout, and resuming after a server restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumSkip, launchChromium, waitForState, waitForText, waitForUsers } from '../helpers/chromium.js';
import WebSocket from 'ws';

// The callbacks given to page.evaluate/waitForFunction run in the page; the
// project compiles without the DOM library, so these module-local declarations
// describe the little of the DOM they touch.
interface PageElement {
  textContent: string | null;
  firstChild: PageElement | null;
  dataset: Record<string, string | undefined>;
  getBoundingClientRect(): { right: number };
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  getElementById(id: string): PageElement | null;
  documentElement: { scrollWidth: number };
};
declare const window: { innerWidth: number };


/** The server package's root, found from this file whether run from test/ or dist/test/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'wskit'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`Cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
}
const ROOT = repoRoot();

interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  output: string[];
}

/** Starts `wskit serve` and resolves once it prints the port it listens on. */
function startServer(port: number, dataDir: string, flags: string[] = []): Promise<Server> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/wskit'), 'serve', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, ...flags],
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
      const match = /wskit listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output.join(''));
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

/** Sends SIGTERM and waits for the exit code; SIGKILL after 5 s so nothing outlives the test. */
async function stopServer(server: Server): Promise<number | null> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.exited;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5_000);
  try {
    return await server.exited;
  } finally {
    clearTimeout(timer);
  }
}

interface Shown {
  from: string;
  text: string;
}

/** The messages a page shows, in order, read from the DOM. */
function shownMessages(page: Page): Promise<Shown[]> {
  return page.$$eval('#messages .message', (items) =>
    items.map((item) => ({
      from: item.querySelector('.from')?.textContent ?? '',
      text: item.querySelector('.text')?.textContent ?? '',
    })),
  );
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#send-text', text);
  await page.press('#send-text', 'Enter');
  await waitForText(page, text);
}

/** A plain `ws` client that joins `room`, sends `texts`, and returns once the server echoed them all. */
async function sendAs(port: number, room: string, name: string, texts: string[]): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=${room}&name=${name}`, { origin: base });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} got no echo of ${texts.length} messages within 5000 ms`)), 5_000);
      const pending = new Set(texts);
      ws.on('error', (err) => { clearTimeout(timer); reject(err); });
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string; from?: string; text?: string };
        if (frame.type === 'history') for (const text of texts) ws.send(JSON.stringify({ type: 'message', text }));
        if (frame.type === 'error') { clearTimeout(timer); reject(new Error(`${name} got an error frame: ${String(data)}`)); }
        if (frame.type === 'message' && frame.from === name && frame.text !== undefined) pending.delete(frame.text);
        if (pending.size === 0) { clearTimeout(timer); resolve(); }
      });
    });
  } finally {
    ws.close(1000);
  }
}

describe('chat page in Chromium', { skip: chromiumSkip }, () => {
  let dataDir = '';
  let server: Server | undefined;
  let browser: Browser | undefined;
  let ann: Page;
  let bob: Page;
  const contexts: BrowserContext[] = [];
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  async function openPage(path: string, viewport = { width: 960, height: 640 }, port = server!.port): Promise<Page> {
    const context = await browser!.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(8_000);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`http://127.0.0.1:${port}${path}`);
    return page;
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wskit-chat-page-'));
    server = await startServer(0, dataDir);
    browser = await launchChromium();
    ann = await openPage('/?room=lobby&name=ann');
    bob = await openPage('/?room=lobby&name=bob');
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    if (server) await stopServer(server);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('two pages in one room see each other online and chat both ways', { timeout: 20_000 }, async () => {
    await waitForState(ann, 'online');
    await waitForState(bob, 'online');
    await waitForUsers(ann, ['ann', 'bob']);
    await waitForUsers(bob, ['ann', 'bob']);

    await say(ann, 'hello bob');
    await waitForText(bob, 'hello bob');
    await say(bob, 'hi ann, the tea is ready');
    await waitForText(ann, 'hi ann, the tea is ready');

    const expected = [
      { from: 'ann', text: 'hello bob' },
      { from: 'bob', text: 'hi ann, the tea is ready' },
    ];
    assert.deepEqual(await shownMessages(ann), expected);
    assert.deepEqual(await shownMessages(bob), expected);
    assert.equal(await ann.inputValue('#send-text'), '', 'the box is cleared after sending');
    const time = await ann.getAttribute('#messages .message time', 'datetime');
    assert.ok(time && Number.isFinite(Date.parse(time)), `each message shows its time, got ${time}`);
    assert.match(ann.url(), /[?&]room=lobby(&|$)/);
    assert.match(ann.url(), /[?&]name=ann(&|$)/);
  });

  it('a message containing HTML shows as literal text and runs nothing', { timeout: 20_000 }, async () => {
    const attack = '<img src=x onerror=alert(1)>';
    await say(ann, attack);
    await waitForText(bob, attack);
    // A later message proves the page had time to load and fail any injected image.
    await say(bob, 'after the attack');
    await waitForText(ann, 'after the attack');

    for (const page of [ann, bob]) {
      assert.equal(await page.locator('#messages img').count(), 0, 'no img element is created');
      assert.equal(await page.locator('img').count(), 0);
      const texts = (await shownMessages(page)).map((m) => m.text);
      assert.ok(texts.includes(attack), `the markup is shown literally, got ${JSON.stringify(texts)}`);
    }
    assert.deepEqual(dialogs, [], 'no dialog fired');
  });

  it('the join form refuses a bad room before connecting and reflects a good choice into the URL', { timeout: 20_000 }, async () => {
    const page = await openPage('/?room=no%20spaces!&name=cat');
    assert.notEqual(await page.textContent('#join-error'), '', 'the reason is shown');
    assert.equal(await page.isVisible('#chat'), false);
    assert.equal(await page.getAttribute('#status', 'data-state'), 'offline');

    await page.fill('#join-room', 'side-room');
    await page.press('#join-room', 'Enter');
    await waitForState(page, 'online');
    await waitForUsers(page, ['cat']);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('room'), 'side-room');
    assert.equal(url.searchParams.get('name'), 'cat');
    // Rooms are isolated: nothing from the lobby appears here.
    assert.deepEqual(await shownMessages(page), []);
    await page.context().close();
  });

  it('on a phone-sized screen a long unbroken message wraps instead of scrolling sideways', { timeout: 20_000 }, async () => {
    const phone = await openPage('/?room=phone&name=dee', { width: 360, height: 640 });
    await waitForState(phone, 'online');
    const long = `see:${'x'.repeat(900)}`;
    await say(phone, long);
    const sizes = await phone.evaluate(() => {
      const item = document.querySelector('#messages .message')!.getBoundingClientRect();
      return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, right: item.right };
    });
    assert.ok(sizes.scrollWidth <= sizes.innerWidth, `page is ${sizes.scrollWidth}px wide in a ${sizes.innerWidth}px screen`);
    assert.ok(sizes.right <= sizes.innerWidth, `message ends at ${sizes.right}px in a ${sizes.innerWidth}px screen`);
    assert.ok(await phone.isVisible('#send-text'), 'the message box stays on screen');
    await phone.context().close();
  });

  it('a name with a space and accents joins, and refused messages show a notice while the connection stays up', { timeout: 20_000 }, async () => {
    const strictDir = mkdtempSync(join(tmpdir(), 'wskit-chat-page-strict-'));
    const strict = await startServer(0, strictDir, ['--rate-limit', '1', '--rate-burst', '1']);
    try {
      const page = await openPage(`/?room=caf%C3%A9&name=${encodeURIComponent('Zoë Ångström')}`, undefined, strict.port);
      await waitForState(page, 'online');
      await waitForUsers(page, ['Zoë Ångström']);

      // The bucket holds one message and refills at 1/s: of five more sent at
      // once, some earn error frames (all five would need over 4 s to pass).
      await say(page, 'first');
      for (let i = 1; i <= 5; i++) {
        await page.fill('#send-text', `burst ${i}`);
        await page.press('#send-text', 'Enter');
      }
      await page.waitForSelector('#notice:not([hidden])');
      assert.notEqual((await page.textContent('#notice'))?.trim(), '', 'the error is shown');
      assert.equal(await page.getAttribute('#status', 'data-state'), 'online');
      const shown = await shownMessages(page);
      assert.deepEqual(shown[0], { from: 'Zoë Ångström', text: 'first' });
      assert.ok(shown.length < 7, `some of the burst was refused, ${shown.length} messages shown`);

      // Over the 4096-byte limit (2100 two-byte characters): refused in the page, text kept in the box.
      const long = 'é'.repeat(2100);
      await page.fill('#send-text', long);
      await page.press('#send-text', 'Enter');
      await page.waitForFunction(() => /4200 bytes/.test(document.getElementById('notice')?.textContent ?? ''));
      assert.equal(await page.inputValue('#send-text'), long);
      assert.ok(!(await shownMessages(page)).some((m) => m.text === long));
      await page.context().close();
    } finally {
      await stopServer(strict);
      rmSync(strictDir, { recursive: true, force: true });
    }
  });

  it('a room above --presence-max-users shows "N online" and the first names, and "show more" pages in the rest', { timeout: 30_000 }, async () => {
    const bigDir = mkdtempSync(join(tmpdir(), 'wskit-chat-page-big-'));
    const big = await startServer(0, bigDir, ['--presence-max-users', '3', '--presence-interval', '100ms']);
    const guests: WebSocket[] = [];
    try {
      const names = Array.from({ length: 60 }, (_, i) => `guest ${String(i).padStart(2, '0')}`);
      await Promise.all(names.map((name) => new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${big.port}/ws?room=big&name=${encodeURIComponent(name)}`);
        guests.push(ws);
        ws.once('message', () => resolve());
        ws.once('error', reject);
      })));
      const page = await openPage('/?room=big&name=viewer', undefined, big.port);
      await waitForState(page, 'online');
      await page.waitForFunction(() => document.getElementById('users-count')?.textContent === '61');
      assert.match((await page.textContent('#users-title')) ?? '', /^\s*61 online\s*$/);
      await waitForUsers(page, names.slice(0, 50));
      assert.equal(await page.isVisible('#users-more'), true);
      await page.click('#users-more');
      await waitForUsers(page, [...names, 'viewer']);
      assert.equal(await page.isVisible('#users-more'), false, 'nothing more to show');

      // Below the threshold again: the page lists every name from the snapshot it is sent.
      for (const ws of guests.splice(2)) ws.close();
      await waitForUsers(page, ['guest 00', 'guest 01', 'viewer']);
      assert.equal(await page.textContent('#users-count'), '3');
      await page.context().close();
    } finally {
      for (const ws of guests) ws.terminate();
      await stopServer(big);
      rmSync(bigDir, { recursive: true, force: true });
    }
  });

  it('after a server restart the page reconnects and shows the missed messages exactly once', { timeout: 45_000 }, async () => {
    await waitForUsers(ann, ['ann', 'bob']);
    const before = await shownMessages(ann);
    const port = server!.port;

    assert.equal(await stopServer(server!), 0, 'wskit serve exits 0 on SIGTERM');
    server = undefined;
    // Keep the server down until ann's next retry is more than 2 s away, so the
    // messages below are surely sent while she is disconnected.
    await ann.waitForFunction(
      () => /^reconnecting in [3-9] s$/.test(document.getElementById('status')?.textContent ?? ''),
      undefined,
      { timeout: 25_000 },
    );
    server = await startServer(port, dataDir);
    const missed = ['sent while you were away 1', 'sent while you were away 2', 'sent while you were away 3'];
    await sendAs(port, 'lobby', 'carl', missed);
    assert.equal(await ann.getAttribute('#status', 'data-state'), 'reconnecting', 'ann was away while carl wrote');

    await waitForState(ann, 'online');
    for (const text of missed) await waitForText(ann, text);
    await waitForState(bob, 'online');
    await waitForText(bob, missed[2]!);
    await waitForUsers(ann, ['ann', 'bob']);

    const expected = [...before, ...missed.map((text) => ({ from: 'carl', text }))];
    assert.deepEqual(await shownMessages(ann), expected, 'every message once, in order');
    assert.deepEqual(await shownMessages(bob), expected);

    // The resumed connection carries new messages both ways.
    await say(ann, 'back again');
    await waitForText(bob, 'back again');
    assert.deepEqual(await shownMessages(bob), [...expected, { from: 'ann', text: 'back again' }]);

    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await ann.screenshot({ path: join(ROOT, 'test-results/chat.png') });
    assert.deepEqual(pageErrors, [], 'no script errors on any page');
    assert.deepEqual(dialogs, []);
  });
});
