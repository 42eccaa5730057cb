/**
 * ChatClient on its own: a real Hub over an embedded broker whose join and
 * publish can be held, and real connections on 127.0.0.1 made by an
 * Upgrader, so each test can tell what the client does while the broker
 * has not answered yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PreparedMessage, Upgrader, type Conn } from 'wskit';
import type { ChatMessage } from '../../src/chat/broker.js';
import { ChatClient, type ChatClientOptions } from '../../src/chat/client.js';
import { EmbeddedBroker } from '../../src/chat/embedded-broker.js';
import { Hub } from '../../src/chat/hub.js';
import { ChatMetrics } from '../../src/chat/metrics.js';
import { Peer, until } from './harness.js';

type After = { after: (fn: () => void | Promise<void>) => void };

/** A gate that holds callers until it is opened. */
class Gate {
  #open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.#open = resolve));
  waiting = 0;
  async pass(): Promise<void> {
    this.waiting++;
    await this.opened;
    this.waiting--;
  }
  open(): void {
    this.#open();
  }
}

/** The embedded broker, with joins and publishes held at a gate when one is set, and every published text recorded in order. */
class HeldBroker extends EmbeddedBroker {
  joinGate: Gate | undefined;
  publishGate: Gate | undefined;
  readonly published: string[] = [];

  override async join(room: string, name: string, memberId: string): Promise<void> {
    await this.joinGate?.pass();
    return super.join(room, name, memberId);
  }

  override async publish(room: string, from: string, text: string): Promise<ChatMessage> {
    this.published.push(text);
    await this.publishGate?.pass();
    return super.publish(room, from, text);
  }
}

