// Three `wskit serve --redis` processes on one real redis-server, with
// WebSocket clients spread over them: what a user of a cluster relies on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { redisSkip, startRedisServer, type RedisServer } from 'wskit-testing/redis-server';
import { Node, ServeNodes, assertExactlyOnceInOrder, resumeAfterKill, runClusterDemo, waitFor } from './serve-nodes.js';

describe('wskit serve --redis cluster of three nodes', { skip: redisSkip() }, () => {
  let redis: RedisServer;
  const serve = new ServeNodes();
  const nodes = serve.nodes;
  const connect = serve.connect.bind(serve);

  before(async () => {
    redis = await startRedisServer({ durable: true });
    await serve.start([redis.url, redis.url, redis.url]);
  });

  after(async () => {
    await serve.stop();
    await redis?.dispose();
  });

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
    await resumeAfterKill(serve, 'resume');
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
    const { code, output } = await runClusterDemo(['--check']);
    assert.equal(code, 0, output);
    assert.match(output, /check passed: message \d+-\d+ from alice on node 1 reached bob on node 2/);
  });
});
