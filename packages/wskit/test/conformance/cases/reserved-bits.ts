/**
 * Category 3, reserved bits (RFC 6455 §5.2): with no extension agreed, a
 * frame with RSV1, RSV2 or RSV3 set fails the connection with 1002. Data
 * sent before it is still echoed; a ping sent after it is not answered.
 */
import type { Fuzzer } from '../fuzzer.js';
import { OP } from '../fuzzer.js';
import type { FrameBits } from '../wire.js';
import type { ConformanceCase } from './types.js';

async function echoThenViolate(f: Fuzzer, opcode: number, payload: string, bits: FrameBits, chop = 0): Promise<void> {
  await f.sendRaw(f.frame(OP.TEXT, 'Hello, world!'), chop);
  await f.sendRaw(f.frame(opcode, payload, bits), chop);
  await f.sendRaw(f.frame(OP.PING, 'after'), chop);
  await f.expectMessage('text', 'Hello, world!');
  await f.expectClose(1002);
}

/** The reserved-bit cases. */
export const reservedBitCases: ConformanceCase[] = [
  {
    id: '3.1',
    title: 'text with RSV3 set fails with 1002',
    async run(f) {
      await f.send(OP.TEXT, 'Hello, world!', { rsv3: true });
      await f.expectClose(1002);
    },
  },
  {
    id: '3.2',
    title: 'text echoed, then text with RSV2 fails with 1002, the ping after it unanswered',
    run: (f) => echoThenViolate(f, OP.TEXT, 'Hello, world!', { rsv2: true }),
  },
  {
    id: '3.3',
    title: 'text echoed, then text with RSV2+RSV3 (written byte by byte) fails with 1002',
    run: (f) => echoThenViolate(f, OP.TEXT, 'Hello, world!', { rsv2: true, rsv3: true }, 1),
  },
  {
    id: '3.4',
    title: 'text echoed, then text with RSV1 and no extension (written byte by byte) fails with 1002',
    run: (f) => echoThenViolate(f, OP.TEXT, 'Hello, world!', { rsv1: true }, 1),
  },
  {
    id: '3.5',
    title: 'text echoed, then binary with RSV1+RSV3 fails with 1002',
    run: (f) => echoThenViolate(f, OP.BINARY, '\u0000\u0001\u0002', { rsv1: true, rsv3: true }),
  },
  {
    id: '3.6',
    title: 'text echoed, then ping with RSV2+RSV3 fails with 1002',
    run: (f) => echoThenViolate(f, OP.PING, 'ping', { rsv2: true, rsv3: true }),
  },
  {
    id: '3.7',
    title: 'text echoed, then close with RSV1+RSV2+RSV3 fails with 1002',
    async run(f) {
      await f.send(OP.TEXT, 'Hello, world!');
      await f.send(OP.CLOSE, Buffer.from([0x03, 0xe8]), { rsv1: true, rsv2: true, rsv3: true });
      await f.expectMessage('text', 'Hello, world!');
      await f.expectClose(1002);
    },
  },
  {
    id: '3.8',
    title: 'continuation frame with RSV2 fails with 1002',
    async run(f) {
      await f.send(OP.TEXT, 'frag1', { fin: false });
      await f.send(OP.CONT, 'frag2', { rsv2: true });
      await f.expectClose(1002);
    },
  },
];
