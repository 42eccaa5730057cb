/**
 * Category 9, limits and performance: large messages and messages of very
 * many small fragments up to the 16 MiB limit are echoed (4 MiB in 64-byte
 * fragments is within the fragment limit of one per 64 bytes); one byte
 * over the limit fails with 1009, announced in a header or reached by
 * fragments, before the oversized payload has been sent, and so does one
 * fragment over the fragment limit, even an empty one.
 */
import type { Fuzzer } from '../fuzzer.js';
import { OP } from '../fuzzer.js';
import { bytes, text } from './payloads.js';
import { type ConformanceCase, FRAGMENT_LIMIT, LIMIT } from './types.js';

const KiB = 1024;
const MiB = 1024 * 1024;

function sizeLabel(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`;
}

/** One payload per size and type, made once: the big ones are costly to build. */
const cache = new Map<string, Buffer>();
function payload(type: 'text' | 'binary', size: number): Buffer {
  const key = `${type}:${size}`;
  let p = cache.get(key);
  if (!p) {
    p = type === 'text' ? text(size, 9) : bytes(size, 9);
    cache.set(key, p);
  }
  return p;
}

function echo(id: string, type: 'text' | 'binary', size: number, fragmentSize = 0, chop = 0): ConformanceCase {
  const how = fragmentSize > 0 ? ` in ${sizeLabel(fragmentSize)} fragments` : chop > 0 ? ` written in ${chop}-byte chops` : '';
  return {
    id,
    title: `${type} message of ${sizeLabel(size)}${how} is echoed`,
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      const data = payload(type, size);
      await f.sendMessage(type, data, { fragmentSize, chop });
      await f.expectMessage(type, data);
      await f.closeNormally();
    },
  };
}

async function roundTrips(f: Fuzzer, type: 'text' | 'binary', size: number, count: number): Promise<void> {
  const data = payload(type, size);
  for (let i = 0; i < count; i++) {
    await f.sendMessage(type, data);
    await f.expectMessage(type, data);
  }
  await f.closeNormally();
}

/** The limit cases. */
export const limitCases: ConformanceCase[] = [
  echo('9.1.1', 'text', 64 * KiB),
  echo('9.1.2', 'text', 256 * KiB),
  echo('9.1.3', 'text', 1 * MiB),
  echo('9.1.4', 'text', 4 * MiB),
  echo('9.1.6', 'text', LIMIT),
  echo('9.2.1', 'binary', 64 * KiB),
  echo('9.2.3', 'binary', 1 * MiB),
  echo('9.2.6', 'binary', LIMIT),
  echo('9.3.1', 'text', 4 * MiB, 64),
  echo('9.3.3', 'text', 4 * MiB, 1 * KiB),
  echo('9.3.6', 'text', 4 * MiB, 64 * KiB),
  echo('9.3.9', 'text', 4 * MiB, 4 * MiB),
  echo('9.4.1', 'binary', 4 * MiB, 64),
  echo('9.4.4', 'binary', 4 * MiB, 4 * KiB),
  echo('9.4.7', 'binary', 4 * MiB, 1 * MiB),
  echo('9.5.1', 'text', 1 * MiB, 0, 64 * KiB),
  echo('9.6.1', 'binary', 1 * MiB, 0, 4 * KiB),
  {
    id: '9.7.1',
    title: '1000 text messages of 16 bytes, each echoed before the next',
    timeoutMs: 20_000,
    run: (f) => roundTrips(f, 'text', 16, 1000),
  },
  {
    id: '9.8.1',
    title: '1000 binary messages of 1 KiB, each echoed before the next',
    timeoutMs: 20_000,
    run: (f) => roundTrips(f, 'binary', 1 * KiB, 1000),
  },
  {
    id: '9.9.1',
    title: 'a frame announcing the limit plus one byte fails with 1009 before its payload is sent',
    async run(f) {
      // Only the header goes out: the announced length alone must be refused.
      const masked = f.role === 'client';
      const head = Buffer.alloc(10);
      head[0] = 0x82;
      head[1] = (masked ? 0x80 : 0) | 127;
      head.writeUInt32BE(0, 2);
      head.writeUInt32BE(LIMIT + 1, 6);
      await f.sendRaw(masked ? Buffer.concat([head, Buffer.from([1, 2, 3, 4])]) : head);
      await f.expectClose(1009);
    },
  },
  {
    id: '9.9.2',
    title: 'fragments adding up to the limit plus one byte fail with 1009',
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      const piece = payload('binary', MiB);
      await f.send(OP.BINARY, piece, { fin: false });
      for (let i = 1; i < LIMIT / MiB; i++) await f.send(OP.CONT, piece, { fin: false });
      await f.send(OP.CONT, Buffer.from([0x42]));
      await f.expectClose(1009);
    },
  },
  {
    id: '9.9.3',
    title: 'a frame announcing 2^63-1 bytes fails with 1009',
    async run(f) {
      const masked = f.role === 'client';
      const head = Buffer.from([0x82, (masked ? 0x80 : 0) | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      await f.sendRaw(masked ? Buffer.concat([head, Buffer.from([1, 2, 3, 4])]) : head);
      await f.expectClose(1009);
    },
  },
  {
    id: '9.9.4',
    title: 'a 64-bit length with its most significant bit set fails with 1002',
    async run(f) {
      const masked = f.role === 'client';
      const head = Buffer.from([0x82, (masked ? 0x80 : 0) | 127, 0x80, 0, 0, 0, 0, 0, 0, 5]);
      await f.sendRaw(masked ? Buffer.concat([head, Buffer.from([1, 2, 3, 4])]) : head);
      await f.expectClose(1002);
    },
  },
  {
    id: '9.9.5',
    title: 'a binary message over the limit in 64-byte fragments fails with 1009 once it passes the limit',
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      // 16 MiB of 64-byte fragments is 262144 frames: send them in batches, then one too many.
      const chunk = payload('binary', 64);
      const batch: Buffer[] = [];
      await f.send(OP.BINARY, chunk, { fin: false });
      for (let i = 1; i < LIMIT / 64; i++) {
        batch.push(f.frame(OP.CONT, chunk, { fin: false }));
        if (batch.length === 16384) await f.sendRaw(Buffer.concat(batch.splice(0)));
      }
      await f.sendRaw(Buffer.concat(batch.splice(0)));
      await f.send(OP.CONT, chunk);
      await f.expectClose(1009);
    },
  },
  {
    id: '9.9.6',
    title: `a message of more empty fragments than the fragment limit (${FRAGMENT_LIMIT}) fails with 1009`,
    timeoutMs: 30_000,
    async run(f) {
      f.timeoutMs = 20_000;
      // Empty fragments cost the receiver no memory: only their count stops the message.
      const empty = f.frame(OP.CONT, '', { fin: false });
      await f.send(OP.TEXT, '', { fin: false });
      await f.sendRaw(Buffer.concat(Array.from({ length: FRAGMENT_LIMIT }, () => empty)));
      await f.expectClose(1009);
    },
  },
];
