// Three `wskit serve --redis` processes on one real redis-server, with
// WebSocket clients spread over them: what a user of a cluster relies on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { redisSkip, startRedisServer, type RedisServer } from 'wskit-testing/redis-server';
import { Client, Node, assertExactlyOnceInOrder, root, waitFor } from './serve-nodes.js';

describe('wskit serve --redis cluster of three nodes', { skip: redisSkip() }, () => {
  let redis: RedisServer;
  let dataDir: string;
  const nodes: Node[] = [];
  const clients: Client[] = [];

  before(async () => {
    redis = await startRedisServer({ durable: true });
    dataDir = mkdtempSync(join(tmpdir(), 'wskit-cluster-'));
    for (let i = 0; i < 3; i++) nodes.push(new Node(redis.url, join(dataDir, `node${i}`)));
    await Promise.all(nodes.map((node) => node.listening()));
  });

  after(async () => {
    for (const client of clients) client.ws.terminate();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  function connect(node: Node, room: string, name: string, since?: string): Client {
    const client = new Client(node, room, name, since);
    clients.push(client);
    return client;
  }

  it('delivers every message to every member on every node exactly once, in one order, with presence spanning nodes', async () => {
    const lobby = Array.from({ length: 9 }, (_, i) => connect(nodes[i % 3]!, 'lobby', `user${i}`));
    const side = Array.from({ length: 3 }, (_, i) => connect(nodes[i]!, 'side', `side${i}`));
    await Promise.all([...lobby, ...side].map((c) => c.joined()));
    const names = lobby.map((c) => c.name).sort();
    await waitFor('every lobby member to see all nine names', () => lobby.every((c) => JSON.stringify(c.users) === JSON.stringify(names)));
    await waitFor('side presence', () => side.every((c) => c.users.length === 3));

    for (let round = 0; round < 5; round++) {
      for (const client of lobby) client.send(`${client.name} #${round}`);
      for (const client of side) client.send(`${client.name} #${round}`);
    }
    await waitFor('45 lobby messages everywhere', () => lobby.every((c) => c.messages.length >= 45));
    await waitFor('15 side messages everywhere', () => side.every((c) => c.messages.length >= 15));
    // A last message: once it has arrived everywhere, any duplicate would have too.
    lobby[4]!.send('marker');
    side[2]!.send('marker');
    await waitFor('the markers', () => [...lobby, ...side].every((c) => c.messages.at(-1)?.text === 'marker'));

    assertExactlyOnceInOrder(lobby, 46);
    assertExactlyOnceInOrder(side, 16);
    assert.ok(lobby[0]!.messages.every((m) => m.room === 'lobby'));
    // Each sender's own messages keep the order it sent them in.
    for (const client of lobby) {
      const own = client.messages.filter((m) => m.from === client.name && m.text !== 'marker').map((m) => m.text);
      assert.deepEqual(own, [0, 1, 2, 3, 4].map((round) => `${client.name} #${round}`));
    }
    for (const client of [...lobby, ...side]) assert.deepEqual(client.errors, []);

    // Every node read those messages from Redis, and /metrics counts the reads and what they carried.
    const metrics = await (await fetch(`${nodes[0]!.url}/metrics`)).text();
    const batches = Number(/^wskit_chat_broker_read_batches_total (\d+)/m.exec(metrics)?.[1]);
    const carried = Number(/^wskit_chat_broker_read_messages_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(batches >= 1 && carried >= 62 && carried >= batches, `read batches ${batches}, messages ${carried}`);
  });

  it('clients of a SIGKILLed node reconnect to another node with since and miss nothing', { timeout: 30_000 }, async () => {
    const [a, b, doomed] = nodes as [Node, Node, Node];
    const stayer = connect(a, 'resume', 'stayer');
    const talker = connect(b, 'resume', 'talker');
    const mover = connect(doomed, 'resume', 'mover');
    await Promise.all([stayer, talker, mover].map((c) => c.joined()));
    await waitFor('presence across the three nodes', () => stayer.users.length === 3);

    for (let i = 0; i < 5; i++) talker.send(`before ${i}`);
    await waitFor('the first messages on the doomed node', () => mover.messages.length === 5);

    // Kill the node while messages are still being sent.
    const sending = (async () => {
      for (let i = 0; i < 20; i++) {
        talker.send(`during ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await doomed.stop('SIGKILL');
    await mover.closed;
    await sending;
    await waitFor('the messages sent during the kill', () => talker.messages.length === 25);

    const lastSeen = mover.messages.at(-1)!.id;
    const moved = connect(a, 'resume', 'mover', lastSeen);
    await moved.joined();
    talker.send('after');
    await waitFor('the message after the move', () => moved.messages.at(-1)?.text === 'after' && stayer.messages.length === 26);

    // What the client saw over its two connections is exactly what everyone saw.
    assert.deepEqual([...mover.ids(), ...moved.ids()], stayer.ids());
    assert.deepEqual(talker.ids(), stayer.ids());
    assert.equal(new Set(stayer.ids()).size, 26);
    assert.ok(moved.history!.length >= 1, 'the history frame carried the missed messages');
  });

  it('reports degraded and answers with an error frame while Redis is down, then recovers without losing acknowledged messages', { timeout: 30_000 }, async () => {
    const [a, b] = nodes as [Node, Node];
    const one = connect(a, 'outage', 'one');
    const two = connect(b, 'outage', 'two');
    await Promise.all([one, two].map((c) => c.joined()));
    for (let i = 0; i < 3; i++) one.send(`before ${i}`);
    await waitFor('acknowledged messages', () => one.messages.length === 3 && two.messages.length === 3);

    await redis.stop({ kill: true });
    await waitFor('/healthz 503 degraded on both nodes', async () => {
      const states = await Promise.all([a.health(), b.health()]);
      return states.every((s) => s.status === 503 && s.broker === 'degraded');
    });
    one.send('while Redis is down');
    await waitFor('an error frame for the unsent message', () => one.errors.length === 1);
    assert.equal(one.ws.readyState, WebSocket.OPEN, 'the client stays connected');

    await redis.start();
    await waitFor('/healthz 200 on both nodes', async () => {
      const states = await Promise.all([a.health(), b.health()]);
      return states.every((s) => s.status === 200 && s.broker === 'ready');
    }, 15_000);
    two.send('after');
    await waitFor('the message after recovery', () => one.messages.at(-1)?.text === 'after' && two.messages.at(-1)?.text === 'after');
    assert.deepEqual(one.ids(), two.ids());
    assert.deepEqual(one.messages.map((m) => m.text), ['before 0', 'before 1', 'before 2', 'after']);

    // A newcomer's history still holds everything acknowledged before the crash.
    const late = connect(a, 'outage', 'late');
    await late.joined();
    assert.deepEqual(late.history!.map((m) => m.id), one.ids());
  });
});

describe('scripts/cluster-demo.sh', { skip: redisSkip() }, () => {
  it('starts Redis and two nodes, and a message sent on one node reaches the other', { timeout: 45_000 }, async () => {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile('bash', [join(root, 'scripts/cluster-demo.sh'), '--check'], { cwd: root, timeout: 40_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, output: stdout + stderr });
      });
      child.stdin?.end();
    });
    assert.equal(code, 0, output);
    assert.match(output, /check passed: message \d+-\d+ from alice on node 1 reached bob on node 2/);
  });
});
