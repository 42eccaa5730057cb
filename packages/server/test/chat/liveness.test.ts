import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Peer, startChat, tempDataDir, type ChatServer } from './harness.js';

async function chat(t: { after: (fn: () => void | Promise<void>) => void }, options: Parameters<typeof startChat>[0] = {}): Promise<ChatServer> {
  const server = await startChat({ dataDir: tempDataDir(t), rateLimit: 0, ...options });
  t.after(() => server.stop());
  return server;
}

async function enter(t: { after: (fn: () => void | Promise<void>) => void }, server: ChatServer, room: string, name: string, read = true): Promise<Peer> {
  const peer = await Peer.connect(server.wsUrl({ room, name }), { read });
  t.after(() => peer.conn.terminate());
  return peer;
}

/** Completes a WebSocket handshake on a raw socket, then neither reads nor answers anything. */
async function silentClient(server: ChatServer, room: string, name: string): Promise<Socket> {
  const socket = connect(server.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    `GET /ws?room=${room}&name=${name} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
  assert.match(head, /^HTTP\/1\.1 101/);
  socket.pause();
  return socket;
}

test('chat: a client that stops reading is evicted with 1008 while the others receive everything', { timeout: 30_000 }, async (t) => {
  const sendQueue = 64;
  const server = await chat(t, { sendQueue });
  const writer = await enter(t, server, 'r', 'writer');
  const reader = await enter(t, server, 'r', 'reader');
  const stalled = await enter(t, server, 'r', 'stalled', false);
  await writer.waitUsers(['reader', 'stalled', 'writer']);
  await reader.waitUsers(['reader', 'stalled', 'writer']);

  // Enough 4 KiB messages to fill the loopback socket buffers of the
  // stalled client many times over.
  // The writer sends in windows of 16 and waits for the live readers to
  // catch up: they share this process with the server, so an unpaced flood
  // would make them slow readers too (and rightly evict them).
  const count = 2000;
  const window = 16;
  const text = 'z'.repeat(4000);
  const started = Date.now();
  let draining = false;
  for (let i = 0; i < count; i++) {
    await writer.say(`${i} ${text}`);
    if ((i + 1) % window === 0 || i === count - 1) {
      await writer.waitMessages(i + 1);
      await reader.waitMessages(i + 1);
    }
    // Once evicted (the room says it left), drain it so that it reads its
    // close frame before the server's close grace (2 s) runs out.
    if (!draining && reader.users()?.includes('stalled') === false) {
      draining = true;
      t.diagnostic(`stalled client evicted after ${i + 1} messages`);
      stalled.startReading();
    }
  }
  const elapsed = Date.now() - started;
  t.diagnostic(`${count} messages of 4 KB reached 2 readers in ${elapsed} ms while one client stalled`);

  for (const peer of [writer, reader]) {
    assert.deepEqual(peer.messages().map((m) => Number(m.text.split(' ')[0])), Array.from({ length: count }, (_, i) => i));
  }
  await reader.waitUsers(['reader', 'writer']);
  assert.ok(draining, 'the stalled client was evicted while the others were receiving');
  const ended = await stalled.ended;
  assert.equal(ended.code, 1008);
  assert.match(ended.reason, /send queue full/);
  assert.ok(stalled.messages().length < count, 'the stalled client did not get the rest');
  const metrics = await (await fetch(server.httpUrl('/metrics'))).text();
  assert.match(metrics, /^wskit_chat_evictions_total 1$/m);
});

test('chat: a client that stops answering pings is dropped after pongWait; one that answers stays', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { pingPeriodMs: 100, pongWaitMs: 300 });
  const alive = await enter(t, server, 'r', 'alive');
  const silent = await silentClient(server, 'r', 'silent');
  t.after(() => silent.destroy());
  await alive.waitUsers(['alive', 'silent']);
  const joinedAt = Date.now();
  const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
  silent.resume(); // drain what arrives, but never answer
  await alive.waitUsers(['alive'], 5000);
  const dropAfter = Date.now() - joinedAt;
  assert.ok(dropAfter >= 200, `dropped after ${dropAfter} ms, before pongWait`);
  await closed;

  // The live client has answered several pings by now and is still here.
  await new Promise((resolve) => setTimeout(resolve, 700));
  await alive.say('still here');
  await alive.waitMessages(1);
  assert.deepEqual(alive.users(), ['alive']);
});

test('chat: a client whose writes stall past writeWait is dropped even while its queue has room', { timeout: 30_000 }, async (t) => {
  const server = await chat(t, { sendQueue: 100_000, writeWaitMs: 300 });
  const writer = await enter(t, server, 'r', 'writer');
  const stalled = await enter(t, server, 'r', 'stalled', false);
  await writer.waitUsers(['stalled', 'writer']);
  const text = 'w'.repeat(4000);
  let sent = 0;
  // Bounded: the loopback buffers hold a few MB, far below 4000 messages.
  while (sent < 4000 && writer.users()?.includes('stalled')) {
    await writer.say(`${sent} ${text}`);
    sent++;
    if (sent % 16 === 0) await writer.waitMessages(sent);
  }
  await writer.waitUsers(['writer']);
  t.diagnostic(`stalled client dropped after ${sent} messages`);
  // A client that never reads cannot see the end of its connection either.
  stalled.startReading();
  assert.equal((await stalled.ended).code, 1006, 'dropped without a closing handshake');
  const metrics = await (await fetch(server.httpUrl('/metrics'))).text();
  assert.match(metrics, /^wskit_chat_evictions_total 0$/m, 'not a queue eviction');
});
