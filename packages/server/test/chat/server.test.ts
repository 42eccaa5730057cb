import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { dial } from 'wskit';
import { compareIds } from '../../src/chat/broker.js';
import { createChat } from '../../src/chat/index.js';
import { checkName, checkRoom, MAX_NAME_LENGTH, MAX_TEXT_BYTES } from '../../src/chat/messages.js';
import { Peer, refusal, startChat, tempDataDir, until, type ChatServer } from './harness.js';

async function chat(t: { after: (fn: () => void | Promise<void>) => void }, options: Parameters<typeof startChat>[0] = {}): Promise<ChatServer> {
  const server = await startChat({ dataDir: tempDataDir(t), rateLimit: 0, ...options });
  t.after(() => server.stop());
  return server;
}

async function enter(t: { after: (fn: () => void | Promise<void>) => void }, server: ChatServer, room: string, name: string, extra: Record<string, string> = {}): Promise<Peer> {
  const peer = await Peer.connect(server.wsUrl({ room, name, ...extra }));
  t.after(() => peer.conn.terminate());
  return peer;
}

test('chat: 30 clients in one room each get every message exactly once, in the same order', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  const peers: Peer[] = [];
  for (let i = 0; i < 30; i++) peers.push(await enter(t, server, 'lobby', `user${i}`));
  await Promise.all(peers.map((p) => p.waitUsers(peers.map((_, i) => `user${i}`).sort())));
  const perPeer = 10;
  await Promise.all(peers.map(async (peer, i) => {
    for (let n = 0; n < perPeer; n++) await peer.say(`${i}:${n}`);
  }));
  const total = peers.length * perPeer;
  await Promise.all(peers.map((p) => p.waitMessages(total)));
  const reference = peers[0]!.messages().map((m) => m.id);
  assert.equal(new Set(reference).size, total, 'ids are unique');
  for (let i = 1; i < reference.length; i++) assert.ok(compareIds(reference[i]!, reference[i - 1]!) > 0, 'ids increase');
  for (const peer of peers) assert.deepEqual(peer.messages().map((m) => m.id), reference);
  // Each sender's own messages arrive in the order it sent them.
  const texts = peers[0]!.texts();
  for (let i = 0; i < peers.length; i++) {
    assert.deepEqual(texts.filter((s) => s.startsWith(`${i}:`)), Array.from({ length: perPeer }, (_, n) => `${i}:${n}`));
  }
  const message = peers[3]!.messages()[0]!;
  assert.deepEqual(Object.keys(message).sort(), ['from', 'id', 'room', 'text', 'ts', 'type']);
  assert.equal(message.room, 'lobby');
});

test('chat: rooms are isolated', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  const a = await enter(t, server, 'a', 'ada');
  const b = await enter(t, server, 'b', 'bob');
  await a.waitUsers(['ada']);
  await b.waitUsers(['bob']);
  await a.say('only a');
  await b.say('only b');
  await a.waitMessages(1);
  await b.waitMessages(1);
  await a.say('sync');
  await a.waitMessages(2);
  assert.deepEqual(a.texts(), ['only a', 'sync']);
  assert.deepEqual(b.texts(), ['only b']);
  assert.deepEqual(a.users(), ['ada']);
});

test('chat: presence follows joins, leaves, a dropped socket and a second tab of the same name', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  const ada = await enter(t, server, 'r', 'ada');
  await ada.waitUsers(['ada']);
  assert.equal(ada.frames[0]?.type, 'history', 'history comes first');
  const bob = await enter(t, server, 'r', 'bob');
  await bob.waitUsers(['ada', 'bob']);
  await ada.waitUsers(['ada', 'bob']);
  const bob2 = await enter(t, server, 'r', 'bob');
  await bob2.waitUsers(['ada', 'bob']);
  const carl = await enter(t, server, 'r', 'carl');
  await ada.waitUsers(['ada', 'bob', 'carl']);

  await bob.close();
  await ada.say('after bob left one tab');
  await ada.waitMessages(1);
  assert.deepEqual(ada.users(), ['ada', 'bob', 'carl'], 'bob is still online in the second tab');

  carl.conn.terminate();
  await ada.waitUsers(['ada', 'bob']);
  await bob2.waitUsers(['ada', 'bob']);
  await bob2.close();
  await ada.waitUsers(['ada']);
});

test('chat: history gives the last N, and since gives exactly the missed messages', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { historySize: 5 });
  const writer = await enter(t, server, 'r', 'w');
  for (let i = 0; i < 8; i++) await writer.say(`m${i}`);
  await writer.waitMessages(8);
  const ids = writer.messages().map((m) => m.id);

  const late = await enter(t, server, 'r', 'late');
  await until(() => late.of('history').length === 1, 'history');
  assert.deepEqual(late.of('history')[0]!.messages.map((m) => m.text), ['m3', 'm4', 'm5', 'm6', 'm7']);

  const resumed = await enter(t, server, 'r', 'resumed', { since: ids[5]! });
  await until(() => resumed.of('history').length === 1, 'history');
  assert.deepEqual(resumed.of('history')[0]!.messages.map((m) => m.id), ids.slice(6));

  await writer.say('live');
  await resumed.waitMessages(1);
  await late.waitMessages(1);
  assert.deepEqual(resumed.texts(), ['live']);
  assert.deepEqual(late.texts(), ['live']);
});

