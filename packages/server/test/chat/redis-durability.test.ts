// `--redis-replicas`: real redis-server primaries and replicas, chat apps on
// real sockets. What a message acknowledged with replicas > 0 survives.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { PublishRefusedError, compareIds, type ChatMessage } from '../../src/chat/broker.js';
import { idBefore } from '../../src/chat/hold-queue.js';
import { RESOLVE_GRACE_MS } from '../../src/chat/redis-durability.js';
import { ABORT_SCRIPT, COMMIT_SCRIPT, HOLD_PUBLISH_SCRIPT } from '../../src/chat/redis-durability-scripts.js';
import { RedisBroker, type RedisBrokerOptions } from '../../src/chat/redis-broker.js';
import { RedisKeys } from '../../src/chat/redis-keys.js';
import { redisCommand, redisSkip, startRedisServer, type RedisServer } from 'wskit-testing/redis-server';
import { startRelay } from 'wskit-testing/tcp-relay';
import { Peer, startChat, until, type ChatServer } from './harness.js';

/** Shorter than the default so that refusals come quickly. */
const WAIT_MS = 300;

const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
});

let prefixes = 0;
async function broker(url: string, options: Partial<RedisBrokerOptions> = {}): Promise<RedisBroker> {
  const b = new RedisBroker({ url, keyPrefix: `d${++prefixes}:`, replicas: 1, replicasTimeoutMs: WAIT_MS, log: () => {}, ...options });
  closers.push(() => b.close());
  await b.whenReady(5_000);
  return b;
}

