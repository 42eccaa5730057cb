import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { ChatMessage } from '../../src/chat/broker.js';
import type { ServerFrame } from '../../src/chat/messages.js';
import { Peer, startChat, tempDataDir, until } from './harness.js';

/** A chat client over the npm `ws` package, recording every frame. */
async function wsClient(url: string, origin: string): Promise<{ socket: WebSocket; frames: ServerFrame[] }> {
  const socket = new WebSocket(url, { origin, perMessageDeflate: true });
  const frames: ServerFrame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data)) as ServerFrame));
  await new Promise<void>((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return { socket, frames };
}

test('chat: npm ws clients and wskit clients in one room get the same messages in the same order', { timeout: 30_000 }, async (t) => {
  const server = await startChat({ dataDir: tempDataDir(t), rateLimit: 0 });
  t.after(() => server.stop());
  const origin = server.httpUrl('');
  const wsClients = await Promise.all([0, 1, 2].map((i) => wsClient(server.wsUrl({ room: 'mixed', name: `ws${i}` }), origin)));
  t.after(() => wsClients.forEach((c) => c.socket.terminate()));
  const peers = await Promise.all([0, 1, 2].map((i) => Peer.connect(server.wsUrl({ room: 'mixed', name: `wskit${i}` }))));
  t.after(() => peers.forEach((p) => p.conn.terminate()));
  const everyone = ['ws0', 'ws1', 'ws2', 'wskit0', 'wskit1', 'wskit2'];
  await peers[0]!.waitUsers(everyone);

  const perSender = 20;
  await Promise.all([
    ...wsClients.map(async (c, i) => {
      for (let n = 0; n < perSender; n++) c.socket.send(JSON.stringify({ type: 'message', text: `ws${i}:${n}` }));
    }),
    ...peers.map(async (p, i) => {
      for (let n = 0; n < perSender; n++) await p.say(`wskit${i}:${n}`);
    }),
  ]);
  const total = perSender * 6;
  const messagesOf = (frames: ServerFrame[]) => frames.filter((f): f is ChatMessage => f.type === 'message').map((m) => m.id);
  await until(() => wsClients.every((c) => messagesOf(c.frames).length >= total) && peers.every((p) => p.messages().length >= total), `${total} messages everywhere`);
  const reference = peers[0]!.messages().map((m) => m.id);
  assert.equal(new Set(reference).size, total);
  for (const c of wsClients) assert.deepEqual(messagesOf(c.frames), reference);
  for (const p of peers) assert.deepEqual(p.messages().map((m) => m.id), reference);

  const closed = new Promise<number>((resolve) => wsClients[0]!.socket.once('close', (code) => resolve(code)));
  await server.stop();
  assert.equal(await closed, 1001);
});
