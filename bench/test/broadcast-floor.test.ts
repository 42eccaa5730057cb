/**
 * The fan-out row's floor server (bench/servers/broadcast-floor.ts), started
 * the way the bench starts it, on real sockets on 127.0.0.1: every subscriber
 * gets every published message exactly once, in order, in the envelope the
 * fan-out workers count, and the publisher gets none back; client frames are
 * read whole, split byte by byte and several to a write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { maskedFrame, rawConnect } from '../load/raw-client.js';
import { startBenchServer, type Server } from '../targets.js';

/** Received collects the text messages one client got. */
interface Received {
  ws: WebSocket;
  texts: string[];
}

function open(server: Server, name: string): Promise<Received> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?room=bench&name=${name}`, { perMessageDeflate: false });
    const got: Received = { ws, texts: [] };
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false);
      const msg = JSON.parse(String(data)) as { type: string; room: string; from: string; text: string };
      assert.equal(msg.type, 'message');
      assert.equal(msg.room, 'bench');
      got.texts.push(`${msg.from}: ${msg.text}`);
    });
    ws.once('open', () => resolve(got));
    ws.once('error', reject);
  });
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(10);
}

async function connectionsBecome(server: Server, want: number): Promise<number> {
  let seen = -1;
  for (let i = 0; i < 100 && seen !== want; i++) {
    seen = (await server.stats(false)).connections;
    if (seen !== want) await sleep(20);
  }
  return seen;
}

test('the broadcast floor delivers every published message exactly once to every other connection', async () => {
  const server = await startBenchServer('floor', 'broadcast-floor');
  const clients: Received[] = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await open(server, `c${i}`));
    const publisher = await open(server, 'publisher');
    clients.push(publisher);
    const sent = Array.from({ length: 50 }, (_, i) => `bench 1 ${i} ${process.hrtime.bigint()} ${'x'.repeat(i * 3)}`);
    for (const text of sent) publisher.ws.send(JSON.stringify({ type: 'message', text }));
    // Not a chat message: no frame goes out for it.
    publisher.ws.send('not json');
    const subscribers = clients.slice(0, 4);
    await until(() => subscribers.every((c) => c.texts.length >= sent.length));
    await sleep(50);
    for (const c of subscribers) assert.deepEqual(c.texts, sent.map((text) => `publisher: ${text}`));
    assert.deepEqual(publisher.texts, [], 'the sender gets nothing back');
  } finally {
    for (const c of clients) c.ws.terminate();
    await server.stop();
  }
});

test('the broadcast floor reads client frames split byte by byte and several to a write, 16-bit lengths included', async () => {
  const server = await startBenchServer('floor', 'broadcast-floor');
  const clients: Received[] = [];
  try {
    clients.push(await open(server, 'sub'));
    const conn = await rawConnect(server.port, '/ws?room=bench&name=raw', '', false, () => {});
    const texts = ['bench 2 0 1 short', `bench 2 1 1 ${'y'.repeat(300)}`, 'bench 2 2 1 last'];
    const frames = texts.map((text) => maskedFrame(0x1, Buffer.from(JSON.stringify({ type: 'message', text }))));
    for (const byte of frames[0]!) {
      conn.socket.write(Buffer.from([byte]));
      await sleep(1);
    }
    conn.socket.write(Buffer.concat([frames[1]!, frames[2]!]));
    await until(() => clients[0]!.texts.length >= texts.length);
    assert.deepEqual(clients[0]!.texts, texts.map((text) => `raw: ${text}`));
    conn.socket.destroy();
  } finally {
    for (const c of clients) c.ws.terminate();
    await server.stop();
  }
});

test('the broadcast floor counts connections and answers a close frame', async () => {
  const server = await startBenchServer('floor', 'broadcast-floor');
  try {
    const client = await open(server, 'one');
    assert.equal(await connectionsBecome(server, 1), 1);
    const closed = new Promise<number>((resolve) => client.ws.once('close', resolve));
    client.ws.close(1000);
    assert.equal(await closed, 1005, 'the floor answers with a close frame without a code');
    assert.equal(await connectionsBecome(server, 0), 0, 'the closed connection is no longer counted');
  } finally {
    await server.stop();
  }
});