async function chat(url: string, options: { timeoutMs?: number } = {}): Promise<ChatServer> {
  const server = await startChat({ redisUrl: url, redisReplicas: 1, redisReplicasTimeoutMs: options.timeoutMs ?? WAIT_MS, rateLimit: 0, historySize: 1000 });
  closers.push(() => server.stop());
  const deadline = Date.now() + 5_000;
  while (((await (await fetch(server.httpUrl('/healthz'))).json()) as { broker: string }).broker !== 'ready') {
    assert.ok(Date.now() < deadline, 'the chat node did not reach Redis within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return server;
}

async function peer(server: ChatServer, room: string, name: string, since?: string): Promise<Peer> {
  const p = await Peer.connect(server.wsUrl({ room, name, ...(since ? { since } : {}) }));
  closers.push(() => p.close());
  await p.waitFor(() => p.of('history').length === 1, `${name}'s history`);
  return p;
}

/** Entries of `key` on the server at `url`, by id. */
async function entries(url: string, key: string): Promise<Map<string, string[]>> {
  const client = createClient({ url });
  await client.connect();
  try {
    const reply = (await client.sendCommand(['XRANGE', key, '-', '+'])) as [string, string[]][];
    return new Map(reply.map(([id, fields]) => [id, fields]));
  } finally {
    client.destroy();
  }
}

describe('RedisBroker with replicas', { skip: redisSkip() }, () => {
  let primary: RedisServer;
  let replica: RedisServer;
  before(async () => {
    primary = await startRedisServer();
    replica = await startRedisServer({ replicaOf: primary.port });
    closers.push(() => primary.dispose(), () => replica.dispose());
  });

  it('RedisBroker with replicas 1 acknowledges a message only once the replica has it', async () => {
    const b = await broker(primary.url);
    const got: ChatMessage[] = [];
    await b.subscribe('room', (m) => got.push(m));
    for (let i = 0; i < 5; i++) {
      const message = await b.publish('room', 'ann', `m${i}`);
      // At the moment of the ack, the replica already holds the entry.
      const onReplica = await entries(replica.url, new RedisKeys(`d${prefixes}:`).stream('room'));
      assert.ok(onReplica.has(message.id), `the replica lacks ${message.id} at the ack`);
    }
    await until(() => got.length === 5, 'the five messages');
    assert.deepEqual(got.map((m) => m.text), ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.deepEqual((await b.history('room', { limit: 100 })).map((m) => m.text), ['m0', 'm1', 'm2', 'm3', 'm4']);
    const since = await b.history('room', { since: got[1]!.id, limit: 2 });
    assert.deepEqual(since.map((m) => m.text), ['m2', 'm3']);
    assert.equal(b.replicaWaitTimeouts(), 0);
  });

  it('RedisBroker with replicas 1 refuses a message the replica did not confirm, and shows it to no one', async () => {
    const prefix = `shared${++prefixes}:`;
    const [a, b] = [await broker(primary.url, { keyPrefix: prefix }), await broker(primary.url, { keyPrefix: prefix })];
    const seen: ChatMessage[] = [];
    await b.subscribe('room', (m) => seen.push(m));
    replica.freeze(true);
    try {
      await assert.rejects(a.publish('room', 'ann', 'lost'), PublishRefusedError);
    } finally {
      replica.freeze(false);
    }
    assert.equal(a.replicaWaitTimeouts(), 1);
    const kept = await a.publish('room', 'ann', 'kept');
    await until(() => seen.length > 0, 'the message after the refused one');
    assert.deepEqual(seen.map((m) => m.text), ['kept']);
    assert.deepEqual((await b.history('room', { limit: 100 })).map((m) => m.text), ['kept']);
    // The refused entry is gone from the stream itself, not just hidden.
    const stream = await entries(primary.url, new RedisKeys(prefix).stream('room'));
    assert.ok(![...stream.values()].some((fields) => fields.includes('lost')));
    assert.ok(stream.has(kept.id));
  });

  it('RedisBroker with replicas 1 does not hold a dead publisher\'s message forever: a later commit or the resolver releases it', async () => {
    const b = await broker(primary.url);
    const prefix = `d${prefixes}:`;
    const busy: ChatMessage[] = [];
    const quiet: ChatMessage[] = [];
    await b.subscribe('busy', (m) => busy.push(m));
    await b.subscribe('quiet', (m) => quiet.push(m));
    // A publisher that appended and died before its WAIT and commit.
    const raw = createClient({ url: primary.url });
    await raw.connect();
    closers.push(() => raw.close());
    for (const room of ['busy', 'quiet']) {
      await raw.sendCommand(['EVAL', HOLD_PUBLISH_SCRIPT, '1', new RedisKeys(prefix).stream(room), '2200', 'ghost', `orphan in ${room}`, '1']);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual([busy.length, quiet.length], [0, 0], 'an undecided message was shown');
    assert.deepEqual(await b.history('busy', { limit: 10 }), []);
    // Busy room: the next message's commit covers the orphan too (replication is in order).
    await b.publish('busy', 'ann', 'next');
    await until(() => busy.length === 2, 'the orphan and the next message');
    assert.deepEqual(busy.map((m) => m.text), ['orphan in busy', 'next']);
    // Quiet room: after the replica wait plus the grace, a node probes, WAITs and commits.
    await until(() => quiet.length === 1, 'the resolver to release the orphan', WAIT_MS + RESOLVE_GRACE_MS + 3_000);
    assert.deepEqual((await b.history('quiet', { limit: 10 })).map((m) => m.text), ['orphan in quiet']);
  });

  it('the abort script refuses to drop a message a commit already covers, and drops one none does', async () => {
    const raw = createClient({ url: primary.url });
    await raw.connect();
    closers.push(() => raw.close());
    const keys = ['2', `scripts${++prefixes}:room`, `scripts${prefixes}:commit`];
    const hold = async (text: string) => String(await raw.sendCommand(['EVAL', HOLD_PUBLISH_SCRIPT, '1', keys[1]!, '100', 'ann', text, '1']));
    const [first, second, third] = [await hold('a'), await hold('b'), await hold('c')];
    // Another publisher's WAIT confirmed `second`, so `first` (earlier, same primary) is confirmed too.
    assert.deepEqual(await raw.sendCommand(['EVAL', COMMIT_SCRIPT, ...keys, '100', second, second]), []);
    assert.equal(await raw.sendCommand(['EVAL', ABORT_SCRIPT, ...keys, '100', first]), 'committed');
    assert.equal(await raw.sendCommand(['EVAL', ABORT_SCRIPT, ...keys, '100', third]), 'aborted');
    assert.equal(await raw.sendCommand(['EVAL', ABORT_SCRIPT, ...keys, '100', third]), 'gone');
    // A commit reports which of its own ids are gone, and raises the frontier.
    assert.deepEqual(await raw.sendCommand(['EVAL', COMMIT_SCRIPT, ...keys, '100', third, third]), [third]);
    assert.equal(await raw.sendCommand(['GET', keys[2]!]), third);
    const stream = [...(await entries(primary.url, keys[1]!)).values()].map((fields) => `${fields[0]} ${fields[0] === 'hold' ? fields[5] : fields[1]}`);
    assert.deepEqual(stream, ['hold a', 'hold b', `commit ${second}`, `abort ${third}`, `commit ${third}`]);
  });

  it('RedisBroker rejects replica settings out of range', () => {
    assert.throws(() => new RedisBroker({ url: primary.url, replicas: -1 }), RangeError);
    assert.throws(() => new RedisBroker({ url: primary.url, replicas: 17 }), RangeError);
    assert.throws(() => new RedisBroker({ url: primary.url, replicas: 1, replicasTimeoutMs: 0 }), RangeError);
    assert.throws(() => new RedisBroker({ url: primary.url, replicas: 1, replicasTimeoutMs: 10_001 }), RangeError);
  });

  it('wskit chat with --redis-replicas 1: the sender sees its message only once the replica has it', async () => {
    const [one, two] = [await chat(primary.url), await chat(primary.url)];
    const ann = await peer(one, 'acked', 'ann');
    const ben = await peer(two, 'acked', 'ben');
    const onReplica: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      await ann.say(`hello ${i}`);
      await ann.waitMessages(i + 1);
      const id = ann.messages()[i]!.id;
      onReplica.push((await entries(replica.url, new RedisKeys('chat:').stream('acked'))).has(id));
    }
    assert.deepEqual(onReplica, [true, true, true]);
    await ben.waitMessages(3);
    assert.deepEqual(ben.texts(), ['hello 0', 'hello 1', 'hello 2']);
  });

  it('wskit chat with --redis-replicas 1: a replica that does not answer gets the sender an error frame, and no one the message', async () => {
    const [one, two] = [await chat(primary.url), await chat(primary.url)];
    const ann = await peer(one, 'stalled', 'ann');
    const ben = await peer(two, 'stalled', 'ben');
    replica.freeze(true);
    try {
      await ann.say('never shown');
      await ann.waitFor(() => ann.of('error').length === 1, 'the error frame', WAIT_MS + 3_000);
    } finally {
      replica.freeze(false);
    }
    assert.match(ann.of('error')[0]!.error, /replica wait/);
    const metrics = await (await fetch(one.httpUrl('/metrics'))).text();
    assert.match(metrics, /^wskit_chat_broker_replica_wait_timeouts_total [1-9]/m);
    // Publishing works again once the replica is back; the refused message never arrives anywhere.
    await ann.say('shown');
    await ben.waitMessages(1);
    await ann.waitMessages(1);
    assert.deepEqual(ben.texts(), ['shown']);
    assert.deepEqual(ann.texts(), ['shown']);
    const late = await peer(two, 'stalled', 'cat');
    assert.deepEqual(late.of('history')[0]!.messages.map((m) => m.text), ['shown']);
  });
});

describe('wskit chat with --redis-replicas 1 across a failover', { skip: redisSkip() }, () => {
  it('keeps every message whose id any client saw, and delivers again within 10 s on the promoted replica', async () => {
    const primary = await startRedisServer();
    // The replica replicates through a link the test can cut, so that it really falls behind.
    const link = await startRelay(primary.port);
    const replica = await startRedisServer({ replicaOf: link.port });
    closers.push(() => primary.dispose(), () => replica.dispose(), () => link.close());
    // The chat nodes reach Redis through one address that follows the
    // primary (in production a Sentinel-aware proxy, a virtual IP or DNS).
    const address = await startRelay(primary.port);
    closers.push(() => address.close());
    const [one, two] = [await chat(address.url, { timeoutMs: 500 }), await chat(address.url, { timeoutMs: 500 })];
    const watchers = [await peer(one, 'failover', 'watch one'), await peer(two, 'failover', 'watch two')];
    const senders = [await peer(one, 'failover', 'ann'), await peer(two, 'failover', 'ben')];

    let sent = 0;
    let sending = true;
    const sending$ = (async () => {
      while (sending) {
        await Promise.all(senders.map((s) => s.say(`m${++sent}`).catch(() => undefined)));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const seenIds = () => new Set([...watchers, ...senders].flatMap((p) => p.messages().map((m) => m.id)));
    await until(() => seenIds().size >= 40, '40 messages before the failover', 10_000);

    // The replica falls behind: from here on the primary's writes do not reach it, and are refused.
    link.cut();
    const refusals = () => senders.reduce((n, s) => n + s.of('error').filter((e) => /replica wait/.test(e.error)).length, 0);
    await new Promise((resolve) => setTimeout(resolve, 800));
    const refusedBeforeKill = refusals();
    // The primary dies; the replica is promoted and gets a replica of its own; the address follows it.
    await primary.stop({ kill: true });
    const killedAt = Date.now();
    const sentAtKill = sent;
    await redisCommand(replica.port, ['REPLICAOF', 'NO', 'ONE']);
    address.retarget(replica.port);
    const second = await startRedisServer({ replicaOf: replica.port });
    closers.push(() => second.dispose());

    const number = (m: ChatMessage) => Number(m.text.slice(1));
    for (const watcher of watchers) {
      await watcher.waitFor(() => watcher.messages().some((m) => number(m) > sentAtKill), 'a message sent after the failover', 10_000 - (Date.now() - killedAt));
    }
    const resumedMs = Date.now() - killedAt;
    sending = false;
    await sending$;
    assert.ok(resumedMs < 10_000, `delivery resumed after ${resumedMs} ms`);

    // Every id anyone saw is still there: in the new primary's history, read by a client joining now.
    await until(() => senders.every((s) => s.of('error').length + s.messages().length > 0), 'answers');
    const seen = [...seenIds()].sort(compareIds);
    const reader = await peer(one, 'failover', 'reader', idBefore(seen[0]!));
    const history = new Set(reader.of('history')[0]!.messages.map((m) => m.id));
    const missing = seen.filter((id) => !history.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${seen.length} seen ids are not in history after the failover`);
    assert.ok(refusedBeforeKill > 0, 'no message was refused while the replica was cut off');
    // And every watcher saw the messages in one order.
    for (const watcher of watchers) {
      const ids = watcher.messages().map((m) => m.id);
      assert.deepEqual(ids, [...ids].sort(compareIds));
    }
  });
});
