/**
 * Attack: slow readers. 100 clients join a busy room and never read; the
 * others keep chatting. Each stalled client's send queue fills (or a write
 * passes its deadline) and it is evicted, so the room never waits for it:
 * the readers get every message, in order. Afterwards the server's heap and
 * RSS (child process, measured after forced GCs) return near their baseline.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Bystander, Cleanups, connectionsSettle, tempDir } from '../helpers/attack-server.js';
import { openRaw, type RawClient } from '../helpers/raw-client.js';
import { startChildServer, type ChildServer } from '../helpers/server-child.js';

const MiB = 1024 * 1024;
const SLOW = 100;

let server: ChildServer;
const suite = new Cleanups();
before(async () => {
  server = await startChildServer({
    // The slow readers all come from 127.0.0.1: room for them beyond the per-address default of 64.
    maxConnectionsPerIp: SLOW * 2,
    chat: { dataDir: tempDir(suite), rateLimit: 0, writeWaitMs: 1000, historySize: 10 },
  });
  suite.after(() => server.stop().then(() => undefined));
});
after(() => suite.run());

test(`Attack: ${SLOW} clients that never read are evicted while others chat, and memory returns to its baseline`, { timeout: 60_000 }, async (t) => {
  const bystander = await Bystander.join(t, server.wsBase, 'busy');
  await bystander.check('warm-up');
  const connections = await server.connections();
  const baseline = await server.memory();

  const slow: RawClient[] = [];
  for (let i = 0; i < SLOW; i++) {
    const client = await openRaw(server.port, `/ws?room=busy&name=slow${i}`);
    client.socket.pause(); // never reads another byte
    slow.push(client);
  }
  t.after(() => slow.forEach((c) => c.destroy()));
  await bystander.bob.waitUsers(['alice', 'bob', ...Array.from({ length: SLOW }, (_, i) => `slow${i}`)].sort(), 10_000);

  // Alice chats 4 KB messages until every stalled client is gone (bounded).
  const text = (n: number) => `${n}:`.padEnd(4000, '.');
  const seen = bystander.bob.messages().length;
  let sent = 0;
  const started = Date.now();
  // A paused client cannot even see its socket close, so count from the server's side.
  let open = SLOW + connections.webSockets;
  while (open > connections.webSockets && sent < 10_000 && Date.now() - started < 30_000) {
    for (let i = 0; i < 20; i++) await bystander.alice.say(text(sent++));
    await new Promise((resolve) => setTimeout(resolve, 20));
    open = (await server.connections()).webSockets;
  }
  const evictedAfter = Date.now() - started;
  assert.equal(open, connections.webSockets, `all ${SLOW} stalled clients were evicted (${sent} messages sent, bob got ${bystander.bob.messages().length - seen}): ${(await server.log()).slice(-4).join(" / ")}`);
  const log = await server.log();
  // Each is logged once with the real reason: a full send queue or a write past its deadline, never a missing pong.
  const evicted = new Set(
    log.flatMap((l) => /chat: (?:evicting "(slow\d+)".*send queue full|dropping "(slow\d+)".*a write took over)/.exec(l)?.slice(1).filter(Boolean) ?? []),
  );
  assert.equal(evicted.size, SLOW, `evictions logged: ${evicted.size}`);
  assert.deepEqual(log.filter((l) => /dropping "slow\d+".*no pong/.test(l)), [], 'no stalled writer is blamed on a missing pong');
  t.diagnostic(`${SLOW} stalled clients evicted within ${evictedAfter} ms, after ${sent} messages of 4 KB`);

  // The readers got every message, in order, while the eviction went on.
  await bystander.bob.waitMessages(seen + sent, 15_000);
  const got = bystander.bob.messages().slice(seen).map((m) => Number(m.text.split(':')[0]));
  assert.deepEqual(got, Array.from({ length: sent }, (_, i) => i));
  await bystander.bob.waitUsers(['alice', 'bob']);
  await bystander.check('the eviction of stalled readers');

  await connectionsSettle(server, connections, 10_000);
  const end = await server.memory();
  t.diagnostic(
    `heap ${(baseline.heapUsed / MiB).toFixed(1)} → ${(end.heapUsed / MiB).toFixed(1)} MiB, RSS ${(baseline.rss / MiB).toFixed(1)} → ${(end.rss / MiB).toFixed(1)} MiB (peak ${(end.maxRss / MiB).toFixed(1)})`,
  );
  assert.ok(end.heapUsed - baseline.heapUsed < 8 * MiB, `heap stayed ${((end.heapUsed - baseline.heapUsed) / MiB).toFixed(1)} MiB above its baseline`);
  assert.ok(end.rss - baseline.rss < 48 * MiB, `RSS stayed ${((end.rss - baseline.rss) / MiB).toFixed(1)} MiB above its baseline`);
});
