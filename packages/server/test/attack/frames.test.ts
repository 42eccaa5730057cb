/**
 * Attack: malformed frames of every kind, hand-built on a raw socket and sent
 * to `/echo` and `/ws`. Each gets its RFC 6455 close code and the TCP
 * connection is closed, while the bystanders keep echoing and chatting.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Bystander, Cleanups, connectionsSettle, startTarget, type AttackTarget } from '../helpers/attack-server.js';
import { closePayload, openRaw, type FrameSpec } from '../helpers/raw-client.js';

let target: AttackTarget;
let bystander: Bystander;
let baseline: { tcp: number; webSockets: number };

const suite = new Cleanups();
before(async () => {
  target = await startTarget(suite);
  bystander = await Bystander.join(suite, target.wsBase);
  baseline = await target.connections();
});
after(() => suite.run());

interface Case {
  attack: string;
  frames: FrameSpec[];
  code: number;
}

const utf8Euro = Buffer.from('€'); // e2 82 ac
const CASES: Case[] = [
  { attack: 'unknown data opcode 0x3', frames: [{ opcode: 0x3, payload: 'x' }], code: 1002 },
  { attack: 'unknown data opcode 0x7', frames: [{ opcode: 0x7 }], code: 1002 },
  { attack: 'unknown control opcode 0xB', frames: [{ opcode: 0xb }], code: 1002 },
  { attack: 'unknown control opcode 0xF', frames: [{ opcode: 0xf, payload: 'x' }], code: 1002 },
  { attack: 'RSV1 set with no extension negotiated', frames: [{ opcode: 0x1, rsv1: true, payload: 'hi' }], code: 1002 },
  { attack: 'RSV2 set', frames: [{ opcode: 0x2, rsv2: true, payload: 'hi' }], code: 1002 },
  { attack: 'RSV3 set on a ping', frames: [{ opcode: 0x9, rsv3: true }], code: 1002 },
  { attack: 'unmasked client text frame', frames: [{ opcode: 0x1, mask: false, payload: 'hello' }], code: 1002 },
  { attack: 'unmasked client close frame', frames: [{ opcode: 0x8, mask: false, payload: closePayload(1000) }], code: 1002 },
  { attack: 'ping with 126 bytes (control frame over 125)', frames: [{ opcode: 0x9, payload: Buffer.alloc(126, 1) }], code: 1002 },
  { attack: 'close frame with a 200-byte payload', frames: [{ opcode: 0x8, payload: Buffer.alloc(200, 0x61), length: 200 }], code: 1002 },
  { attack: 'fragmented ping (FIN clear)', frames: [{ opcode: 0x9, fin: false, payload: 'a' }, { opcode: 0x0, payload: 'b' }], code: 1002 },
  { attack: 'fragmented close (FIN clear)', frames: [{ opcode: 0x8, fin: false, payload: closePayload(1000) }], code: 1002 },
  { attack: 'continuation frame with no message started', frames: [{ opcode: 0x0, payload: 'orphan' }], code: 1002 },
  { attack: 'final continuation with no message started', frames: [{ opcode: 0x0, fin: true }], code: 1002 },
  {
    attack: 'new text message inside a fragmented one',
    frames: [{ opcode: 0x1, fin: false, payload: 'part one ' }, { opcode: 0x1, payload: 'intruder' }],
    code: 1002,
  },
  {
    attack: 'new binary message inside a fragmented text',
    frames: [{ opcode: 0x1, fin: false, payload: 'a' }, { opcode: 0x0, fin: false, payload: 'b' }, { opcode: 0x2, payload: 'c' }],
    code: 1002,
  },
  { attack: '64-bit length with the top bit set', frames: [{ opcode: 0x2, length: 0x8000_0000_0000_0001n, lengthForm: 64 }], code: 1002 },
  { attack: '64-bit length 2^64-1', frames: [{ opcode: 0x1, length: 0xffff_ffff_ffff_ffffn, lengthForm: 64 }], code: 1002 },
  { attack: 'invalid UTF-8 in a text frame (0xff)', frames: [{ opcode: 0x1, payload: Buffer.from([0x61, 0xff, 0x62]) }], code: 1007 },
  { attack: 'overlong UTF-8 encoding of "/" (c0 af)', frames: [{ opcode: 0x1, payload: Buffer.from([0xc0, 0xaf]) }], code: 1007 },
  { attack: 'UTF-8-encoded surrogate U+D800 (ed a0 80)', frames: [{ opcode: 0x1, payload: Buffer.from([0xed, 0xa0, 0x80]) }], code: 1007 },
  { attack: 'code point above U+10FFFF (f4 90 80 80)', frames: [{ opcode: 0x1, payload: Buffer.from([0xf4, 0x90, 0x80, 0x80]) }], code: 1007 },
  {
    attack: 'invalid UTF-8 split across fragments (e2 82 | 28)',
    frames: [{ opcode: 0x1, fin: false, payload: utf8Euro.subarray(0, 2) }, { opcode: 0x0, payload: Buffer.from([0x28]) }],
    code: 1007,
  },
  {
    attack: 'text message ending inside a UTF-8 sequence',
    frames: [{ opcode: 0x1, fin: false, payload: 'ok ' }, { opcode: 0x0, payload: utf8Euro.subarray(0, 2) }],
    code: 1007,
  },
  { attack: 'invalid UTF-8 in a close reason', frames: [{ opcode: 0x8, payload: closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd])) }], code: 1007 },
  { attack: 'lone continuation byte in a close reason', frames: [{ opcode: 0x8, payload: closePayload(1001, Buffer.from([0x80])) }], code: 1007 },
  { attack: 'close frame with a 1-byte payload', frames: [{ opcode: 0x8, payload: Buffer.from([0x03]) }], code: 1002 },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((code) => ({
    attack: `close frame with invalid close code ${code}`,
    frames: [{ opcode: 0x8, payload: closePayload(code) }],
    code: 1002,
  })),
];

for (const { attack, frames, code } of CASES) {
  test(`Attack: ${attack} on /echo is closed with ${code}, and bystanders still echo and chat`, async () => {
    const attacker = await openRaw(target.port, '/echo');
    try {
      for (const frame of frames) attacker.sendFrame(frame);
      const close = await attacker.closeFrame();
      assert.equal(close.code, code, `close code for ${attack} (reason: ${close.reason})`);
      await attacker.waitEnd();
    } finally {
      attacker.destroy();
    }
    await bystander.check(attack);
  });
}

// The same core guards the chat route: a sample of the cases on /ws.
for (const { attack, frames, code } of CASES.filter((_, i) => i % 4 === 0)) {
  test(`Attack: ${attack} on /ws is closed with ${code}, and the room carries on`, async () => {
    const attacker = await openRaw(target.port, '/ws?room=bystanders&name=mallory');
    try {
      await bystander.alice.waitUsers(['alice', 'bob', 'mallory']);
      for (const frame of frames) attacker.sendFrame(frame);
      const close = await attacker.closeFrame();
      assert.equal(close.code, code, `close code for ${attack} (reason: ${close.reason})`);
      await attacker.waitEnd();
      await bystander.alice.waitUsers(['alice', 'bob']);
    } finally {
      attacker.destroy();
    }
    await bystander.check(attack);
  });
}

test('Legal edge cases are not attacks: a ping between fragments and a code point split across frames echo intact', async () => {
  const client = await openRaw(target.port, '/echo');
  try {
    client.sendFrame({ opcode: 0x1, fin: false, payload: Buffer.concat([Buffer.from('price '), utf8Euro.subarray(0, 1)]) });
    client.sendFrame({ opcode: 0x9, payload: 'mid' });
    client.sendFrame({ opcode: 0x0, fin: false, payload: utf8Euro.subarray(1, 2) });
    client.sendFrame({ opcode: 0x0, payload: Buffer.concat([utf8Euro.subarray(2), Buffer.from('5')]) });
    const pong = await client.frame();
    assert.deepEqual([pong.opcode, pong.payload.toString()], [0xa, 'mid']);
    const echo = await client.frame();
    assert.deepEqual([echo.opcode, echo.payload.toString()], [0x1, 'price €5']);
    client.sendFrame({ opcode: 0x8, payload: closePayload(4000, 'done') });
    const close = await client.closeFrame();
    assert.equal(close.code, 4000);
    await client.waitEnd();
  } finally {
    client.destroy();
  }
  await bystander.check('legal edge cases');
});

test('Attack aftermath: every attacking socket was released (TCP and WebSocket counts back to baseline)', async () => {
  const settled = await connectionsSettle(target, baseline);
  assert.ok(settled.webSockets <= baseline.webSockets);
  await bystander.check('all frame attacks');
});
