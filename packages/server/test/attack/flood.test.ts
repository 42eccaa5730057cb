/**
 * Attack: floods and size bombs against `wskit serve` in a child process,
 * whose memory is measured after forced GCs (and its peak RSS, for the
 * bombs). A frame header announcing 1 GiB and a permessage-deflate bomb are
 * closed with 1009 without the server allocating them, and so is a message
 * of endless empty fragments once it passes the fragment limit; a chat
 * client sending as fast as it can is held to the rate limit; an /echo
 * client that sends as fast as it can and never reads is held back by
 * backpressure. The server's memory stays flat and the bystanders keep
 * echoing and chatting.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createDeflateRaw } from 'node:zlib';
import { Bystander, Cleanups, tempDir } from '../helpers/attack-server.js';
import { buildFrame, openRaw, type RawClient } from '../helpers/raw-client.js';
import { startChildServer, type ChildServer, type MemorySample } from '../helpers/server-child.js';

const MiB = 1024 * 1024;
const RATE = 20;
const BURST = 40;

let server: ChildServer;
let bystander: Bystander;
let baseline: MemorySample;
const suite = new Cleanups();
before(async () => {
  server = await startChildServer({ chat: { dataDir: tempDir(suite), rateLimit: RATE, rateBurst: BURST } });
  suite.after(() => server.stop().then(() => undefined));
  bystander = await Bystander.join(suite, server.wsBase);
  await bystander.check('warm-up');
  baseline = await server.memory();
});
after(() => suite.run());

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** A deflate stream of `size` zero bytes, ended by a sync flush without its 4-byte tail (RFC 7692 §7.2.1). */
async function deflateBomb(size: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < size / MiB; i++) deflate.write(zeros);
  await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
  deflate.close();
  const out = Buffer.concat(chunks);
  return out.subarray(0, out.length - 4);
}

/** Writes `chunk` as fast as the socket takes it until `ms` pass; returns the bytes handed to the socket. */
async function pump(client: RawClient, chunk: Buffer, ms: number): Promise<number> {
  const stop = Date.now() + ms;
  let written = 0;
  while (Date.now() < stop && !client.isEnded) {
    written += chunk.length;
    if (!client.socket.write(chunk)) {
      // Backpressure: wait for the socket to drain, but never past the end of the attack.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          client.socket.off('drain', done);
          client.socket.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, stop - Date.now()));
        client.socket.once('drain', done);
        client.socket.once('close', done);
      });
    }
  }
  return written;
}

for (const [path, limit] of [
  ['/echo', '16 MiB'],
  ['/ws?room=bystanders&name=bomber', '64 KiB'],
  ['/add', '64 KiB'],
] as const) {
  test(`Attack: a frame header announcing 1 GiB on ${path.split('?')[0]} is closed with 1009 (limit ${limit}) without allocating it`, async () => {
    const attacker = await openRaw(server.port, path);
    try {
      attacker.send(buildFrame({ opcode: 0x2, length: 1024 * MiB }));
      const close = await attacker.closeFrame();
      assert.equal(close.code, 1009);
      await attacker.waitEnd();
    } finally {
      attacker.destroy();
    }
    const now = await server.memory();
    assert.ok(now.maxRss - baseline.maxRss < 32 * MiB, `peak RSS rose by ${mib(now.maxRss - baseline.maxRss)}`);
    await bystander.check(`a 1 GiB header on ${path}`);
  });
}

test('Attack: fragments whose headers add up to more than the limit are closed with 1009 at the fragment that crosses it', async () => {
  const attacker = await openRaw(server.port, '/ws?room=bystanders&name=bomber');
  try {
    attacker.sendFrame({ opcode: 0x1, fin: false, payload: Buffer.alloc(40 * 1024, 0x61) });
    attacker.send(buildFrame({ opcode: 0x0, fin: false, length: 40 * 1024 }).subarray(0, 8));
    assert.equal((await attacker.closeFrame()).code, 1009);
  } finally {
    attacker.destroy();
  }
  await bystander.check('fragments over the limit');
});

