import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage } from '../../src/chat/broker.js';
import { EmbeddedBroker } from '../../src/chat/embedded-broker.js';
import { Hub, type HubMember } from '../../src/chat/hub.js';
import type { ServerFrame } from '../../src/chat/messages.js';
import { PresenceView } from './harness.js';

/** A member that records every frame it is sent, decoded, and follows presence as a client would. */
class FakeMember implements HubMember<string> {
  static next = 0;
  readonly id = `m${FakeMember.next++}`;
  readonly frames: ServerFrame[] = [];
  readonly presence = new PresenceView();
  constructor(
    readonly room: string,
    readonly name: string,
  ) {}
  send(frame: string): void {
    const decoded = JSON.parse(frame) as ServerFrame;
    this.frames.push(decoded);
    if (decoded.type === 'presence') this.presence.apply(decoded);
  }
  of<T extends ServerFrame['type']>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);
  }
  texts(): string[] {
    return this.of('message').map((m) => m.text);
  }
}

const INTERVAL = 250;

function setup(t: { after: (fn: () => Promise<void>) => void }, historySize = 100, presenceMaxUsers = 1000) {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chat-hub-'));
  const broker = new EmbeddedBroker({ dataDir: dir, historySize });
  let encodes = 0;
  const hub = new Hub<string>({
    broker,
    historySize,
    presenceIntervalMs: INTERVAL,
    presenceMaxUsers,
    encode: (json) => {
      encodes++;
      return json;
    },
  });
  t.after(async () => {
    await hub.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { hub, broker, encodes: () => encodes };
}

test('Hub delivers every message to every member of the room, sender included, once and in the same order', async (t) => {
  const { hub, encodes } = setup(t);
  const members = Array.from({ length: 20 }, (_, i) => new FakeMember('lobby', `u${i}`));
  for (const m of members) await hub.join(m);
  const before = encodes();
  const sends = [];
  for (let i = 0; i < 100; i++) sends.push(hub.publish(members[i % members.length]!, `t${i}`));
  await Promise.all(sends);
  const expected = Array.from({ length: 100 }, (_, i) => `t${i}`);
  for (const m of members) assert.deepEqual(m.texts(), expected, m.name);
  assert.equal(encodes() - before, 100, 'each message is encoded once for all 20 members');
});

test('Hub keeps rooms isolated', async (t) => {
  const { hub } = setup(t);
  const a = new FakeMember('a', 'ada');
  const b = new FakeMember('b', 'bob');
  await hub.join(a);
  await hub.join(b);
  await hub.publish(a, 'for a');
  await hub.publish(b, 'for b');
  assert.deepEqual(a.texts(), ['for a']);
  assert.deepEqual(b.texts(), ['for b']);
  assert.deepEqual(a.presence.users(), ['ada']);
});

test('Hub sends history first: the last N, or exactly the messages after since', async (t) => {
  const { hub } = setup(t, 5);
  const writer = new FakeMember('r', 'w');
  await hub.join(writer);
  const sent: ChatMessage[] = [];
  for (let i = 0; i < 8; i++) sent.push(await hub.publish(writer, `m${i}`));

  const late = new FakeMember('r', 'late');
  await hub.join(late);
  assert.equal(late.frames[0]?.type, 'history');
  assert.deepEqual(late.of('history')[0]!.messages.map((m) => m.text), ['m3', 'm4', 'm5', 'm6', 'm7']);

  const resumed = new FakeMember('r', 'resumed');
  await hub.join(resumed, sent[5]!.id);
  assert.deepEqual(resumed.of('history')[0]!.messages, sent.slice(6));
});

test('Hub neither loses nor doubles messages published while a newcomer reads history', async (t) => {
  const { hub, broker } = setup(t);
  const writer = new FakeMember('r', 'w');
  await hub.join(writer);
  await hub.publish(writer, 'before');
  // Publish one message after the subscription is live but before history
  // is read (it is in both), and one while history is on its way back.
  const history = broker.history.bind(broker);
  broker.history = async (room, options) => {
    await broker.publish(room, 'w', 'during');
    const result = await history(room, options);
    await broker.publish(room, 'w', 'after');
    return result;
  };
  const newcomer = new FakeMember('r', 'n');
  await hub.join(newcomer);
  const history0 = newcomer.of('history')[0]!.messages.map((m) => m.text);
  assert.deepEqual([...history0, ...newcomer.texts()], ['before', 'during', 'after']);
  assert.deepEqual(writer.texts(), ['before', 'during', 'after']);
});

test('Hub reads and encodes history once for the joins between two messages, and again after one', async (t) => {
  const { hub, broker } = setup(t);
  let reads = 0;
  const history = broker.history.bind(broker);
  broker.history = (room, options) => {
    reads++;
    return history(room, options);
  };
  const first = new FakeMember('r', 'first');
  await hub.join(first);
  await hub.publish(first, 'one');
  const a = new FakeMember('r', 'a');
  const b = new FakeMember('r', 'b');
  await hub.join(a);
  await hub.join(b);
  assert.equal(reads, 2, 'a and b share one read');
  await hub.publish(first, 'two');
  const c = new FakeMember('r', 'c');
  await hub.join(c);
  const resumed = new FakeMember('r', 'resumed');
  await hub.join(resumed, first.of('message')[0]!.id);
  assert.equal(reads, 4, 'a message, and a join with since, read again');
  assert.deepEqual(c.of('history')[0]!.messages.map((m) => m.text), ['one', 'two']);
  assert.deepEqual(resumed.of('history')[0]!.messages.map((m) => m.text), ['two']);
  await hub.publish(first, 'three');
  for (const m of [a, b, c]) assert.deepEqual([...m.of('history')[0]!.messages.map((x) => x.text), ...m.texts()].slice(-3), ['one', 'two', 'three'], m.name);
  assert.deepEqual(c.texts(), ['three'], 'nothing twice');
});

test('Hub sends a newcomer history then a snapshot, then changes at most once per interval', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { hub } = setup(t);
  const [ada, bob, carl] = ['ada', 'bob', 'carl'].map((name) => new FakeMember('r', name)) as [FakeMember, FakeMember, FakeMember];
  await hub.join(ada);
  assert.deepEqual(ada.frames.map((f) => f.type), ['history', 'presence']);
  assert.deepEqual(ada.frames[1], { type: 'presence', room: 'r', users: ['ada'] }, 'the snapshot lists the newcomer itself');
  await hub.join(bob);
  await hub.join(carl);
  assert.deepEqual(bob.of('presence'), [{ type: 'presence', room: 'r', users: ['ada', 'bob'] }]);
  assert.deepEqual(carl.of('presence'), [{ type: 'presence', room: 'r', users: ['ada', 'bob', 'carl'] }]);
  assert.equal(ada.of('presence').length, 1, 'nothing is sent before the interval ends');

  t.mock.timers.tick(INTERVAL);
  assert.deepEqual(ada.of('presence').slice(1), [{ type: 'presence', room: 'r', joined: ['bob', 'carl'], left: [] }]);
  assert.deepEqual(bob.of('presence').slice(1), [{ type: 'presence', room: 'r', joined: ['carl'], left: [] }], 'only what bob\'s snapshot lacked');
  assert.equal(carl.of('presence').length, 1, 'carl\'s snapshot already listed everyone');

  await hub.leave(bob);
  t.mock.timers.tick(INTERVAL - 1);
  assert.equal(ada.of('presence').length, 2);
  t.mock.timers.tick(1);
  assert.deepEqual(ada.of('presence').at(-1), { type: 'presence', room: 'r', joined: [], left: ['bob'] });
  for (const m of [ada, carl]) {
    assert.deepEqual(m.presence.users(), ['ada', 'carl'], m.name);
    assert.deepEqual(m.presence.errors, [], m.name);
  }
});

test('Hub coalesces a join and a leave inside one interval into nothing', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { hub } = setup(t);
  const ada = new FakeMember('r', 'ada');
  await hub.join(ada);
  t.mock.timers.tick(INTERVAL);
  const quick = new FakeMember('r', 'quick');
  await hub.join(quick);
  await hub.leave(quick);
  t.mock.timers.tick(INTERVAL);
  const later = new FakeMember('r', 'later');
  await hub.join(later);
  t.mock.timers.tick(INTERVAL);
  assert.deepEqual(ada.of('presence').slice(1), [{ type: 'presence', room: 'r', joined: ['later'], left: [] }]);
  assert.ok(!JSON.stringify(ada.frames).includes('quick'), 'quick appears in no frame');

  // Within one interval, a leave and a join back of the same name are no change either.
  await hub.leave(later);
  const back = new FakeMember('r', 'later');
  await hub.join(back);
  t.mock.timers.tick(INTERVAL);
  assert.equal(ada.of('presence').length, 2);
  assert.deepEqual(ada.presence.users(), ['ada', 'later']);
  assert.deepEqual(ada.presence.errors, []);
});

