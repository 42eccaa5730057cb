/**
 * Attack: hostile chat input. Names and rooms with HTML, control
 * characters, bidi overrides, lone surrogates or too many characters are
 * refused with 400 and a clear reason; message texts with HTML and control
 * characters are stored and sent back exactly, as JSON strings (the page
 * shows them as text: test/browser), while lone surrogates, over-long texts
 * and malformed frames get an error frame with the reason and the
 * connection stays open. Oversized frames are closed with 1009.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { dial, HandshakeError } from 'wskit';
import { Peer } from '../chat/harness.js';
import { Bystander, Cleanups, startTarget, until, type AttackTarget } from '../helpers/attack-server.js';
import { buildFrame, openRaw } from '../helpers/raw-client.js';

let target: AttackTarget;
let bystander: Bystander;
const suite = new Cleanups();
before(async () => {
  target = await startTarget(suite, { chat: { rateLimit: 0 } });
  bystander = await Bystander.join(suite, target.wsBase);
});
after(() => suite.run());

async function joinStatus(room: string, name: string): Promise<{ status: number; body: string }> {
  const query = new URLSearchParams({ room, name });
  try {
    const { conn } = await dial(`${target.wsBase}/ws?${query}`);
    await conn.close();
    return { status: 101, body: '' };
  } catch (err) {
    if (err instanceof HandshakeError) return { status: err.status, body: err.body };
    throw err;
  }
}

const BAD_LABELS: [string, string, RegExp][] = [
  ['HTML in a name', '<script>alert(1)</script>', /Invalid name/],
  ['an attribute break-out in a name', '" onmouseover="alert(1)', /Invalid name/],
  ['a NUL in a name', 'eve\u0000admin', /Invalid name/],
  ['an ANSI escape in a name', '\u001b[31mred', /Invalid name/],
  ['a newline in a name (log injection)', 'eve\nchat: open "admin"', /Invalid name/],
  ['a right-to-left override in a name', 'eve\u202egnp.exe', /Invalid name/],
  ['a zero-width joiner in a name', 'ad\u200dmin', /Invalid name/],
  ['a lone surrogate in a name', 'eve\ud800', /Invalid name/],
  ['65 characters in a name', 'n'.repeat(65), /65 characters, over the limit of 64/],
  ['8,000 characters in a name', 'n'.repeat(8000), /8000 characters, over the limit of 64/],
  ['leading space in a name', ' eve', /Invalid name/],
];

for (const [what, name, reason] of BAD_LABELS) {
  test(`Attack: ${what} is refused with 400 and a reason`, async () => {
    const { status, body } = await joinStatus('lobby', name);
    assert.equal(status, 400);
    assert.match(body, reason);
    await bystander.check(what);
  });
}

for (const [what, room] of [
  ['HTML in a room', '<img src=x onerror=alert(1)>'],
  ['a path in a room', '../../etc/passwd'],
  ['a control character in a room', 'lobby\u0007'],
  ['65 characters in a room', 'r'.repeat(65)],
] as const) {
  test(`Attack: ${what} is refused with 400 and a reason`, async () => {
    const { status, body } = await joinStatus(room, 'eve');
    assert.equal(status, 400);
    assert.match(body, /room/);
    await bystander.check(what);
  });
}

test('Chat input: names of any script, with combining marks and inner spaces, are accepted as given', async () => {
  for (const name of ['José', 'Zoe\u0308', '李小龍', 'Ada Lovelace', 'n'.repeat(64)]) {
    assert.equal((await joinStatus('lobby', name)).status, 101, name);
  }
});

const STORED_TEXTS: [string, string][] = [
  ['HTML and script', '<script>alert(document.cookie)</script><img src=x onerror=alert(1)>'],
  ['a JSON break-out attempt', '","type":"presence","users":["admin"]}'],
  ['control characters and an ANSI escape', 'a\u0000b\u0007c\u001b[2Jd\r\ne\u007f'],
  ['bidi overrides and zero-width characters', 'abc\u202edef\u200b\u2066ghi'],
  ['a valid surrogate pair (emoji)', 'ok 👍🏽 🇫🇷'],
  ['exactly 4,096 bytes', 'é'.repeat(2048)],
];

for (const [what, text] of STORED_TEXTS) {
  test(`Attack: a message with ${what} is stored and delivered exactly, as a JSON string`, async () => {
    const before = bystander.bob.messages().length;
    await bystander.alice.say(text);
    await bystander.bob.waitMessages(before + 1);
    const got = bystander.bob.messages().at(-1)!;
    assert.equal(got.text, text);
    assert.equal(got.from, 'alice');
    // Stored: a newcomer gets it in history, byte for byte.
    const newcomer = await Peer.connect(`${target.wsBase}/ws?room=bystanders&name=newcomer`);
    try {
      await until(() => newcomer.of('history').length > 0, 'history');
      const stored = newcomer.of('history')[0]!.messages.find((m) => m.id === got.id);
      assert.equal(stored?.text, text);
    } finally {
      await newcomer.close();
    }
    await bystander.check(what);
  });
}

test('Attack: raw message frames with HTML are sent as escaped JSON, never as markup or raw control bytes', async () => {
  const raw = await openRaw(target.port, '/ws?room=bystanders&name=mallory');
  try {
    const text = '</script><b>x</b>\u0000\u001b';
    raw.sendFrame({ opcode: 0x1, payload: JSON.stringify({ type: 'message', text }) });
    for (;;) {
      const frame = await raw.frame();
      if (frame.opcode !== 0x1) continue;
      const json = frame.payload.toString('utf8');
      const parsed = JSON.parse(json) as { type: string; text?: string };
      if (parsed.type !== 'message') continue;
      assert.equal(parsed.text, text);
      assert.ok(!/[\u0000-\u001f]/.test(json), 'control characters are escaped in the JSON frame');
      break;
    }
  } finally {
    raw.destroy();
  }
  await bystander.check('raw HTML frames');
});

const REFUSED_FRAMES: [string, string | Buffer, RegExp][] = [
  ['a lone surrogate in a message text', '{"type":"message","text":"bad \\ud800 half"}', /lone UTF-16 surrogate/],
  ['a reversed surrogate pair', '{"type":"message","text":"\\udc00\\ud800"}', /lone UTF-16 surrogate/],
  ['a text of 4,097 bytes', JSON.stringify({ type: 'message', text: 'x'.repeat(4097) }), /4097 bytes, over the limit of 4096/],
  ['an empty text', '{"type":"message","text":""}', /empty/],
  ['a text that is not a string', '{"type":"message","text":{"html":"<b>"}}', /must be a string/],
  ['a frame that is not JSON', '<html>', /not JSON/],
  ['a JSON array', '[1,2,3]', /JSON object/],
  ['an unknown frame type', '{"type":"presence","users":["admin"]}', /unknown type "presence"/],
  ['a prototype-pollution attempt', '{"type":"message","text":"hi","__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}', /^$/],
  ['a binary frame', Buffer.from([0xde, 0xad, 0xbe, 0xef]), /Binary messages are not supported/],
];

for (const [what, payload, reason] of REFUSED_FRAMES) {
  test(`Attack: ${what} ${reason.source === '^$' ? 'does no harm' : 'gets an error frame with the reason'}, and the connection stays open`, async () => {
    const mallory = await Peer.connect(`${target.wsBase}/ws?room=bystanders&name=mallory`);
    try {
      await until(() => mallory.users()?.includes('mallory') === true, 'mallory joined');
      const errors = mallory.of('error').length;
      const messages = bystander.bob.messages().length;
      await mallory.conn.write(typeof payload === 'string' ? 'text' : 'binary', payload);
      if (reason.source === '^$') {
        // Accepted as a plain message; extra keys are ignored and nothing is polluted.
        await bystander.bob.waitMessages(messages + 1);
        assert.equal(bystander.bob.messages().at(-1)!.text, 'hi');
        assert.equal(({} as Record<string, unknown>)['admin'], undefined);
      } else {
        await until(() => mallory.of('error').length > errors, 'an error frame');
        assert.match(mallory.of('error').at(-1)!.error, reason);
      }
      // Still connected and able to chat.
      await mallory.say('still here');
      await until(() => mallory.texts().includes('still here'), 'mallory\'s own message');
    } finally {
      await mallory.close();
    }
    await bystander.check(what);
  });
}

test('Attack: a 100 KiB chat frame (over the 64 KiB message limit) is closed with 1009 before it is stored', async () => {
  const raw = await openRaw(target.port, '/ws?room=bystanders&name=mallory');
  try {
    raw.sendFrame({ opcode: 0x1, payload: JSON.stringify({ type: 'message', text: 'x'.repeat(100 * 1024) }) });
    const close = await raw.closeFrame();
    assert.equal(close.code, 1009);
    await raw.waitEnd();
  } finally {
    raw.destroy();
  }
  // A header alone announcing 100 KiB is refused the same way.
  const announced = await openRaw(target.port, '/ws?room=bystanders&name=mallory');
  try {
    announced.send(buildFrame({ opcode: 0x1, length: 100 * 1024 }));
    assert.equal((await announced.closeFrame()).code, 1009);
  } finally {
    announced.destroy();
  }
  await bystander.check('an oversized chat frame');
});