for (const [path, limit] of [
  ['/ws?room=bystanders&name=fragmenter', 16 * 1024],
  ['/echo', 16 * MiB / 64],
] as const) {
  test(`Attack: a message of endless empty fragments on ${path.split('?')[0]} is closed with 1009 after ${limit} fragments`, async (t) => {
    const attacker = await openRaw(server.port, path);
    const empty = buildFrame({ opcode: 0x0, fin: false });
    const start = Date.now();
    try {
      attacker.sendFrame({ opcode: 0x1, fin: false });
      // One more than the limit, in writes of 16,384 frames: the last one crosses it.
      for (let sent = 1; sent <= limit; sent += 16 * 1024) {
        attacker.send(Buffer.concat(Array.from({ length: Math.min(16 * 1024, limit + 1 - sent) }, () => empty)));
      }
      const close = await attacker.closeFrame(10_000);
      assert.equal(close.code, 1009);
      await attacker.waitEnd();
    } finally {
      attacker.destroy();
    }
    t.diagnostic(`${limit + 1} frames, ${(limit + 1) * empty.length} bytes, closed in ${Date.now() - start} ms`);
    await bystander.check(`a flood of empty fragments on ${path}`);
  });
}

test('Attack: a permessage-deflate bomb (256 MiB of zeros in a few hundred KiB) is closed with 1009 and never inflated whole', async (t) => {
  const bomb = await deflateBomb(256 * MiB);
  t.diagnostic(`bomb: ${bomb.length} bytes inflating to 256 MiB`);
  const before = await server.memory();
  const attacker = await openRaw(server.port, '/echo', { extra: [['sec-websocket-extensions', 'permessage-deflate']] });
  try {
    attacker.sendFrame({ opcode: 0x2, rsv1: true, payload: bomb });
    const close = await attacker.closeFrame(10_000);
    assert.equal(close.code, 1009);
    await attacker.waitEnd();
  } finally {
    attacker.destroy();
  }
  const now = await server.memory();
  // The inflater stops at the 16 MiB limit: the peak may rise by about that, never by 256 MiB.
  assert.ok(now.maxRss - before.maxRss < 96 * MiB, `peak RSS rose by ${mib(now.maxRss - before.maxRss)}`);
  assert.ok(now.rss - baseline.rss < 48 * MiB, `RSS after the bomb is ${mib(now.rss - baseline.rss)} over the baseline`);
  t.diagnostic(`peak RSS +${mib(now.maxRss - before.maxRss)}, RSS now +${mib(now.rss - baseline.rss)}`);
  await bystander.check('a compression bomb');
});

