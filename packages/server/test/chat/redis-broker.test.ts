import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { compareIds, type ChatMessage, type PresenceChange } from '../../src/chat/broker.js';
import { compareNames } from '../../src/chat/names.js';
import { RedisBroker, type RedisBrokerOptions } from '../../src/chat/redis-broker.js';
import { createClient } from 'redis';
import { redisSkip, startRedisServer, type RedisServer } from 'wskit-testing/redis-server';
import { startRelay } from 'wskit-testing/tcp-relay';

const brokerModule = new URL('../../src/chat/redis-broker.js', import.meta.url).href;

/** Poll `predicate` every 10 ms; fail with `what` after `timeoutMs`. */
async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let prefixCount = 0;
const open = new Set<RedisBroker>();
const logs: string[] = [];

/** A broker on its own key prefix unless one is given, closed after the file. */
async function broker(url: string, options: Partial<RedisBrokerOptions> = {}, wait = true): Promise<RedisBroker> {
  const b = new RedisBroker({ url, keyPrefix: `t${prefixCount}:`, log: (line) => logs.push(line), ...options });
  open.add(b);
  if (wait) await b.whenReady(5_000);
  return b;
}

/** Collects what a broker delivers for a room. */
async function collect(b: RedisBroker, room: string): Promise<ChatMessage[]> {
  const got: ChatMessage[] = [];
  await b.subscribe(room, (message) => got.push(message));
  return got;
}

/** Follows a room's names through a broker's presence watch, as the hub does. */
async function follow(b: RedisBroker, room: string) {
  const names = new Set<string>();
  const changes: PresenceChange[] = [];
  const watch = await b.watchPresence(room, (change) => {
    changes.push(change);
    for (const name of change.joined) names.add(name);
    for (const name of change.left) names.delete(name);
  });
  for (const name of watch.users) names.add(name);
  return { names: () => JSON.stringify([...names].sort(compareNames)), changes, stop: watch.stop };
}

/** All names of a room, through the pages of `users`. */
async function allUsers(b: RedisBroker, room: string): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  do {
    const page = await b.users(room, { ...(after ? { after } : {}), limit: 500 });
    names.push(...page.users);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return names;
}

function assertIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(compareIds(ids[i - 1]!, ids[i]!) < 0, `id ${ids[i]} does not follow ${ids[i - 1]}`);
  }
}

after(async () => {
  await Promise.all([...open].map((b) => b.close()));
});