test('chat: a restart on the same data directory keeps history and ids keep increasing', { timeout: 30_000 }, async (t) => {
  const dataDir = tempDataDir(t);
  const first = await startChat({ dataDir, rateLimit: 0 });
  t.after(() => first.stop());
  const writer = await Peer.connect(first.wsUrl({ room: 'r', name: 'w' }));
  for (let i = 0; i < 20; i++) await writer.say(`before ${i}`);
  await writer.waitMessages(20);
  const acknowledged = writer.messages();
  await first.stop();
  assert.deepEqual(await writer.ended, { code: 1001, reason: 'Server is shutting down' });

  const second = await startChat({ dataDir, rateLimit: 0 });
  t.after(() => second.stop());
  const reader = await enter(t, second, 'r', 'reader', { since: acknowledged[9]!.id });
  await until(() => reader.of('history').length === 1, 'history');
  assert.deepEqual(reader.of('history')[0]!.messages, acknowledged.slice(10));
  await reader.say('after restart');
  await reader.waitMessages(1);
  assert.ok(compareIds(reader.messages()[0]!.id, acknowledged.at(-1)!.id) > 0);
});

test('chat: too long text gets an error frame and the connection stays; an oversized frame closes with 1009', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { maxMessageSize: 16 * 1024 });
  const peer = await enter(t, server, 'r', 'p');
  await peer.waitUsers(['p']);
  await peer.say('x'.repeat(4097));
  await peer.conn.writeJSON({ type: 'nonsense' });
  await peer.conn.write('text', 'not json');
  await peer.say('x'.repeat(4096));
  await peer.waitMessages(1);
  assert.equal(peer.messages()[0]!.text.length, 4096);
  assert.equal(peer.of('error').length, 3);

  await peer.conn.write('text', 'y'.repeat(16 * 1024 + 1)).catch(() => {});
  assert.equal((await peer.ended).code, 1009);
});

test('chat: the rate limit answers each dropped message with an error frame', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { rateLimit: 1, rateBurst: 3 });
  const peer = await enter(t, server, 'r', 'p');
  await peer.waitUsers(['p']);
  for (let i = 0; i < 10; i++) await peer.say(`m${i}`);
  await until(() => peer.messages().length + peer.of('error').length === 10, '10 answers');
  assert.ok(peer.messages().length >= 3 && peer.messages().length <= 4, `${peer.messages().length} passed`);
  assert.match(peer.of('error')[0]!.error, /rate/i);
});

test('chat: a bad room or name is refused with 400 and a reason', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  for (const query of [{ room: 'a b', name: 'x' }, { room: 'r', name: '<script>' }, { room: 'r' }, { room: 'r', name: 'x'.repeat(65) }, { room: 'r', name: 'n', since: 'x' }]) {
    const err = await refusal(server.wsUrl(query as Record<string, string>));
    assert.equal(err.status, 400, JSON.stringify(query));
    assert.ok(err.body.length > 0);
  }
});

test('chat: a foreign Origin is refused with 403; the own origin and --allow-origin pass', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { allowOrigins: ['https://chat.example'] });
  const url = server.wsUrl({ room: 'r', name: 'n' });
  assert.equal((await refusal(url, { origin: 'http://evil.example' })).status, 403);
  assert.equal((await refusal(url, { origin: `http://127.0.0.1:${server.port + 1}` })).status, 403, 'another port is another origin');
  assert.equal((await refusal(url, { origin: `https://127.0.0.1:${server.port}` })).status, 403, 'another scheme is another origin');
  for (const origin of [`http://127.0.0.1:${server.port}`, 'https://chat.example']) {
    const { conn } = await dial(url, { headers: { origin } });
    await conn.close();
  }
});

test('chat: connections beyond --max-connections and rooms beyond --max-rooms get 503', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { maxConnections: 3, maxRooms: 2 });
  const one = await enter(t, server, 'a', 'one');
  await enter(t, server, 'b', 'two');
  const three = await enter(t, server, 'a', 'three');
  await one.waitUsers(['one', 'three']);
  assert.equal((await refusal(server.wsUrl({ room: 'a', name: 'four' }))).status, 503);
  three.conn.terminate();
  await one.waitUsers(['one']);
  const err = await refusal(server.wsUrl({ room: 'c', name: 'x' }));
  assert.equal(err.status, 503, 'a third room is over the limit');
  assert.match(err.body, /rooms/);
  const four = await enter(t, server, 'a', 'four');
  await four.waitUsers(['four', 'one']);
});

