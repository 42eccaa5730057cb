// `--redis-replicas 1` on a real Redis Cluster of 3 masters with one replica
// each (redis-cli --cluster create --cluster-replicas 1): a master is
// SIGKILLed while clients publish to rooms on every shard, and the cluster
// promotes its replica. Every id any client saw must still be in history,
// nothing is delivered twice, and the failed shard's rooms deliver again
// within 10 s of the kill.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisKeys } from '../../src/chat/redis-keys.js';
import { keySlot } from '../../src/chat/redis-slots.js';
import { redisSkip, startRedisCluster, waitForLink, type RedisCluster } from 'wskit-testing/redis-server';
import { ServeNodes, waitFor, type Client } from './serve-nodes.js';

/** The cluster's failure detection: short, so the promotion takes a few seconds. */
const NODE_TIMEOUT_MS = 1_000;
/** The bound: delivery in the failed shard's rooms resumes within this of the kill. */
const RESUME_MS = 10_000;
/** Pause between two messages of one sender (below the default rate limit of 20/s). */
const SEND_EVERY_MS = 60;

/** The sequence number a sender put in a message's text (`<room> <n>`). */
function seq(text: string): number {
  return Number(text.split(' ')[1]);
}

describe('wskit serve --redis-replicas 1 on a Redis Cluster whose master fails over', { skip: redisSkip() }, () => {
  let cluster: RedisCluster;
  const serve = new ServeNodes();

  before(async () => {
    cluster = await startRedisCluster({ replicas: true, nodeTimeoutMs: NODE_TIMEOUT_MS });
    // The chat nodes are given the masters that stay; the third one fails.
    await serve.start([cluster.nodes[0]!.url, cluster.nodes[1]!.url], ['--redis-replicas', '1', '--history', '1000']);
  });

  after(async () => {
    await serve.stop();
    await cluster?.dispose();
  });

  it('keeps every id any client saw, delivers none twice, and resumes the failed shard within 10 s', async (t) => {
    const [a, b] = serve.nodes as [NonNullable<(typeof serve.nodes)[0]>, NonNullable<(typeof serve.nodes)[0]>];
    const { redis } = await a.health();
    const keys = new RedisKeys('chat:');
    // One room per master, found by its stream key's slot in the ranges /healthz shows.
    const rooms = cluster.nodes.map((master) => {
      const shard = redis!.masters.find((m) => m.address === `127.0.0.1:${master.port}`)!;
      const ranges = shard.slots!.map((range) => range.split('-').map(Number) as [number, number]);
      for (let n = 0; ; n++) {
        const slot = keySlot(keys.stream(`fo${n}`));
        if (ranges.some(([from, to = from]) => slot >= from && slot <= to)) return `fo${n}`;
      }
    });
    const failedRoom = rooms[2]!;
    const senders = rooms.map((room) => serve.connect(a, room, `s-${room}`));
    const watchers = rooms.map((room) => serve.connect(b, room, `w-${room}`));
    await Promise.all([...senders, ...watchers].map((c) => c.joined()));

    // Each sender publishes to its room all along; every message it is shown counts as its ack.
    let sending = true;
    const sent = rooms.map(() => 0);
    const loops = senders.map(async (sender, i) => {
      while (sending) {
        sender.send(`${rooms[i]} ${sent[i]!++}`);
        await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
      }
    });
    await waitFor('messages in every room on both nodes', () => watchers.every((w) => w.messages.length >= 40));

    const sentAtKill = sent[2]!;
    const killedAt = Date.now();
    await cluster.nodes[2]!.stop({ kill: true });
    const promoted = await cluster.failedOver(cluster.nodes[2]!, 20_000);
    t.diagnostic(`replica 127.0.0.1:${promoted.port} promoted ${Date.now() - killedAt} ms after the kill`);
    // The new master has no replica of its own, so WAIT 1 refuses every message of its rooms until the
    // killed server comes back: restarted, the cluster makes it a replica of the new master.
    await cluster.nodes[2]!.start();
    await waitForLink(cluster.nodes[2]!);
    t.diagnostic(`the killed master is back as a replica ${Date.now() - killedAt} ms after the kill`);
    await waitFor(`a message of ${failedRoom} sent after the kill`, () => watchers[2]!.messages.some((m) => seq(m.text) > sentAtKill), RESUME_MS + 5_000);
    const resumedMs = Date.now() - killedAt;
    t.diagnostic(`delivery in ${failedRoom} resumed ${resumedMs} ms after the kill`);
    assert.ok(resumedMs <= RESUME_MS, `delivery resumed ${resumedMs} ms after the kill, more than ${RESUME_MS} ms`);

    // A little more traffic on the new master, then quiet: both nodes end up showing the same messages.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    sending = false;
    await Promise.all(loops);
    for (let i = 0; i < rooms.length; i++) {
      await waitFor(`both nodes to show the same messages of ${rooms[i]}`, () => senders[i]!.ids().join() === watchers[i]!.ids().join(), 15_000);
    }

    let checked = 0;
    for (let i = 0; i < rooms.length; i++) {
      const seen: Client[] = [senders[i]!, watchers[i]!];
      for (const client of seen) {
        assert.equal(new Set(client.ids()).size, client.ids().length, `${client.name} was shown a message twice`);
      }
      // History, through the chat protocol on either node: a client joining now.
      const reader = serve.connect(i % 2 ? a : b, rooms[i]!, `h-${rooms[i]}`);
      await reader.joined();
      const history = new Set(reader.history!.map((m) => m.id));
      assert.equal(history.size, reader.history!.length, `history of ${rooms[i]} holds an id twice`);
      const ids = new Set(seen.flatMap((client) => client.ids()));
      const missing = [...ids].filter((id) => !history.has(id));
      assert.deepEqual(missing, [], `ids of ${rooms[i]} seen by a client but gone from history after the failover`);
      checked += ids.size;
    }
    const refused = senders.reduce((n, s) => n + s.errors.length, 0);
    t.diagnostic(`${checked} ids checked in history; ${sent.reduce((x, y) => x + y, 0)} sent, ${refused} answered with an error frame`);
  });
});
