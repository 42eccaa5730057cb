import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { CloseCode } from '../src/constants.js';
import { MessageDeflater, MessageInflater, SYNC_DEFLATE_MAX, SYNC_INFLATE_MAX } from '../src/deflate.js';
import { ProtocolError } from '../src/errors.js';
import { FUZZ_SEED, fuzzRuns, hex, toHex } from 'wskit-testing/bytes';

const MiB = 1024 * 1024;

/** Run `fn` with fresh deflater/inflater pairs and always release their zlib memory. */
async function withPair<T>(
  windowBits: number,
  noContextTakeover: boolean,
  fn: (deflater: MessageDeflater, inflater: MessageInflater) => Promise<T>,
): Promise<T> {
  const deflater = new MessageDeflater(windowBits, noContextTakeover, 1);
  const inflater = new MessageInflater();
  try {
    return await fn(deflater, inflater);
  } finally {
    deflater.close();
    inflater.close();
  }
}

async function inflateOnce(data: Buffer, limit = MiB): Promise<Buffer> {
  const inflater = new MessageInflater();
  try {
    return await inflater.decompress(data, limit);
  } finally {
    inflater.close();
  }
}

function isProtocolError(closeCode: number) {
  return (err: unknown) => err instanceof ProtocolError && err.closeCode === closeCode;
}

test('MessageDeflater compresses "Hello" as in RFC 7692 §7.2.3.1, without the 00 00 ff ff tail', async () => {
  await withPair(15, false, async (deflater) => {
    assert.equal(toHex(await deflater.compress(Buffer.from('Hello'))), 'f2 48 cd c9 c9 07 00');
  });
});

test('MessageInflater decodes the RFC 7692 §7.2.3 examples: compressed, shared window, stored block', async () => {
  const inflater = new MessageInflater();
  try {
    assert.equal((await inflater.decompress(hex('f2 48 cd c9 c9 07 00'), 100)).toString(), 'Hello');
    // §7.2.3.2: the second "Hello" refers back into the first message's window.
    assert.equal((await inflater.decompress(hex('f2 00 11 00 00'), 100)).toString(), 'Hello');
    // §7.2.3.3: a stored (uncompressed) block.
    assert.equal((await inflater.decompress(hex('00 05 00 fa ff 48 65 6c 6c 6f 00'), 100)).toString(), 'Hello');
  } finally {
    inflater.close();
  }
});

test('MessageInflater goes on decoding after a message that ends its DEFLATE stream with BFINAL (RFC 7692 §7.2.3.4)', async () => {
  const inflater = new MessageInflater();
  try {
    // "Hello" in a block with BFINAL set: the peer's compressor ended its stream and starts a new one.
    assert.equal((await inflater.decompress(hex('f3 48 cd c9 c9 07 00'), 100)).toString(), 'Hello');
    assert.equal((await inflater.decompress(hex('f2 48 cd c9 c9 07 00'), 100)).toString(), 'Hello');
    assert.equal((await inflater.decompress(zlib.deflateRawSync(Buffer.from('third, with BFINAL')), 100)).toString(), 'third, with BFINAL');
    assert.equal((await inflater.decompress(hex('f2 48 cd c9 c9 07 00'), 100)).toString(), 'Hello');
  } finally {
    inflater.close();
  }
});

test('MessageDeflater and MessageInflater round-trip an empty message', async () => {
  await withPair(15, false, async (deflater, inflater) => {
    const compressed = await deflater.compress(Buffer.alloc(0));
    assert.ok(compressed.length > 0);
    assert.equal((await inflater.decompress(compressed, 100)).length, 0);
  });
});

test('MessageDeflater with context takeover refers back to earlier messages, so a repeat costs little', async () => {
  const message = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(20) + 'unique tail 1234567890');
  await withPair(15, false, async (deflater, inflater) => {
    const first = await deflater.compress(message);
    const second = await deflater.compress(message);
    assert.ok(second.length < first.length / 2, `second ${second.length} bytes vs first ${first.length}`);
    assert.deepEqual(await inflater.decompress(first, MiB), message);
    assert.deepEqual(await inflater.decompress(second, MiB), message);
  });
});

