import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage } from '../../src/chat/broker.js';
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

test('EmbeddedBroker presence lists each name once and notifies only on change', async (t) => {
  const broker = newBroker(t);
  const seen: string[][] = [];
  await broker.watchPresence('r', (users) => seen.push(users));
  await broker.join('r', 'bob', 'c1');
  await broker.join('r', 'ada', 'c2');
  await broker.join('r', 'ada', 'c3');
  assert.deepEqual(await broker.users('r'), ['ada', 'bob']);
  await broker.leave('r', 'ada', 'c2');
  assert.deepEqual(await broker.users('r'), ['ada', 'bob'], 'ada is still online in another connection');
  await broker.leave('r', 'ada', 'c3');
  await broker.leave('r', 'ada', 'c3');
  assert.deepEqual(seen, [['bob'], ['ada', 'bob'], ['bob']]);
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
