// Presence on two `wskit serve --redis` processes sharing one redis-server:
// the scenarios of presence-scenarios.ts with every change crossing Redis,
// and a node killed with SIGKILL whose users leave as one change.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisSkip, startRedisCluster, startRedisServer } from 'wskit-testing/redis-server';
import { Peer } from './harness.js';
import { SCENARIO_FLAGS, countsAndBack, snapshotChangesTabsAndCoalescing, whoPaging, type Nodes } from './presence-scenarios.js';

const wskit = join(new URL('../../../', import.meta.url).pathname, 'bin/wskit');
/** A killed node's users are gone within the TTL (15 s) and one heartbeat (5 s), then one presence interval (1 s). */
const KILLED_USERS_GONE_MS = 15_000 + 5_000 + 1_000;

/** One `wskit serve --redis` process on an ephemeral port. */
class ServeProcess {
  output = '';
  port = 0;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(redisUrl: string, dataDir: string) {
    this.child = spawn(
      process.execPath,
      [wskit, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-limit', '0', '--redis', redisUrl, '--data', dataDir, ...SCENARIO_FLAGS],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  async listening(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!/wskit listening on http:\/\/127\.0\.0\.1:(\d+)/.test(this.output)) {
      if (Date.now() > deadline || this.child.exitCode !== null) assert.fail(`wskit serve did not start:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.port = Number(/wskit listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.output)![1]);
  }

  /** Resolves once /healthz says 200: the broker reached Redis (a cluster takes a moment to discover). */
  async ready(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ((await fetch(`http://127.0.0.1:${this.port}/healthz`)).status !== 200) {
      if (Date.now() > deadline) assert.fail(`wskit serve not ready after 15000 ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Redis for one run of the scenarios: a standalone server or a cluster, and how to stop it. */
interface PresenceRedis {
  url: string;
  dispose(): Promise<void>;
}

describePresence('presence on two wskit serve --redis nodes', () => startRedisServer(), true);
// The same scenarios when each room's presence keys live on one of three masters.
describePresence('presence on two wskit serve --redis nodes sharing a 3-master Redis Cluster', () => startRedisCluster(3), false);

function describePresence(title: string, startRedis: () => Promise<PresenceRedis>, withKill: boolean): void {
describe(title, { skip: redisSkip() }, () => {
  let redis: PresenceRedis;
  let dataDir: string;
  const servers: ServeProcess[] = [];
  const peers: Peer[] = [];
  const track = (peer: Peer) => (peers.push(peer), peer);
  const nodes: Nodes = {
    count: 2,
    url: (node, room, name) => `ws://127.0.0.1:${servers[node]!.port}/ws?${new URLSearchParams({ room, name })}`,
  };

  before(async () => {
    redis = await startRedis();
    dataDir = mkdtempSync(join(tmpdir(), 'wskit-presence-cluster-'));
    for (let i = 0; i < 2; i++) servers.push(new ServeProcess(redis.url, join(dataDir, `node${i}`)));
    await Promise.all(servers.map((server) => server.listening()));
    await Promise.all(servers.map((server) => server.ready()));
  });

  after(async () => {
    for (const peer of peers) peer.conn.terminate();
    await Promise.all(servers.map((server) => server.stop()));
    await redis?.dispose();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a snapshot then changes, two tabs under one name, and a join and leave inside one interval showing nothing', { timeout: 60_000 }, async () => {
    await snapshotChangesTabsAndCoalescing(nodes, track);
  });

  it('counts above --presence-max-users, one frame each way across the threshold', { timeout: 60_000 }, async () => {
    await countsAndBack(nodes, track);
  });

  it('who pages every name once, in order, while names join on both nodes', { timeout: 60_000 }, async () => {
    await whoPaging(nodes, track);
  });

  // On a cluster, redis-sharded.test.ts kills a node.
  if (withKill) {
    it('the users of a SIGKILLed node leave, in one change, within the TTL and one heartbeat', { timeout: 60_000 }, async () => {
      const room = 'killed';
      const watcher = track(await Peer.connect(nodes.url(0, room, 'watcher')));
      const doomed = await Promise.all(['doomed a', 'doomed b', 'doomed c'].map(async (name) => track(await Peer.connect(nodes.url(1, room, name)))));
      // One of the doomed names also has a tab on the surviving node: it stays.
      const survivor = track(await Peer.connect(nodes.url(0, room, 'doomed c')));
      await watcher.waitUsers(['doomed a', 'doomed b', 'doomed c', 'watcher'], 10_000);
      const framesBefore = watcher.of('presence').length;

      await servers[1]!.stop('SIGKILL');
      await Promise.all(doomed.map((peer) => peer.ended));
      await watcher.waitUsers(['doomed c', 'watcher'], KILLED_USERS_GONE_MS);
      assert.deepEqual(watcher.of('presence').slice(framesBefore), [{ type: 'presence', room, joined: [], left: ['doomed a', 'doomed b'] }], 'one change for the whole node');
      await survivor.waitUsers(['doomed c', 'watcher']);
      assert.deepEqual(watcher.presence.errors, []);
      assert.deepEqual((await watcher.who()).users, ['doomed c', 'watcher']);
    });
  }
});
}