describe('RedisBroker on one Redis server', { skip: redisSkip() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    await Promise.all([...open].map((b) => b.close()));
    await redis?.dispose();
  });

  it('RedisBroker delivers every message from any node to every node exactly once, in one order', async () => {
    const prefix = { keyPrefix: `fanout${++prefixCount}:` };
    const nodes = [await broker(redis.url, prefix), await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const received = await Promise.all(nodes.map((n) => collect(n, 'lobby')));
    const other = await Promise.all(nodes.map((n) => collect(n, 'other')));

    // 3 nodes × 20 messages, all in flight at once.
    const published = await Promise.all(
      Array.from({ length: 60 }, (_, i) => nodes[i % 3]!.publish('lobby', `user${i % 3}`, `m${i}`)),
    );
    await nodes[0]!.publish('other', 'x', 'elsewhere');
    // A marker published last: once every node has it, nothing earlier is still in flight.
    const marker = await nodes[1]!.publish('lobby', 'user1', 'marker');
    await waitFor('the marker on every node', () => received.every((got) => got.at(-1)?.id === marker.id));

    const expected = [...published.map((m) => m.id), marker.id].sort(compareIds);
    for (const got of received) {
      assert.deepEqual(got.map((m) => m.id), expected);
    }
    assertIncreasing(expected);
    const byId = new Map(received[0]!.map((m) => [m.id, m]));
    for (const m of published) assert.deepEqual(byId.get(m.id), m);
    for (const got of other) assert.deepEqual(got.map((m) => m.text), ['elsewhere']);
  });

  it('RedisBroker delivers the messages that arrive during its batch wait in one pass, and reads at once when idle', async () => {
    const prefix = { keyPrefix: `batch${++prefixCount}:` };
    const reader = await broker(redis.url, { ...prefix, readBatchWaitMs: 50 });
    const writer = await broker(redis.url, prefix);
    // Which synchronous pass delivered each message: a pass ends at the next tick.
    const passes: number[] = [];
    let pass = 0;
    let ending = false;
    await reader.subscribe('room', () => {
      passes.push(pass);
      if (ending) return;
      ending = true;
      process.nextTick(() => {
        pass++;
        ending = false;
      });
    });
    await writer.publish('room', 'ann', 'first');
    await waitFor('the first message', () => passes.length === 1);
    // The reader now waits 50 ms before its next read, so these gather into one batch.
    await Promise.all(Array.from({ length: 10 }, (_, i) => writer.publish('room', 'ann', `burst ${i}`)));
    await waitFor('the burst', () => passes.length === 11);
    assert.deepEqual(passes.slice(1), Array(10).fill(passes[1]));
    assert.notEqual(passes[1], passes[0]);
    assert.equal(reader.readBatches, 2);
    assert.equal(reader.readBatchEntries, 11);
  });

  it('RedisBroker rejects a batch wait out of range', () => {
    assert.throws(() => new RedisBroker({ url: redis.url, readBatchWaitMs: 51 }), RangeError);
    assert.throws(() => new RedisBroker({ url: redis.url, readBatchWaitMs: -1 }), RangeError);
    assert.throws(() => new RedisBroker({ url: redis.url, readBatchWaitMs: 1.5 }), RangeError);
  });

  it('RedisBroker.subscribe delivers only messages published after it resolves', async () => {
    const prefix = { keyPrefix: `late${++prefixCount}:` };
    const [a, b] = [await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const early = await collect(b, 'room');
    for (let i = 0; i < 3; i++) await a.publish('room', 'ann', `before ${i}`);
    await waitFor('the early messages', () => early.length === 3);
    // Second listener on a room the node already reads, and a first one on another node.
    const lateB = await collect(b, 'room');
    const lateA = await collect(a, 'room');
    await a.publish('room', 'ann', 'after');
    await waitFor('the new message', () => lateA.length === 1 && lateB.length === 1 && early.length === 4);
    assert.deepEqual(lateA.map((m) => m.text), ['after']);
    assert.deepEqual(lateB.map((m) => m.text), ['after']);
  });

  it('RedisBroker.subscribe returns a function that stops delivery', async () => {
    const b = await broker(redis.url, { keyPrefix: `unsub${++prefixCount}:` });
    const kept = await collect(b, 'room');
    const dropped: ChatMessage[] = [];
    const stop = await b.subscribe('room', (m) => dropped.push(m));
    await b.publish('room', 'ann', 'one');
    await waitFor('the first message', () => kept.length === 1 && dropped.length === 1);
    stop();
    await b.publish('room', 'ann', 'two');
    await waitFor('the second message', () => kept.length === 2);
    assert.equal(dropped.length, 1);
  });

  it('RedisBroker.history returns the last messages oldest first, and since returns exactly those after the id', async () => {
    const prefix = { keyPrefix: `hist${++prefixCount}:` };
    const [a, b] = [await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await (i % 2 ? a : b).publish('room', 'ann', `m${i}`)).id);

    const last5 = await b.history('room', { limit: 5 });
    assert.deepEqual(last5.map((m) => m.id), ids.slice(5));
    assert.deepEqual(last5.map((m) => m.text), ['m5', 'm6', 'm7', 'm8', 'm9']);
    assert.deepEqual((await a.history('room', { since: ids[3], limit: 100 })).map((m) => m.id), ids.slice(4));
    assert.deepEqual((await a.history('room', { since: ids[3], limit: 2 })).map((m) => m.id), ids.slice(4, 6));
    assert.deepEqual(await a.history('room', { since: ids[9], limit: 100 }), []);
    assert.deepEqual(await a.history('empty', { limit: 100 }), []);
    await assert.rejects(a.history('room', { since: 'yesterday', limit: 5 }), RangeError);
  });

  it('RedisBroker.history is bounded to historySize messages per room', async () => {
    const b = await broker(redis.url, { keyPrefix: `bound${++prefixCount}:`, historySize: 5 });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await b.publish('room', 'ann', `m${i}`)).id);
    assert.deepEqual((await b.history('room', { limit: 100 })).map((m) => m.id), ids.slice(7));
    assert.equal((await b.history('room', { since: ids[0], limit: 100 })).length, 5);
  });

  it('RedisBroker presence spans nodes, de-duplicates names and reports joins and leaves as changes', async () => {
    const prefix = { keyPrefix: `pres${++prefixCount}:` };
    const [a, b, c] = [await broker(redis.url, prefix), await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const watcher = await follow(c, 'room');
    await a.join('room', 'alice', 'conn-1');
    await b.join('room', 'bob', 'conn-1'); // the same member id on another node is another member
    await b.join('room', 'alice', 'conn-2');
    await a.join('elsewhere', 'carol', 'conn-3');
    await waitFor('alice and bob on the watcher', () => watcher.names() === '["alice","bob"]');
    assert.deepEqual(await c.users('room', { limit: 10 }), { users: ['alice', 'bob'], next: null, count: 2 });
    assert.deepEqual(await a.users('elsewhere', { limit: 10 }), { users: ['carol'], next: null, count: 1 });
    assert.deepEqual((await a.watchPresence('room', () => {})).users, ['alice', 'bob'], 'another node starts from the same names');

    await a.leave('room', 'alice', 'conn-1');
    // alice is still connected on b.
    assert.deepEqual(await allUsers(c, 'room'), ['alice', 'bob']);
    await b.close();
    open.delete(b);
    await waitFor('b\'s users gone after close', () => watcher.names() === '[]');
    assert.deepEqual(await allUsers(a, 'room'), []);
    const sorted = watcher.changes.map((change) => ({ joined: change.joined.sort(compareNames), left: change.left.sort(compareNames) }));
    assert.deepEqual(sorted, [
      { joined: ['alice'], left: [] },
      { joined: ['bob'], left: [] },
      { joined: [], left: ['alice', 'bob'] },
    ], 'one change per name that came, the closed node\'s names as one change');
  });

  it('RedisBroker.users pages in code point order, completely and without duplicates while names join', async () => {
    const prefix = { keyPrefix: `page${++prefixCount}:` };
    const [a, b] = [await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const names = Array.from({ length: 1_100 }, (_, i) => `n${i}`);
    names.push('Zoë', 'zoë', 'Ωmega', '日本', '𝐀stral', '\uFF21wide');
    await Promise.all(names.map((name, i) => (i % 2 ? a : b).join('big', name, `c${i}`)));
    const listed: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await a.users('big', { ...(after ? { after } : {}), limit: 500 });
      assert.equal(page.count, names.length + 2 * pages);
      listed.push(...page.users);
      after = page.next ?? undefined;
      await b.join('big', `a${pages}`, `early${pages}`);
      await b.join('big', `\u{10FFFF}late${pages}`, `late${pages}`);
      pages++;
    } while (after !== undefined && pages < 10);
    assert.equal(new Set(listed).size, listed.length, 'no name listed twice');
    for (const name of names) assert.ok(listed.includes(name), `${name} listed`);
    assert.deepEqual(listed, [...listed].sort(compareNames), 'Redis and compareNames agree on the order');
    assert.ok(listed.some((name) => name.endsWith('late0')), 'a name joining after the cursor still comes');
  });

  it('RedisBroker costs a constant number of Redis commands per join and leave, whatever the room\'s size', async () => {
    // Heartbeats far apart, so none falls inside the measured join and leave.
    const prefix = { keyPrefix: `cost${++prefixCount}:`, heartbeatMs: 60_000, presenceTtlMs: 120_000 };
    const [a, b] = [await broker(redis.url, prefix), await broker(redis.url, prefix)];
    await follow(b, 'room');
    const counter = createClient({ url: redis.url });
    await counter.connect();
    try {
      /** Commands Redis ran since the last CONFIG RESETSTAT, the scripts' own commands included. */
      const calls = async () => {
        const info = String(await counter.sendCommand(['INFO', 'commandstats']));
        return [...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)]
          .filter((match) => match[1] !== 'info' && match[1] !== 'config')
          .reduce((n, match) => n + Number(match[2]), 0);
      };
      const cost = async (members: number) => {
        for (let i = 0; i < members; i++) await a.join('room', `filler ${members} ${i}`, `f${members}-${i}`);
        await counter.sendCommand(['CONFIG', 'RESETSTAT']);
        await a.join('room', 'probe', `probe-${members}`);
        await a.leave('room', 'probe', `probe-${members}`);
        return calls();
      };
      const small = await cost(2);
      const large = await cost(500);
      assert.equal(large, small, `a join and leave in a room of 500 took ${large} commands, in a room of 2 ${small}`);
      assert.ok(small >= 2 && small <= 30, `a join and leave took ${small} commands`);
    } finally {
      await counter.close();
    }
  });

  it('RedisBroker reads a room\'s names again after a lost change, at the next change or the next heartbeats', async () => {
    const prefix = { keyPrefix: `lost${++prefixCount}:`, heartbeatMs: 100, presenceTtlMs: 1_000 };
    const [a, b] = [await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const watcher = await follow(a, 'room');
    await b.join('room', 'one', 'c1');
    await waitFor('one', () => watcher.names() === '["one"]');
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      // A name added and a version raised without a message: as if the message was lost.
      const silently = async (name: string) => {
        await raw.sendCommand(['HINCRBY', `${prefix.keyPrefix}{room}:pcount`, name, '1']);
        await raw.sendCommand(['ZADD', `${prefix.keyPrefix}{room}:pnames`, '0', name]);
        await raw.sendCommand(['INCR', `${prefix.keyPrefix}{room}:pver`]);
      };
      await silently('ghost');
      await b.join('room', 'two', 'c2');
      await waitFor('the gap repaired at the next change', () => watcher.names() === '["ghost","one","two"]');
      await silently('phantom');
      await waitFor('a lost last change repaired by the heartbeat', () => watcher.names() === '["ghost","one","phantom","two"]', 3_000);
    } finally {
      await raw.close();
    }
  });

  it('RedisBroker that loses Redis while other nodes publish resumes from its last delivered id', async () => {
    const prefix = { keyPrefix: `resume${++prefixCount}:` };
    const link = await startRelay(redis.port);
    try {
      const a = await broker(redis.url, prefix);
      const b = await broker(link.url, prefix);
      const got = await collect(b, 'room');
      const acked = [(await a.publish('room', 'ann', 'first')).id];
      await waitFor('the first message', () => got.length === 1);

      link.cut();
      await waitFor('b degraded', () => b.state === 'degraded');
      await assert.rejects(b.publish('room', 'bob', 'lost'), Error);
      for (let i = 0; i < 5; i++) acked.push((await a.publish('room', 'ann', `while b is away ${i}`)).id);
      assert.deepEqual(got.map((m) => m.id), acked.slice(0, 1));

      link.restore();
      await b.whenReady(10_000);
      const marker = await b.publish('room', 'bob', 'back');
      await waitFor('the marker on b', () => got.at(-1)?.id === marker.id);
      assert.deepEqual(got.map((m) => m.id), [...acked, marker.id]);
    } finally {
      await link.close();
    }
  });

  it('RedisBroker reports messages trimmed before a node cut off from Redis could read them', async () => {
    const prefix = { keyPrefix: `gap${++prefixCount}:`, historySize: 1 };
    const link = await startRelay(redis.port);
    try {
      const a = await broker(redis.url, prefix);
      const b = await broker(link.url, prefix);
      const got = await collect(b, 'room');
      const first = await a.publish('room', 'ann', 'first');
      await waitFor('the first message', () => got.length === 1);
      link.cut();
      await waitFor('b degraded', () => b.state === 'degraded');
      // The stream keeps historySize + 1000 = 1001 entries: of these 1101, 'first' and 99 after it go.
      const burst = await Promise.all(Array.from({ length: 1_100 }, (_, i) => a.publish('room', 'ann', `burst ${i}`)));
      link.restore();
      await b.whenReady(10_000);
      await waitFor('the rest of the burst', () => got.at(-1)?.id === burst.at(-1)!.id);
      assert.equal(b.gaps, 1);
      assert.equal(a.gaps, 0);
      assert.deepEqual(got.map((m) => m.id), [first.id, ...burst.slice(99).map((m) => m.id)]);
      assert.ok(logs.some((line) => line.includes('fell more than 1001 messages behind in room "room"')));
    } finally {
      await link.close();
    }
  });

  it('RedisBroker removes the users of a SIGKILLed node within presenceTtlMs + heartbeatMs', async () => {
    const timing = { heartbeatMs: 100, presenceTtlMs: 500 };
    const keyPrefix = `kill${++prefixCount}:`;
    const watcher = await broker(redis.url, { keyPrefix, ...timing });
    await watcher.join('room', 'stays', 'w-1');
    const seen = await follow(watcher, 'room');

    const script = `
      import { RedisBroker } from ${JSON.stringify(brokerModule)};
      const b = new RedisBroker(${JSON.stringify({ url: redis.url, keyPrefix, ...timing })});
      await b.whenReady(5000);
      await b.join('room', 'doomed', 'c-1');
      await b.join('room', 'doomed', 'c-2');
      await b.join('room', 'also doomed', 'c-3');
      console.log('joined');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('joined') && resolve());
        child.once('exit', (code) => reject(new Error(`child broker exited with ${code}`)));
      });
      await waitFor('the child\'s users', () => seen.names() === '["also doomed","doomed","stays"]');
      const before = seen.changes.length;
      child.kill('SIGKILL');
      // The documented bound, plus a margin for scheduling.
      await waitFor('the killed node\'s users to leave', () => seen.names() === '["stays"]',
        timing.presenceTtlMs + timing.heartbeatMs + 1_000);
      const changes = seen.changes.slice(before).map((change) => ({ joined: change.joined, left: change.left.sort(compareNames) }));
      assert.deepEqual(changes, [{ joined: [], left: ['also doomed', 'doomed'] }], 'one change for the whole node');
      assert.deepEqual(await allUsers(watcher, 'room'), ['stays']);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('RedisBroker on a Redis Cluster node', { skip: redisSkip() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer({ cluster: true });
  });
  after(async () => {
    await redis?.dispose();
  });

  it('RedisBroker on a cluster node that serves no slots stays degraded, and says why in publish errors and its topology', async () => {
    const b = await broker(redis.url, { keyPrefix: `cluster${++prefixCount}:` }, false);
    await waitFor('the log line about the unusable cluster', () => logs.some((line) => line.includes('cluster_state:fail') && line.includes(String(redis.port))));
    assert.equal(b.state, 'degraded');
    await assert.rejects(b.publish('room', 'ann', 'hello'), (err: Error) => /cluster_state:fail, 0 of 16384 slots/.test(err.message));
    await assert.rejects(b.whenReady(300));
    const topology = b.topology();
    assert.equal(topology.mode, 'cluster');
    assert.match(topology.reason ?? '', /cluster_state:fail/);
    assert.deepEqual(topology.masters, []);
  });

  it('RedisBroker rejects a key prefix with a brace, which would break the rooms\' hash tags', () => {
    assert.throws(() => new RedisBroker({ url: redis.url, keyPrefix: 'chat{x}:' }), RangeError);
  });
});

describe('RedisBroker when Redis goes away', { skip: redisSkip() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer({ durable: true });
  });
  after(async () => {
    await Promise.all([...open].map((b) => b.close()));
    await redis?.dispose();
  });

  it('RedisBroker degrades, rejects publishes, then recovers without losing an acknowledged message', { timeout: 30_000 }, async () => {
    const prefix = { keyPrefix: `restart${++prefixCount}:`, heartbeatMs: 200, presenceTtlMs: 5_000 };
    const [a, b] = [await broker(redis.url, prefix), await broker(redis.url, prefix)];
    const got = await collect(b, 'room');
    await a.join('room', 'amy', 'a-1');
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) acked.push((await a.publish('room', 'amy', `before ${i}`)).id);

    // A crash, not a clean shutdown: only fsync'd writes survive.
    await redis.stop({ kill: true });
    await waitFor('both nodes degraded', () => a.state === 'degraded' && b.state === 'degraded');
    await assert.rejects(a.publish('room', 'amy', 'lost'), Error);
    await assert.rejects(a.history('room', { limit: 5 }));
    await b.join('room', 'ben', 'b-1'); // recorded locally, written after reconnect

    await redis.start();
    await a.whenReady(10_000);
    // b may still be reconnecting: its reader must resume from its last id.
    for (let i = 0; i < 5; i++) acked.push((await a.publish('room', 'amy', `after ${i}`)).id);
    await b.whenReady(10_000);
    await waitFor('every acknowledged message on b', () => got.length >= acked.length);
    const marker = await b.publish('room', 'ben', 'marker');
    await waitFor('the marker', () => got.at(-1)?.id === marker.id);

    assert.deepEqual(got.map((m) => m.id), [...acked, marker.id]);
    assert.deepEqual((await a.history('room', { limit: 100 })).map((m) => m.id), [...acked, marker.id]);
    await waitFor('presence rewritten on both nodes', async () => JSON.stringify(await allUsers(a, 'room')) === '["amy","ben"]');
    assert.ok(logs.some((line) => line.includes('unreachable') || line.includes('lost Redis')));
  });

  it('RedisBroker rejects a publish that Redis does not answer, instead of holding it forever', { timeout: 30_000 }, async () => {
    const b = await broker(redis.url, { keyPrefix: `frozen${++prefixCount}:` });
    redis.freeze(true);
    try {
      await assert.rejects(b.publish('room', 'ann', 'into the void'), Error);
    } finally {
      redis.freeze(false);
    }
    await b.publish('room', 'ann', 'thawed');
    assert.equal((await b.history('room', { limit: 1 }))[0]!.text, 'thawed');
  });

  it('RedisBroker started while Redis is down says so, rejects publishes and connects when Redis starts', { timeout: 30_000 }, async () => {
    await redis.stop();
    const before = logs.length;
    const b = await broker(redis.url, { keyPrefix: `down${++prefixCount}:` }, false);
    assert.equal(b.state, 'degraded');
    await assert.rejects(b.publish('room', 'ann', 'hello'), Error);
    await waitFor('a log line', () => logs.slice(before).some((line) => line.includes('unreachable')));
    await assert.rejects(b.whenReady(300), Error);

    await redis.start();
    await b.whenReady(10_000);
    const got = await collect(b, 'room');
    const sent = await b.publish('room', 'ann', 'hello');
    await waitFor('the message', () => got.length === 1);
    assert.equal(got[0]!.id, sent.id);
  });
});
