/**
 * Category 1, framing: text and binary messages of every length encoding
 * (7-bit, 16-bit, 64-bit and their edges), echoed exactly.
 */
import { OP } from '../fuzzer.js';
import { bytes, text } from './payloads.js';
import type { ConformanceCase } from './types.js';

const SIZES = [0, 1, 125, 126, 127, 128, 65535, 65536, 65537];

function echoCases(group: string, type: 'text' | 'binary'): ConformanceCase[] {
  const make = type === 'text' ? text : bytes;
  const cases: ConformanceCase[] = SIZES.map((size, i) => ({
    id: `1.${group}.${i + 1}`,
    title: `${type} message of ${size} bytes is echoed`,
    async run(f) {
      const payload = make(size, i + 1);
      await f.sendMessage(type, payload);
      await f.expectMessage(type, payload);
      await f.closeNormally();
    },
  }));
  cases.push({
    id: `1.${group}.${SIZES.length + 1}`,
    title: `${type} message of 65536 bytes written in 997-byte chops is echoed`,
    async run(f) {
      const payload = make(65536, 99);
      await f.sendMessage(type, payload, { chop: 997 });
      await f.expectMessage(type, payload);
      await f.closeNormally();
    },
  });
  return cases;
}

/** The framing cases. */
export const framingCases: ConformanceCase[] = [
  ...echoCases('1', 'text'),
  ...echoCases('2', 'binary'),
  {
    id: '1.3.1',
    title: 'text then binary then text on one connection keep their types',
    async run(f) {
      await f.send(OP.TEXT, 'first');
      await f.send(OP.BINARY, Buffer.from([0, 1, 2, 0xff]));
      await f.send(OP.TEXT, 'third');
      await f.expectMessage('text', 'first');
      await f.expectMessage('binary', Buffer.from([0, 1, 2, 0xff]));
      await f.expectMessage('text', 'third');
      await f.closeNormally();
    },
  },
  {
    id: '1.3.2',
    title: 'a 125-byte payload sent with a 16-bit length field (non-minimal) is accepted',
    async run(f) {
      // RFC 6455 §5.2 asks senders for the minimal length form; receivers are not told to reject others.
      const payload = text(125, 7);
      // FIN + text, then the 16-bit length form (126) carrying 125, then key and payload.
      const masked = f.role === 'client';
      const head = Buffer.from([0x81, (masked ? 0x80 : 0) | 126, 0, 125]);
      const key = Buffer.from([1, 2, 3, 4]);
      const body = Buffer.from(payload);
      if (masked) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
      await f.sendRaw(Buffer.concat(masked ? [head, key, body] : [head, body]));
      await f.expectMessage('text', payload);
      await f.closeNormally();
    },
  },
];