test('chat: shutdown closes every client with 1001 and refuses new ones', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  const peers = [await enter(t, server, 'a', 'x'), await enter(t, server, 'b', 'y')];
  await Promise.all(peers.map((p) => p.waitUsers(p === peers[0] ? ['x'] : ['y'])));
  await server.app.shutdown();
  for (const peer of peers) assert.deepEqual(await peer.ended, { code: 1001, reason: 'Server is shutting down' });
  assert.equal((await refusal(server.wsUrl({ room: 'a', name: 'z' }))).status, 503);
});

test('chat: serves the page, its assets, /healthz and /metrics, and nothing outside the page', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  const page = await fetch(server.httpUrl('/'));
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /<html/i);
  const script = await fetch(server.httpUrl('/app.js'));
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
  const style = await fetch(server.httpUrl('/style.css'));
  assert.match(style.headers.get('content-type') ?? '', /^text\/css/);
  for (const path of ['/../package.json', '/%2e%2e/package.json', '/nope.js', '/page/index.html']) {
    assert.equal((await fetch(server.httpUrl(path))).status, 404, path);
  }

  const peer = await enter(t, server, 'r', 'p');
  await peer.say('count me');
  await peer.waitMessages(1);
  const health = await fetch(server.httpUrl('/healthz'));
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok', broker: 'ready', connections: 1, rooms: 1 });
  const metrics = await (await fetch(server.httpUrl('/metrics'))).text();
  assert.match(metrics, /^wskit_chat_connections 1$/m);
  assert.match(metrics, /^wskit_chat_rooms 1$/m);
  assert.match(metrics, /^wskit_chat_messages_in_total 1$/m);
  // History, presence and the message itself went out to the one member.
  const framesOut = (text: string) => Number(/^wskit_chat_messages_out_total (\d+)$/m.exec(text)?.[1]);
  const bytesOut = (text: string) => Number(/^wskit_chat_bytes_out_total (\d+)$/m.exec(text)?.[1]);
  assert.ok(framesOut(metrics) >= 3, `messages out: ${framesOut(metrics)}`);
  assert.match(metrics, /^wskit_chat_bytes_in_total \d+$/m);
  assert.match(metrics, /^process_cpu_seconds_total /m);
  // Counts keep adding up across scrapes: one more message, one more frame out.
  await peer.say('and me');
  await peer.waitMessages(2);
  const later = await (await fetch(server.httpUrl('/metrics'))).text();
  assert.equal(framesOut(later), framesOut(metrics) + 1);
  assert.ok(bytesOut(later) > bytesOut(metrics) + 'and me'.length, `bytes out ${bytesOut(metrics)} → ${bytesOut(later)}`);
  assert.equal((await fetch(server.httpUrl('/healthz'), { method: 'POST' })).status, 405);
});

test('chat: the page gets its name, room and text rules from the server (/chat-rules.js), and they judge as the server does', { timeout: 30_000 }, async (t) => {
  const server = await chat(t);
  const html = await (await fetch(server.httpUrl('/'))).text();
  assert.ok(html.indexOf('src="chat-rules.js"') >= 0 && html.indexOf('src="chat-rules.js"') < html.indexOf('src="app.js"'), 'the rules load before the page script');
  const res = await fetch(server.httpUrl('/chat-rules.js'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  // Run it as the browser would, then judge labels with the page's patterns.
  const window: { WSKIT_CHAT_RULES?: Record<string, string | number> } = {};
  vm.runInNewContext(await res.text(), { window });
  const rules = window.WSKIT_CHAT_RULES!;
  assert.equal(rules.maxNameLength, MAX_NAME_LENGTH);
  assert.equal(rules.maxTextBytes, MAX_TEXT_BYTES);
  const pageAccepts = (kind: 'name' | 'room', value: string) =>
    new RegExp(String(kind === 'name' ? rules.namePattern : rules.roomPattern), 'u').test(value) &&
    !new RegExp(String(rules.loneSurrogate), 'u').test(value);
  for (const value of ['Ann', 'Ann Lee', 'ré.x-1', 'a  b', ' lead', '<b>', 'semi;colon', 'tab\tname', 'lone\ud800', '東京', 'a'.repeat(64)]) {
    assert.equal(pageAccepts('name', value), checkName(value).ok, `name ${JSON.stringify(value)}`);
    assert.equal(pageAccepts('room', value), checkRoom(value).ok, `room ${JSON.stringify(value)}`);
  }
});

test('createChat throws a readable Error when the data directory cannot be used', { timeout: 30_000 }, async (t) => {
  const dir = tempDataDir(t);
  const file = join(dir, 'file');
  writeFileSync(file, 'not a directory');
  await assert.rejects(createChat({ dataDir: join(file, 'data') }), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /Cannot open chat history/);
    return true;
  });
  await assert.rejects(createChat({ dataDir: dir, pingPeriodMs: 500, pongWaitMs: 400 }), RangeError);
});