test('Hub lists a name with two connections once, until its last connection leaves', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { hub } = setup(t);
  const ada = new FakeMember('r', 'ada');
  const bob = new FakeMember('r', 'bob');
  await hub.join(ada);
  await hub.join(bob);
  t.mock.timers.tick(INTERVAL);
  const ada2 = new FakeMember('r', 'ada');
  await hub.join(ada2);
  assert.deepEqual(ada2.of('presence'), [{ type: 'presence', room: 'r', users: ['ada', 'bob'] }], 'the second tab learns who is here');
  t.mock.timers.tick(INTERVAL);
  await hub.leave(ada);
  t.mock.timers.tick(INTERVAL);
  assert.equal(bob.of('presence').length, 1, 'neither the second tab nor the first one leaving changed the names');
  assert.deepEqual(ada2.presence.users(), ['ada', 'bob'], 'ada is still online in the second tab');
  await hub.leave(ada2);
  t.mock.timers.tick(INTERVAL);
  assert.deepEqual(bob.of('presence').at(-1), { type: 'presence', room: 'r', joined: [], left: ['ada'] });
  await hub.leave(bob);
  assert.equal(hub.roomCount, 0);
  assert.equal(hub.memberCount, 0);
});

test('Hub switches a room to counts above presenceMaxUsers and back to names, one frame per member each way', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { hub } = setup(t, 100, 2);
  const [ada, bob, carl, dave] = ['ada', 'bob', 'carl', 'dave'].map((name) => new FakeMember('r', name)) as [FakeMember, FakeMember, FakeMember, FakeMember];
  await hub.join(ada);
  await hub.join(bob);
  t.mock.timers.tick(INTERVAL);
  assert.deepEqual(ada.presence.users(), ['ada', 'bob']);

  await hub.join(carl);
  assert.deepEqual(carl.of('presence'), [{ type: 'presence', room: 'r', count: 3 }], 'a newcomer above the threshold gets a count');
  t.mock.timers.tick(INTERVAL);
  for (const m of [ada, bob]) assert.deepEqual(m.of('presence').at(-1), { type: 'presence', room: 'r', count: 3 }, m.name);
  assert.equal(carl.of('presence').length, 1, 'carl already has the count');

  await hub.join(dave);
  t.mock.timers.tick(INTERVAL);
  for (const m of [ada, bob, carl]) assert.deepEqual(m.of('presence').at(-1), { type: 'presence', room: 'r', count: 4 }, m.name);

  const before = new Map([ada, bob].map((m) => [m, m.of('presence').length]));
  await hub.leave(dave);
  await hub.leave(carl);
  t.mock.timers.tick(INTERVAL);
  for (const m of [ada, bob]) {
    assert.equal(m.of('presence').length, before.get(m)! + 1, `${m.name} got one frame`);
    assert.deepEqual(m.of('presence').at(-1), { type: 'presence', room: 'r', users: ['ada', 'bob'] }, m.name);
    assert.deepEqual(m.presence.errors, [], m.name);
  }
});

