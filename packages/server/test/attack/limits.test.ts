/**
 * Attack: exhausting connections and rooms. Beyond the server-wide
 * WebSocket limit (across /add, /echo and /ws) an upgrade gets 503 with a
 * reason and Retry-After; beyond the room limit a join to a new room gets
 * 503; those already in keep being served, and a freed slot is usable again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dial, type Conn } from 'wskit';
import { CHAT_DEFAULTS } from '../../src/chat/index.js';
import { Bystander, connectionsSettle, startTarget, until } from '../helpers/attack-server.js';
import { refusal } from '../chat/harness.js';
import { rawRequest, upgradeRequest } from '../helpers/raw-client.js';

test('Connection limits have bounded, documented defaults', () => {
  assert.equal(CHAT_DEFAULTS.maxConnections, 10_000);
  assert.equal(CHAT_DEFAULTS.maxRooms, 10_000);
});

test('Attack: connection exhaustion, beyond the server-wide limit every WebSocket route answers 503 and the bystanders carry on', async (t) => {
  const target = await startTarget(t, { maxConnections: 6, chat: { maxConnections: 100 } });
  const bystander = await Bystander.join(t, target.wsBase); // 3 connections
  const filler: Conn[] = [];
  for (const path of ['/add', '/echo', '/ws?room=fill&name=filler']) filler.push((await dial(`${target.wsBase}${path}`)).conn);
  t.after(() => filler.forEach((c) => c.terminate()));
  assert.equal((await target.connections()).webSockets, 6);

  for (const path of ['/add', '/echo', '/ws?room=more&name=late']) {
    const err = await refusal(`${target.wsBase}${path}`);
    assert.equal(err.status, 503, path);
    assert.match(err.body, /Too many connections: 6 open, the limit is 6/);
    assert.equal(err.headers['retry-after'], '5');
  }
  // A burst of raw upgrades beyond the limit: each answered 503 and closed.
  const burst = await Promise.all(Array.from({ length: 100 }, () => rawRequest(target.port, upgradeRequest('/echo').text)));
  assert.ok(burst.every((r) => r.status === 503));
  await bystander.check('connection exhaustion');

  // Freeing one slot lets the next client in.
  await filler.shift()!.close();
  await until(() => target.logLines.some((l) => l.startsWith('close /add')), 'the /add close');
  await connectionsSettle(target, { tcp: 5, webSockets: 5 });
  const { conn } = await dial(`${target.wsBase}/echo`);
  await conn.write('text', 'in again');
  assert.equal((await conn.read()).data.toString(), 'in again');
  await conn.close();
});

test('Attack: connection exhaustion with only --max-connections set, the chat limit also bounds /add and /echo', async (t) => {
  // One source of truth: the chat's maxConnections (the --max-connections flag) is the server-wide default.
  const target = await startTarget(t, { chat: { maxConnections: 4 } });
  const bystander = await Bystander.join(t, target.wsBase); // 3 connections
  const { conn: fourth } = await dial(`${target.wsBase}/add`);
  t.after(() => fourth.terminate());
  for (const path of ['/add', '/echo', '/ws?room=bystanders&name=carol']) {
    const err = await refusal(`${target.wsBase}${path}`);
    assert.equal(err.status, 503, path);
    assert.match(err.body, /Too many connections/);
  }
  await bystander.check('the --max-connections limit');
});

test('Attack: room exhaustion, joining a new room beyond the room limit gets 503 while existing rooms stay open', async (t) => {
  const target = await startTarget(t, { chat: { maxRooms: 2 } });
  const bystander = await Bystander.join(t, target.wsBase); // room 1
  const { conn: second } = await dial(`${target.wsBase}/ws?room=second&name=sam`); // room 2
  t.after(() => second.terminate());
  for (let i = 0; i < 20; i++) {
    const err = await refusal(`${target.wsBase}/ws?room=spam${i}&name=mallory`);
    assert.equal(err.status, 503);
    assert.match(err.body, /Too many rooms: 2 active, the limit is 2/);
  }
  // Joining a room that exists is not a new room.
  const { conn: third } = await dial(`${target.wsBase}/ws?room=second&name=tess`);
  await third.close();
  await bystander.check('room exhaustion');
  // When a room empties, its slot is free again.
  await second.close();
  await until(() => target.logLines.some((l) => l.includes('chat: close "sam"')), 'sam leaving');
  const { conn: fresh } = await dial(`${target.wsBase}/ws?room=fresh&name=finn`);
  await fresh.close();
});
