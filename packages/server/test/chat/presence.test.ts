// Presence on one `wskit serve` node (in-process, embedded broker): the
// scenarios of presence-scenarios.ts, which presence-cluster.test.ts runs on
// two Redis nodes.
import { test } from 'node:test';
import type { Peer } from './harness.js';
import { startChat, tempDataDir } from './harness.js';
import { SCENARIO_OPTIONS, countsAndBack, snapshotChangesTabsAndCoalescing, whoPaging, type Nodes } from './presence-scenarios.js';

async function oneNode(t: { after: (fn: () => void | Promise<void>) => void }): Promise<{ nodes: Nodes; track: (peer: Peer) => Peer }> {
  const server = await startChat({ dataDir: tempDataDir(t), rateLimit: 0, ...SCENARIO_OPTIONS });
  const peers: Peer[] = [];
  t.after(async () => {
    for (const peer of peers) peer.conn.terminate();
    await server.stop();
  });
  const nodes: Nodes = { count: 1, url: (_node, room, name) => server.wsUrl({ room, name }) };
  return { nodes, track: (peer) => (peers.push(peer), peer) };
}

test('presence: a snapshot then changes, two tabs under one name, and a join and leave inside one interval showing nothing', { timeout: 60_000 }, async (t) => {
  const { nodes, track } = await oneNode(t);
  await snapshotChangesTabsAndCoalescing(nodes, track);
});

test('presence: counts above --presence-max-users, one frame each way across the threshold', { timeout: 60_000 }, async (t) => {
  const { nodes, track } = await oneNode(t);
  await countsAndBack(nodes, track);
});

test('presence: who pages every name once, in order, while names join', { timeout: 60_000 }, async (t) => {
  const { nodes, track } = await oneNode(t);
  await whoPaging(nodes, track);
});