test('Hub.users pages the names of a room for who and the HTTP route', async (t) => {
  const { hub } = setup(t);
  const members = ['d', 'a', 'c', 'b', 'e'].map((name) => new FakeMember('r', name));
  for (const m of members) await hub.join(m);
  assert.deepEqual(await hub.users('r', { limit: 2 }), { users: ['a', 'b'], next: 'b', count: 5 });
  assert.deepEqual(await hub.users('r', { after: 'b', limit: 2 }), { users: ['c', 'd'], next: 'd', count: 5 });
  assert.deepEqual(await hub.users('r', { after: 'd', limit: 2 }), { users: ['e'], next: null, count: 5 });
  assert.deepEqual(await hub.users('elsewhere', { limit: 2 }), { users: [], next: null, count: 0 });
});

test('Hub sends nothing to a member that left while joining, and drops the empty room', async (t) => {
  const { hub, broker } = setup(t);
  const member = new FakeMember('r', 'gone');
  const history = broker.history.bind(broker);
  let leaving: Promise<void> | undefined;
  broker.history = async (room, options) => {
    leaving = hub.leave(member);
    return history(room, options);
  };
  await hub.join(member);
  await leaving;
  assert.deepEqual(member.frames, []);
  assert.equal(hub.roomCount, 0);
  assert.equal((await broker.users('r', { limit: 10 })).count, 0);
});

test('Hub.join rejects and leaves no member behind when history fails', async (t) => {
  const { hub, broker } = setup(t);
  broker.history = async () => {
    throw new Error('disk gone');
  };
  const member = new FakeMember('r', 'x');
  await assert.rejects(hub.join(member), /disk gone/);
  assert.equal(hub.memberCount, 0);
  assert.equal(hub.roomCount, 0);
});
