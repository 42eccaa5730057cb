// Three `wskit serve --redis` processes on a real 3-master Redis Cluster
// (made with redis-cli --cluster create), each given a different node's
// address, with rooms spread over every shard: what a user of a cluster
// relies on, when the rooms live on different Redis servers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keySlot } from '../../src/chat/redis-slots.js';
import { redisSkip, startRedisCluster, type RedisCluster } from 'wskit-testing/redis-server';
import { ServeNodes, assertExactlyOnceInOrder, resumeAfterKill, runClusterDemo, waitFor } from './serve-nodes.js';

/** A killed node's users are gone within the TTL (15 s) and one heartbeat (5 s), plus a margin. */
const KILLED_USERS_GONE_MS = 15_000 + 5_000 + 2_000;

/** The first two rooms named `<prefix><n>` whose keys fall in each of the slot ranges, so every shard holds rooms. */
function roomsPerShard(prefix: string, ranges: [number, number][]): string[][] {
  const found: string[][] = ranges.map(() => []);
  for (let n = 0; found.some((rooms) => rooms.length < 2); n++) {
    const room = `${prefix}${n}`;
    const slot = keySlot(`chat:{${room}}:stream`);
    const shard = ranges.findIndex(([from, to]) => slot >= from && slot <= to);
    if (found[shard]!.length < 2) found[shard]!.push(room);
  }
  return found;
}