test('MessageDeflater without context takeover makes every message decodable on its own', async () => {
  const message = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(20) + 'unique tail 1234567890');
  await withPair(15, true, async (deflater, inflater) => {
    const outputs: Buffer[] = [];
    for (let i = 0; i < 3; i++) outputs.push(await deflater.compress(message));
    assert.deepEqual(outputs[1], outputs[0]);
    assert.deepEqual(outputs[2], outputs[0]);
    for (const out of outputs) {
      // A fresh inflater has no earlier window to lean on.
      assert.deepEqual(await inflateOnce(out), message);
      assert.deepEqual(await inflater.decompress(out, MiB), message);
    }
  });
});

test('MessageDeflater and MessageInflater round-trip random messages for every window size, with and without context takeover', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 9, max: 15 }),
      fc.boolean(),
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ maxLength: 200 }).map((s) => new Uint8Array(Buffer.from(s.repeat(5)))),
          fc.string({ minLength: 1, maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s.repeat(Math.ceil(3000 / s.length))))),
        ),
        { minLength: 1, maxLength: 6 },
      ),
      async (windowBits, noContextTakeover, messages) => {
        await withPair(windowBits, noContextTakeover, async (deflater, inflater) => {
          // Without context takeover each message stands alone, so the synchronous path decodes it too.
          const standalone = new MessageInflater(true);
          for (const message of messages) {
            const compressed = await deflater.compress(Buffer.from(message));
            assert.deepEqual(await inflater.decompress(compressed, message.length), Buffer.from(message));
            if (noContextTakeover) {
              assert.deepEqual(standalone.inflateNow(compressed, message.length), Buffer.from(message));
              // The on-the-spot path, with its window sized to the message, decodes the same.
              const now = deflater.compressNow(Buffer.from(message))!;
              assert.deepEqual(standalone.inflateNow(now, message.length), Buffer.from(message));
              assert.deepEqual(await inflater.decompress(now, message.length), Buffer.from(message));
            }
          }
        });
      },
    ),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(100) },
  );
});

