/**
 * Real Chromium for the page tests: the Debian binary driven by
 * playwright-core, launched headless with the flags this machine needs, and
 * waits on what the chat page shows (its state, its user list, its
 * messages). Tests skip when Chromium is missing, unless the environment
 * sets `WSKIT_REQUIRE_SERVICES=1` (CI does): then launching fails the test.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

// The callbacks given to page.waitForFunction run in the page; the project
// compiles without the DOM library, so this declares the little they touch.
declare const document: {
  querySelectorAll(selector: string): Iterable<{ textContent: string | null; firstChild: { textContent: string | null } | null }>;
  getElementById(id: string): { textContent: string | null; dataset: Record<string, string | undefined> } | null;
};

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, no sandbox (root in a container), and nothing that reaches the network by itself. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** The `skip` option of a browser test: a reason when Chromium is missing and services are optional, else false. */
export const chromiumSkip: string | false =
  process.env.WSKIT_REQUIRE_SERVICES !== '1' && !existsSync(CHROMIUM) ? `Chromium not installed at ${CHROMIUM}` : false;

/** launchChromium starts the browser (within 15 s). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
}

/** waitForState waits until the page's status element says `state` (`online`, `offline`, ...). */
export async function waitForState(page: Page, state: string, timeout?: number): Promise<void> {
  await page.waitForFunction((s) => document.getElementById('status')?.dataset.state === s, state, { timeout });
}

/** waitForUsers waits until the page's user list is exactly `users`, in order. */
export async function waitForUsers(page: Page, users: string[]): Promise<void> {
  await page.waitForFunction(
    (wanted) => JSON.stringify([...document.querySelectorAll('#users li')].map((li) => li.firstChild?.textContent ?? '')) === JSON.stringify(wanted),
    users,
  );
}

/** waitForMessage waits until the page shows a message from `from` holding `text`. */
export async function waitForMessage(page: Page, from: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([f, t]) => [...document.querySelectorAll('#messages .message')].some((el) => el.textContent?.includes(f!) && el.textContent.includes(t!)),
    [from, text],
  );
}

/** waitForText waits until the page shows a message whose text is exactly `text`. */
export async function waitForText(page: Page, text: string): Promise<void> {
  await page.waitForFunction((wanted) => [...document.querySelectorAll('#messages .text')].some((el) => el.textContent === wanted), text);
}