describe('wskit serve --redis on a 3-master Redis Cluster', { skip: redisSkip() }, () => {
  let cluster: RedisCluster;
  const serve = new ServeNodes();
  const nodes = serve.nodes;
  const connect = serve.connect.bind(serve);
  /** Each master's slot range, as /healthz reports it. */
  let ranges: [number, number][] = [];

  before(async () => {
    cluster = await startRedisCluster(3);
    // Each chat node is given another cluster node: the others are discovered.
    await serve.start(cluster.nodes.map((node) => node.url));
  });

  after(async () => {
    await serve.stop();
    await cluster?.dispose();
  });

  it('/healthz shows the cluster: three masters serving all 16384 slots, each connected', async () => {
    for (const node of nodes) {
      const { status, redis } = await node.health();
      assert.equal(status, 200);
      assert.equal(redis?.mode, 'cluster');
      assert.equal(redis.reason, undefined);
      assert.deepEqual(redis.masters.map((m) => m.address).sort(), cluster.nodes.map((n) => `127.0.0.1:${n.port}`).sort());
      assert.ok(redis.masters.every((m) => m.connected), JSON.stringify(redis.masters));
      const served = redis.masters.flatMap((m) => m.slots!.map((range) => range.split('-').map(Number) as [number, number]));
      assert.equal(served.reduce((n, [from, to]) => n + (to ?? from) - from + 1, 0), 16_384);
    }
    const { redis } = await nodes[0]!.health();
    ranges = redis!.masters.map((m) => m.slots![0]!.split('-').map(Number) as [number, number]);
  });

  it('delivers every message of rooms on every shard to every node exactly once, in one order per room, with presence spanning nodes', async () => {
    const rooms = roomsPerShard('shard-room-', ranges).flat();
    assert.equal(rooms.length, 6);
    const members = rooms.map((room) => nodes.map((node, i) => connect(node, room, `${room}-user${i}`)));
    await Promise.all(members.flat().map((c) => c.joined()));
    await waitFor('presence of the three nodes in every room', () => members.every((group) => group.every((c) => c.users.length === 3)));
    for (const group of members) {
      for (const client of group) assert.deepEqual(client.users, group.map((c) => c.name).sort());
    }

    for (let round = 0; round < 4; round++) {
      for (const group of members) for (const client of group) client.send(`${client.name} #${round}`);
    }
    await waitFor('12 messages in every room on every node', () => members.every((group) => group.every((c) => c.messages.length >= 12)));
    // A last message: once it has arrived everywhere, any duplicate would have too.
    for (const group of members) group.at(-1)!.send('marker');
    await waitFor('the markers in every room on every node', () => members.every((group) => group.every((c) => c.messages.at(-1)?.text === 'marker')));

    members.forEach((group, i) => {
      assertExactlyOnceInOrder(group, 13);
      assert.ok(group[0]!.messages.every((m) => m.room === rooms[i]), 'no message of another room');
      for (const client of group) {
        const own = client.messages.filter((m) => m.from === client.name && m.text !== 'marker').map((m) => m.text);
        assert.deepEqual(own, [0, 1, 2, 3].map((round) => `${client.name} #${round}`), 'a sender\'s messages in the order sent');
        assert.deepEqual(client.errors, []);
      }
    });

    const metrics = await (await fetch(`${nodes[1]!.url}/metrics`)).text();
    const carried = Number(/^wskit_chat_broker_read_messages_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(carried >= 6 * 13, `node 1 read ${carried} messages`);
    assert.match(metrics, /^wskit_chat_broker_fanout_lag_ms \d+/m);
  });

  it('keeps delivering exactly once and in order while a room\'s slot moves to another master', { timeout: 30_000 }, async () => {
    const room = roomsPerShard('moving-', ranges)[0]![0]!;
    const slot = keySlot(`chat:{${room}}:stream`);
    const group = nodes.map((node, i) => connect(node, room, `mover${i}`));
    await Promise.all(group.map((c) => c.joined()));
    await waitFor('presence of the three nodes', () => group.every((c) => c.users.length === 3));

    const sending = (async () => {
      for (let i = 0; i < 40; i++) {
        group[i % 3]!.send(`m${i}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor('the first messages', () => group.every((c) => c.messages.length >= 5));
    await cluster.moveSlot(slot, cluster.nodes[0]!, cluster.nodes[1]!);
    await sending;
    await waitFor('40 messages everywhere', () => group.every((c) => c.messages.length >= 40));
    group[0]!.send('marker');
    await waitFor('the marker', () => group.every((c) => c.messages.at(-1)?.text === 'marker'));
    assertExactlyOnceInOrder(group, 41);
    for (const client of group) assert.deepEqual(client.errors, []);

    await waitFor('/healthz to show the slot on its new master', async () => {
      const { redis } = await nodes[2]!.health();
      return redis?.masters.find((m) => m.address === `127.0.0.1:${cluster.nodes[1]!.port}`)?.slots?.includes(String(slot)) ?? false;
    });
  });

  it('a client of a SIGKILLed chat node resumes on another node with since, and the killed node\'s users leave everyone\'s presence', { timeout: 45_000 }, async () => {
    const [room, ghostRoom] = roomsPerShard('resume-', ranges).map((rooms) => rooms[0]!);
    // A user only on the node about to be killed, in a room on another shard.
    const watcher = connect(nodes[0]!, ghostRoom!, 'watcher');
    const ghost = connect(nodes[2]!, ghostRoom!, 'ghost');
    await Promise.all([watcher, ghost].map((c) => c.joined()));
    await waitFor('the ghost in the watcher\'s presence', () => watcher.users.length === 2);

    await resumeAfterKill(serve, room!);
    await waitFor('the killed node\'s user to leave', () => JSON.stringify(watcher.users) === '["watcher"]', KILLED_USERS_GONE_MS);
    await waitFor('the mover to stay online on its new node', () => JSON.stringify(serve.clients[serve.clients.length - 1]!.users) === '["mover","stayer","talker"]');
  });
});

describe('scripts/cluster-demo.sh --redis-cluster', { skip: redisSkip() }, () => {
  it('starts a 3-master Redis Cluster and two nodes, and a message sent on one node reaches the other', { timeout: 45_000 }, async () => {
    const { code, output } = await runClusterDemo(['--check', '--redis-cluster']);
    assert.equal(code, 0, output);
    assert.match(output, /Redis Cluster of 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+/);
    assert.match(output, /check passed: message \d+-\d+ from alice on node 1 reached bob on node 2/);
  });
});