/** A server made of one Hub: each upgrade on /ws becomes a ChatClient in room "r" named after `?name=`. */
async function setup(t: After, options: Partial<ChatClientOptions> = {}, readBufferSize?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chat-client-'));
  const broker = new HeldBroker({ dataDir: dir });
  const hub = new Hub<PreparedMessage>({ broker, encode: (json) => new PreparedMessage('text', json), presenceIntervalMs: 20 });
  const metrics = new ChatMetrics({ connections: () => 0, rooms: () => hub.roomCount, brokerState: () => broker.state });
  const log: string[] = [];
  const upgrader = new Upgrader({ readBufferSize, checkOrigin: () => true, closeTimeout: 1000 });
  const accepted: { client: ChatClient; running: Promise<void>; socket: Socket; conn: Conn }[] = [];
  const http = createServer();
  http.on('upgrade', (req, socket: Socket, head) => {
    void upgrader.upgrade(req, socket, head).then((conn) => {
      const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name') ?? 'anon';
      const client = new ChatClient(conn, { room: 'r', name }, hub, metrics, {
        sendQueue: 256,
        pingPeriodMs: 54_000,
        pongWaitMs: 60_000,
        writeWaitMs: 10_000,
        rateLimit: 0,
        rateBurst: 0,
        closeGraceMs: 1000,
        log: (line) => log.push(line),
        ...options,
      });
      accepted.push({ client, running: client.run(), socket, conn });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  t.after(async () => {
    // A test that failed may have left a gate shut, and a client cannot leave a room it is still joining.
    broker.joinGate?.open();
    broker.publishGate?.open();
    for (const a of accepted) a.conn.terminate();
    await Promise.all(accepted.map((a) => a.running));
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await hub.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const enter = async (name: string) => {
    const count = accepted.length;
    const peer = await Peer.connect(`ws://127.0.0.1:${port}/ws?name=${name}`);
    t.after(() => peer.conn.terminate());
    await until(() => accepted.length > count, 'the server side of the connection');
    return { peer, server: accepted[count]! };
  };
  return { broker, hub, log, port, enter };
}

/** Resolves once the peer has had a pong for a ping sent now: the server has parsed every frame sent before it. */
function pingPong(conn: Conn): Promise<void> {
  const pong = new Promise<void>((resolve) => conn.setPongHandler(() => resolve()));
  void conn.ping();
  return pong;
}

test('ChatClient handles the frames sent during its join after the join, in order', { timeout: 10_000 }, async (t) => {
  const { broker, enter } = await setup(t);
  const gate = (broker.joinGate = new Gate());
  const { peer } = await enter('early');
  await until(() => gate.waiting === 1, 'the join to reach the broker');
  for (const text of ['one', 'two', 'three']) await peer.say(text);
  await pingPong(peer.conn);
  assert.deepEqual(broker.published, [], 'nothing is published before the join completes');
  gate.open();
  await peer.waitMessages(3);
  assert.deepEqual(peer.texts(), ['one', 'two', 'three']);
  assert.deepEqual(broker.published, ['one', 'two', 'three']);
  assert.equal(peer.frames[0]?.type, 'history', 'the history frame comes before the live messages');
});

test('ChatClient leaves the frames sent during its join in the inbox, which pauses the socket past the read buffer', { timeout: 10_000 }, async (t) => {
  const { broker, enter } = await setup(t, {}, 1024);
  const gate = (broker.joinGate = new Gate());
  const { peer, server } = await enter('flood');
  await until(() => gate.waiting === 1, 'the join to reach the broker');
  const texts = Array.from({ length: 10 }, (_, i) => `${i} ${'x'.repeat(1000)}`);
  for (const text of texts) await peer.say(text);
  await until(() => server.socket.isPaused(), 'the server to stop reading the socket');
  assert.deepEqual(broker.published, []);
  gate.open();
  await peer.waitMessages(texts.length);
  assert.deepEqual(peer.texts(), texts);
  assert.equal(server.socket.isPaused(), false, 'the socket reads again once the inbox has drained');
});

test('ChatClient holds the next frame back while a publish waits for the broker', { timeout: 10_000 }, async (t) => {
  const { broker, enter } = await setup(t);
  const { peer } = await enter('sender');
  await peer.waitFor(() => peer.frames.some((f) => f.type === 'presence'), 'the presence snapshot');
  const gate = (broker.publishGate = new Gate());
  await peer.say('held');
  await peer.conn.write('binary', Buffer.from([1, 2, 3]));
  await pingPong(peer.conn);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(gate.waiting, 1);
  assert.deepEqual(peer.of('error'), [], 'the binary frame is not answered while the publish before it waits');
  gate.open();
  await peer.waitFor(() => peer.of('error').length === 1, 'the error frame for the binary message');
  const order = peer.frames.filter((f) => f.type === 'message' || f.type === 'error').map((f) => f.type);
  assert.deepEqual(order, ['message', 'error']);
});

test('ChatClient drops a client that answers no ping within pongWait, says so, and leaves the room', { timeout: 10_000 }, async (t) => {
  const { hub, log, port } = await setup(t, { pingPeriodMs: 100, pongWaitMs: 300 });
  const socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `GET /ws?name=silent HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  socket.resume(); // read what comes, never answer
  await until(() => hub.memberCount === 1, 'the silent client to join');
  await closed;
  await until(() => log.some((l) => l.startsWith('chat: close "silent"')), 'the close line', 5000);
  assert.equal(hub.memberCount, 0);
  const drop = log.findIndex((l) => /^chat: dropping "silent" .*no pong within 300 ms$/.test(l));
  assert.ok(drop >= 0, `a "no pong" line in ${JSON.stringify(log)}`);
  assert.ok(drop < log.findIndex((l) => l.startsWith('chat: close "silent"')));
  assert.match(log.find((l) => l.startsWith('chat: close "silent"'))!, /code=1006/);
});

test('ChatClient.run resolves after a normal close by the peer, with the client out of the room and its close logged', { timeout: 10_000 }, async (t) => {
  const { hub, log, enter } = await setup(t);
  const { peer, server } = await enter('leaver');
  await peer.waitFor(() => peer.frames.some((f) => f.type === 'presence'), 'the presence snapshot');
  await peer.close();
  await server.running;
  assert.equal(hub.memberCount, 0);
  assert.ok(log.some((l) => /^chat: close "leaver" .*code=1000 reason="bye"$/.test(l)), JSON.stringify(log));
  assert.ok(!log.some((l) => l.includes('failed') || l.includes('dropping')), JSON.stringify(log));
});

test('ChatClient.close during the join ends the connection with its code once the join returns, and never hands it a frame', { timeout: 10_000 }, async (t) => {
  const { broker, hub, enter } = await setup(t);
  const gate = (broker.joinGate = new Gate());
  const { peer, server } = await enter('quitter');
  await until(() => gate.waiting === 1, 'the join to reach the broker');
  await peer.say('too late');
  await pingPong(peer.conn);
  const closing = server.client.close(1001, 'going away');
  gate.open();
  await closing;
  await server.running;
  assert.equal((await peer.ended).code, 1001);
  assert.equal(hub.memberCount, 0);
  assert.deepEqual(broker.published, []);
});