test('MessageInflater accepts a message of exactly the limit and rejects one byte more with 1009', async () => {
  const compressed = zlib.deflateRawSync(Buffer.alloc(5000, 7), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.equal((await inflateOnce(compressed, 5000)).length, 5000);
  await assert.rejects(inflateOnce(compressed, 4999), isProtocolError(CloseCode.MessageTooBig));
});

test('MessageInflater rejects a compression bomb (100 MiB of zeros) with 1009 and stops inflating near the limit', async () => {
  const bomb = zlib.deflateRawSync(Buffer.alloc(100 * MiB), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.ok(bomb.length < 200 * 1024, `the bomb is ${bomb.length} bytes on the wire`);
  // Count what zlib produces: without the brake it would inflate all 100 MiB.
  let produced = 0;
  const proto = zlib.InflateRaw.prototype as unknown as { push(chunk: Buffer | null, encoding?: BufferEncoding): boolean };
  proto.push = function (this: Readable, chunk: Buffer | null, encoding?: BufferEncoding): boolean {
    if (chunk) produced += chunk.length;
    return Readable.prototype.push.call(this, chunk, encoding);
  };
  const inflater = new MessageInflater();
  try {
    await assert.rejects(inflater.decompress(bomb, MiB), isProtocolError(CloseCode.MessageTooBig));
    // Let zlib run on if it would.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(produced > MiB, `produced ${produced}`);
    assert.ok(produced < MiB + 512 * 1024, `zlib produced ${produced} bytes for a 1 MiB limit`);
    // The inflater is finished: later messages are refused too.
    await assert.rejects(inflater.decompress(hex('f2 48 cd c9 c9 07 00'), 100), isProtocolError(CloseCode.MessageTooBig));
  } finally {
    delete (proto as { push?: unknown }).push;
    inflater.close();
  }
});

test('MessageInflater rejects corrupt data with 1007', async () => {
  // BTYPE 11 is reserved (RFC 1951 §3.2.3).
  await assert.rejects(inflateOnce(hex('ff ff ff ff')), isProtocolError(CloseCode.InvalidPayloadData));
  // A stored block whose length and its complement disagree.
  await assert.rejects(inflateOnce(hex('00 05 00 00 00 48 65 6c 6c 6f')), isProtocolError(CloseCode.InvalidPayloadData));
});

test('MessageInflater refuses further messages after corrupt data', async () => {
  const inflater = new MessageInflater();
  try {
    await assert.rejects(inflater.decompress(hex('ff ff ff ff'), 100), isProtocolError(CloseCode.InvalidPayloadData));
    await assert.rejects(inflater.decompress(hex('f2 48 cd c9 c9 07 00'), 100), ProtocolError);
  } finally {
    inflater.close();
  }
});

test('MessageInflater.inflateNow takes only small messages of a peer that resets its context', async () => {
  const small = zlib.deflateRawSync(Buffer.from('hello hello hello'), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  assert.equal(new MessageInflater(false).inflateNow(small, MiB), null, 'a peer that keeps its context needs the stream');
  assert.equal(new MessageInflater(true).inflateNow(small, MiB)?.toString(), 'hello hello hello');
  const random = Buffer.from(Array.from({ length: SYNC_INFLATE_MAX * 2 }, (_, i) => (i * 7919) % 251));
  const large = zlib.deflateRawSync(random, { level: 0, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  assert.ok(large.length > SYNC_INFLATE_MAX);
  const inflater = new MessageInflater(true);
  assert.equal(inflater.inflateNow(large, MiB), null, 'a large message goes to the thread pool');
  try {
    assert.deepEqual(await inflater.decompress(large, MiB), random);
  } finally {
    inflater.close();
  }
});

test('MessageInflater.inflateNow holds the limit (1009, a bomb stopped at it) and refuses corrupt data (1007)', () => {
  const inflater = new MessageInflater(true);
  const exact = zlib.deflateRawSync(Buffer.alloc(5000, 7), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.equal(inflater.inflateNow(exact, 5000)?.length, 5000);
  assert.throws(() => inflater.inflateNow(exact, 4999), isProtocolError(CloseCode.MessageTooBig));
  // 16 MiB of zeros in under 16 KiB on the wire: stopped at the 1 MiB limit, not inflated whole.
  const bomb = zlib.deflateRawSync(Buffer.alloc(16 * MiB), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.ok(bomb.length <= SYNC_INFLATE_MAX, `the bomb is ${bomb.length} bytes`);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => inflater.inflateNow(bomb, MiB), isProtocolError(CloseCode.MessageTooBig));
  assert.ok(process.memoryUsage().arrayBuffers - before < 8 * MiB, 'the bomb was not inflated whole');
  assert.throws(() => inflater.inflateNow(hex('ff ff ff ff'), 100), isProtocolError(CloseCode.InvalidPayloadData));
});

test('MessageDeflater.compressNow compresses a small message on the spot only when every message stands alone', async () => {
  const message = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(40));
  const keeping = new MessageDeflater(15, false, 1);
  assert.equal(keeping.compressNow(message), null, 'with context takeover the stream must see every message');
  const resetting = new MessageDeflater(15, true, 1);
  const now = resetting.compressNow(message)!;
  assert.ok(now.length < message.length / 4, `${now.length} bytes`);
  assert.notDeepEqual(now.subarray(-4), hex('00 00 ff ff'), 'the sync-flush tail is removed');
  assert.deepEqual(await inflateOnce(now), message);
  assert.deepEqual(new MessageInflater(true).inflateNow(now, MiB), message);
  // The pool's output for the same message decodes the same way, and the two can alternate.
  assert.deepEqual(await inflateOnce(await resetting.compress(message)), message);
  assert.deepEqual(await inflateOnce(resetting.compressNow(message)!), message);
  assert.deepEqual(await inflateOnce(resetting.compressNow(Buffer.alloc(0))!), Buffer.alloc(0));
  assert.equal(resetting.compressNow(Buffer.alloc(SYNC_DEFLATE_MAX + 1)), null, 'a large message goes to the thread pool');
  resetting.close();
  keeping.close();
});

test('MessageDeflater closed while zlib is compressing rejects the message instead of crashing the process', async () => {
  // 8 MiB of scrambled bytes keeps zlib busy for tens of milliseconds, so the close lands mid-message.
  const big = Buffer.alloc(8 * MiB);
  for (let i = 0; i < big.length; i++) big[i] = ((i * 2654435761) >>> 24) & 0xff;
  for (const noContextTakeover of [true, false]) {
    const deflater = new MessageDeflater(15, noContextTakeover, 1);
    const compressing = deflater.compress(big);
    await new Promise((resolve) => setTimeout(resolve, 5));
    deflater.close();
    await assert.rejects(compressing, /Compressor closed/);
    await assert.rejects(deflater.compress(Buffer.from('after close')), /Compressor closed/);
  }
});