test('Attack: a chat client sending as fast as it can is held to the rate limit; the room is not flooded and memory stays flat', async (t) => {
  const FLOOD_MS = 3000;
  const flooder = await openRaw(server.port, '/ws?room=bystanders&name=flooder');
  let rateErrors = 0;
  let closeCode = 0;
  flooder.onFrame = (frame) => {
    if (frame.opcode === 0x1 && frame.payload.includes('Rate limit')) rateErrors++;
    if (frame.opcode === 0x8) closeCode = frame.payload.readUInt16BE(0);
  };
  const seen = bystander.bob.messages().length;
  // 100 messages per write: the socket is always full.
  const burst = Buffer.concat(Array.from({ length: 100 }, (_, i) => buildFrame({ opcode: 0x1, payload: JSON.stringify({ type: 'message', text: `flood ${i}` }) })));
  const samples: MemorySample[] = [];
  const sampler = setInterval(() => void server.memory().then((m) => samples.push(m)), 750);
  const started = Date.now();
  let written: number;
  try {
    const pumping = pump(flooder, burst, FLOOD_MS);
    await new Promise((resolve) => setTimeout(resolve, FLOOD_MS / 2));
    await bystander.check('mid-flood');
    written = await pumping;
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  await bystander.check('the chat flood');
  const published = bystander.bob.messages().slice(seen).filter((m) => m.from === 'flooder').length;
  const sent = Math.round(written / (burst.length / 100));
  t.diagnostic(
    `flooder wrote ${sent} messages in ${seconds.toFixed(1)} s; ${published} published, ${rateErrors} rate-limit errors` +
      (closeCode ? `; then evicted with ${closeCode} for not reading its error frames fast enough` : ''),
  );
  // Refused messages are answered with error frames; a flooder that cannot read them all is evicted (1008).
  assert.ok(closeCode === 0 || closeCode === 1008, `flooder closed with ${closeCode}`);
  assert.ok(published >= BURST, `the burst of ${BURST} passes (${published})`);
  assert.ok(published <= BURST + RATE * (seconds + 1), `${published} published in ${seconds.toFixed(1)} s: over the rate limit`);
  assert.ok(rateErrors > 0, 'the flooder was told about the rate limit');
  assert.ok(sent > 10 * published, `the flood was real (${sent} sent)`);
  const peak = Math.max(...samples.map((m) => m.rss));
  assert.ok(peak - baseline.rss < 64 * MiB, `RSS peaked ${mib(peak - baseline.rss)} over the baseline during the flood`);
  flooder.destroy();
});

test('Attack: an /echo client that sends as fast as it can and never reads is held back by backpressure; memory stays flat', async (t) => {
  const FLOOD_MS = 3000;
  const flooder = await openRaw(server.port, '/echo');
  flooder.socket.pause(); // never reads the echoes
  const chunk = buildFrame({ opcode: 0x2, payload: Buffer.alloc(64 * 1024, 0x5a) });
  const samples: MemorySample[] = [];
  const sampler = setInterval(() => void server.memory().then((m) => samples.push(m)), 750);
  let written: number;
  try {
    const pumping = pump(flooder, chunk, FLOOD_MS);
    await new Promise((resolve) => setTimeout(resolve, FLOOD_MS / 2));
    await bystander.check('mid-echo-flood');
    written = await pumping;
  } finally {
    clearInterval(sampler);
  }
  // What the socket took is bounded by buffers (kernel, the server's 1 MiB read and write buffers), not by time.
  const taken = written - flooder.socket.writableLength;
  t.diagnostic(`an unread /echo flood pushed ${mib(taken)} in ${FLOOD_MS} ms before backpressure held it`);
  assert.ok(taken < 128 * MiB, `${mib(taken)} went through: backpressure did not hold`);
  const peak = Math.max(...samples.map((m) => m.rss));
  assert.ok(peak - baseline.rss < 64 * MiB, `RSS peaked ${mib(peak - baseline.rss)} over the baseline during the flood`);
  flooder.destroy();
  await bystander.check('the echo flood');
});

test('Attack: a chat client sending at ten times the rate limit for 3 s gets only the burst and the rate through, the rest refused with a reason', async (t) => {
  const flooder = await openRaw(server.port, '/ws?room=bystanders&name=spammer');
  let rateErrors = 0;
  flooder.onFrame = (frame) => {
    if (frame.opcode === 0x1 && frame.payload.includes('Rate limit')) rateErrors++;
  };
  const seen = bystander.bob.messages().length;
  const started = Date.now();
  let sent = 0;
  // 200 messages a second, 10 per 50 ms tick.
  while (Date.now() - started < 3000) {
    for (let i = 0; i < 10; i++) flooder.sendFrame({ opcode: 0x1, payload: JSON.stringify({ type: 'message', text: `spam ${sent++}` }) });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (Date.now() - started) / 1000;
  await bystander.check('the spam');
  const published = bystander.bob.messages().slice(seen).filter((m) => m.from === 'spammer').length;
  t.diagnostic(`spammer sent ${sent} in ${seconds.toFixed(1)} s: ${published} published, ${rateErrors} refused`);
  assert.ok(published >= BURST + RATE * (seconds - 1), `${published} published: the limit let too few through`);
  assert.ok(published <= BURST + RATE * (seconds + 1), `${published} published: over the rate limit`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(published + rateErrors, sent, 'every message was either published or refused with an error frame');
  assert.equal(flooder.isEnded, false, 'a client that reads its error frames is not evicted');
  flooder.destroy();
});
