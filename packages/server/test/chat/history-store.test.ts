import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareIds } from '../../src/chat/broker.js';
import { HistoryStore } from '../../src/chat/history-store.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chat-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('HistoryStore issues increasing <ms>-<seq> ids within a room, also within one millisecond', (t) => {
  const store = new HistoryStore(tempDir(t));
  t.after(() => store.close());
  const ids = [store.append('r', 'a', '1', 1000), store.append('r', 'a', '2', 1000), store.append('r', 'a', '3', 1001)].map((m) => m.id);
  assert.deepEqual(ids, ['1000-0', '1000-1', '1001-0']);
});

test('HistoryStore keeps ids increasing when the clock steps back', (t) => {
  const store = new HistoryStore(tempDir(t));
  t.after(() => store.close());
  const first = store.append('r', 'a', 'x', 5000);
  const second = store.append('r', 'a', 'y', 4000);
  assert.ok(compareIds(second.id, first.id) > 0, `${second.id} after ${first.id}`);
  assert.equal(second.ts, 4000, 'ts is the real clock');
});

test('HistoryStore returns the last N oldest first, and exactly the messages after since', (t) => {
  const store = new HistoryStore(tempDir(t), { keep: 5 });
  t.after(() => store.close());
  const sent = Array.from({ length: 8 }, (_, i) => store.append('r', 'a', `m${i}`, 1000 + i));
  store.append('other', 'b', 'elsewhere', 2000);
  assert.deepEqual(store.history('r').map((m) => m.text), ['m3', 'm4', 'm5', 'm6', 'm7']);
  assert.deepEqual(store.history('r', { limit: 2 }).map((m) => m.text), ['m6', 'm7']);
  assert.deepEqual(store.history('r', { since: sent[5]!.id }).map((m) => m.text), ['m6', 'm7']);
  assert.deepEqual(store.history('r', { since: sent[7]!.id }), []);
  assert.deepEqual(store.history('none'), []);
  assert.deepEqual(store.history('r').at(-1), sent[7]);
});

test('HistoryStore keeps history and the id sequence across reopening', (t) => {
  const dir = tempDir(t);
  const first = new HistoryStore(dir, { keep: 3 });
  for (let i = 0; i < 5; i++) first.append('r', 'a', `m${i}`, 7000);
  first.close();
  const second = new HistoryStore(dir, { keep: 3 });
  t.after(() => second.close());
  assert.deepEqual(second.history('r').map((m) => m.text), ['m2', 'm3', 'm4']);
  assert.equal(second.append('r', 'a', 'next', 7000).id, '7000-5', 'the sequence continues after trimmed messages');
});

test('HistoryStore throws a readable Error when the data directory is unusable', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  assert.throws(() => new HistoryStore(join(file, 'data')), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /Cannot open chat history/);
    return true;
  });
});

test('HistoryStore rejects a history size below 1 with RangeError', (t) => {
  assert.throws(() => new HistoryStore(tempDir(t), { keep: 0 }), RangeError);
});
