import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage, PresenceChange } from '../../src/chat/broker.js';
import { EmbeddedBroker } from '../../src/chat/embedded-broker.js';

function newBroker(t: { after: (fn: () => void | Promise<void>) => void }, historySize = 100): EmbeddedBroker {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chat-broker-'));
  const broker = new EmbeddedBroker({ dataDir: dir, historySize });
  t.after(async () => {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return broker;
}

test('EmbeddedBroker delivers each published message once, in id order, to its room only', async (t) => {
  const broker = newBroker(t);
  const lobby: ChatMessage[] = [];
  const other: ChatMessage[] = [];
  await broker.subscribe('lobby', (m) => lobby.push(m));
  await broker.subscribe('other', (m) => other.push(m));
  const published = [];
  for (let i = 0; i < 50; i++) published.push(await broker.publish('lobby', 'ada', `m${i}`));
  assert.deepEqual(lobby, published);
  assert.deepEqual(other, []);
  assert.deepEqual(await broker.history('lobby', { limit: 100 }), published);
});

test('EmbeddedBroker stops delivering after unsubscribe', async (t) => {
  const broker = newBroker(t);
  const got: string[] = [];
  const stop = await broker.subscribe('r', (m) => got.push(m.text));
  await broker.publish('r', 'a', 'one');
  stop();
  await broker.publish('r', 'a', 'two');
  assert.deepEqual(got, ['one']);
});

test('EmbeddedBroker presence lists each name once and reports only changes of names', async (t) => {
  const broker = newBroker(t);
  const seen: PresenceChange[] = [];
  const watch = await broker.watchPresence('r', (change) => seen.push(change));
  assert.deepEqual(watch.users, []);
  await broker.join('r', 'bob', 'c1');
  await broker.join('r', 'ada', 'c2');
  await broker.join('r', 'ada', 'c3');
  assert.deepEqual(await broker.users('r', { limit: 10 }), { users: ['ada', 'bob'], next: null, count: 2 });
  assert.deepEqual((await broker.watchPresence('r', () => {})).users, ['ada', 'bob'], 'a later watch starts from the names online');
  await broker.leave('r', 'ada', 'c2');
  assert.deepEqual((await broker.users('r', { limit: 10 })).users, ['ada', 'bob'], 'ada is still online in another connection');
  await broker.leave('r', 'ada', 'c3');
  await broker.leave('r', 'ada', 'c3');
  watch.stop();
  await broker.join('r', 'carl', 'c4');
  assert.deepEqual(seen, [
    { joined: ['bob'], left: [] },
    { joined: ['ada'], left: [] },
    { joined: [], left: ['ada'] },
  ]);
});

test('EmbeddedBroker.users pages completely, without duplicates, while names join before and after the cursor', async (t) => {
  const broker = newBroker(t);
  const original = Array.from({ length: 1_200 }, (_, i) => `u${String(i).padStart(4, '0')}`);
  for (const [i, name] of original.entries()) await broker.join('big', name, `c${i}`);
  const listed: string[] = [];
  let after: string | undefined;
  let pages = 0;
  do {
    const page = await broker.users('big', { ...(after ? { after } : {}), limit: 500 });
    assert.ok(page.users.length <= 500);
    listed.push(...page.users);
    after = page.next ?? undefined;
    // Between pages, names join on both sides of the cursor.
    await broker.join('big', `a-early${pages}`, `early${pages}`);
    await broker.join('big', `z-late${pages}`, `late${pages}`);
    pages++;
  } while (after !== undefined && pages < 10);
  assert.equal(new Set(listed).size, listed.length, 'no name listed twice');
  for (const name of original) assert.ok(listed.includes(name), `${name} listed`);
  assert.deepEqual(listed, [...listed].sort(), 'pages come in one order');
  assert.ok(listed.includes('z-late0'), 'a name joining after the cursor still comes');
});

test('EmbeddedBroker keeps delivering when one listener throws', async (t) => {
  const broker = newBroker(t);
  const got: string[] = [];
  await broker.subscribe('r', () => {
    throw new Error('faulty');
  });
  await broker.subscribe('r', (m) => got.push(m.text));
  await broker.publish('r', 'a', 'x');
  assert.deepEqual(got, ['x']);
});

test('EmbeddedBroker rejects publish after close', async (t) => {
  const broker = newBroker(t);
  await broker.close();
  assert.equal(broker.state, 'closed');
  await assert.rejects(broker.publish('r', 'a', 'x'), Error);
});
