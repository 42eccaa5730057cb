import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage } from '../../src/chat/broker.js';
import { EmbeddedBroker } from '../../src/chat/embedded-broker.js';
import { Hub, type HubMember } from '../../src/chat/hub.js';
import type { ServerFrame } from '../../src/chat/messages.js';

/** A member that records every frame it is sent, decoded. */
class FakeMember implements HubMember<string> {
  static next = 0;
  readonly id = `m${FakeMember.next++}`;
  readonly frames: ServerFrame[] = [];
  constructor(
    readonly room: string,
    readonly name: string,
  ) {}
  send(frame: string): void {
    this.frames.push(JSON.parse(frame) as ServerFrame);
  }
  of<T extends ServerFrame['type']>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);
  }
  texts(): string[] {
    return this.of('message').map((m) => m.text);
  }
}

function setup(t: { after: (fn: () => Promise<void>) => void }, historySize = 100) {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chat-hub-'));
  const broker = new EmbeddedBroker({ dataDir: dir, historySize });
  let encodes = 0;
  const hub = new Hub<string>({
    broker,
    historySize,
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
  assert.deepEqual(a.of('presence').at(-1)?.users, ['ada']);
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

test('Hub sends presence to every member on join and leave, and to a newcomer whose name is already online', async (t) => {
  const { hub } = setup(t);
  const ada = new FakeMember('r', 'ada');
  const bob = new FakeMember('r', 'bob');
  const ada2 = new FakeMember('r', 'ada');
  await hub.join(ada);
  assert.deepEqual(ada.of('presence').map((p) => p.users), [['ada']]);
  await hub.join(bob);
  assert.deepEqual(ada.of('presence').at(-1)!.users, ['ada', 'bob']);
  assert.deepEqual(bob.of('presence').map((p) => p.users), [['ada', 'bob']]);
  await hub.join(ada2);
  assert.deepEqual(ada2.of('presence').map((p) => p.users), [['ada', 'bob']], 'the second tab learns who is here');
  await hub.leave(bob);
  assert.deepEqual(ada.of('presence').at(-1)!.users, ['ada']);
  assert.deepEqual(ada2.of('presence').at(-1)!.users, ['ada']);
  await hub.leave(ada);
  assert.deepEqual(ada2.of('presence').at(-1)!.users, ['ada'], 'ada is still online in the second tab');
  await hub.leave(ada2);
  assert.equal(hub.roomCount, 0);
  assert.equal(hub.memberCount, 0);
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
  assert.deepEqual(await broker.users('r'), []);
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
