/**
 * Category 7, close handling (RFC 6455 §5.5.1, §7): the closing handshake
 * is answered with the same code, nothing is processed after a close frame,
 * close payloads are validated (length, code range, UTF-8 reason).
 */
import { OP } from '../fuzzer.js';
import { EMPTY_CLOSE } from '../fuzzer.js';
import { bytes } from './payloads.js';
import type { ConformanceCase } from './types.js';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

function code(c: number, reason: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(2 + reason.length);
  out.writeUInt16BE(c, 0);
  out.set(reason, 2);
  return out;
}

/** The close cases. */
export const closeCases: ConformanceCase[] = [
  {
    id: '7.1.1',
    title: 'text echoed, then a normal close is answered with 1000',
    async run(f) {
      await f.send(OP.TEXT, 'Hello World');
      await f.expectMessage('text', 'Hello World');
      await f.closeNormally(1000);
    },
  },
  {
    id: '7.1.2',
    title: 'a second close frame after the first is ignored',
    async run(f) {
      await f.send(OP.CLOSE, code(1000));
      await f.send(OP.CLOSE, code(1000));
      await f.expectClose(1000);
    },
  },
  {
    id: '7.1.3',
    title: 'a ping after the close frame gets no pong',
    async run(f) {
      await f.sendClose(1000);
      await f.send(OP.PING, 'after close');
      await f.expectClose(1000);
    },
  },
  {
    id: '7.1.4',
    title: 'a text message after the close frame is not echoed',
    async run(f) {
      await f.sendClose(1000);
      await f.send(OP.TEXT, 'after close');
      await f.expectClose(1000);
    },
  },
  {
    id: '7.1.5',
    title: 'a message interrupted by a close frame is not echoed',
    async run(f) {
      await f.send(OP.TEXT, 'fragment1', { fin: false });
      await f.sendClose(1000);
      await f.send(OP.CONT, 'fragment2');
      await f.expectClose(1000);
    },
  },
  {
    id: '7.3.1',
    title: 'a close with an empty payload is answered with an empty close (or 1000)',
    async run(f) {
      await f.sendClose(EMPTY_CLOSE);
      await f.expectClose([EMPTY_CLOSE, 1000]);
    },
  },
  {
    id: '7.3.2',
    title: 'a close with a 1-byte payload fails with 1002',
    async run(f) {
      await f.send(OP.CLOSE, Buffer.from([0x03]));
      await f.expectClose(1002);
    },
  },
  {
    id: '7.3.3',
    title: 'a close with code 1000 and no reason is answered with 1000',
    run: (f) => f.closeNormally(1000),
  },
  {
    id: '7.3.4',
    title: 'a close with code 1000 and a reason is answered with 1000',
    run: (f) => f.closeNormally(1000, 'Hello World!'),
  },
  {
    id: '7.3.5',
    title: 'a close with a 123-byte reason (125-byte payload) is answered with 1000',
    run: (f) => f.closeNormally(1000, 'a'.repeat(123)),
  },
  {
    id: '7.3.6',
    title: 'a close with a 124-byte reason (126-byte payload) fails with 1002',
    async run(f) {
      await f.send(OP.CLOSE, code(1000, Buffer.from('a'.repeat(124))));
      await f.expectClose(1002);
    },
  },
  {
    id: '7.5.1',
    title: 'a close whose reason is not UTF-8 fails with 1007',
    async run(f) {
      await f.send(OP.CLOSE, code(1000, Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex')));
      await f.expectClose(1007);
    },
  },
  {
    id: '7.5.2',
    title: 'a close with a multi-byte UTF-8 reason is answered',
    run: (f) => f.closeNormally(1000, 'κόσμε 😀'),
  },
  ...VALID_CODES.map((c, i): ConformanceCase => ({
    id: `7.7.${i + 1}`,
    title: `a close with valid code ${c} is answered with the same code`,
    run: (f) => f.closeNormally(c, '', [c]),
  })),
  ...INVALID_CODES.map((c, i): ConformanceCase => ({
    id: `7.9.${i + 1}`,
    title: `a close with invalid code ${c} fails with 1002`,
    async run(f) {
      await f.send(OP.CLOSE, code(c));
      await f.expectClose(1002);
    },
  })),
  {
    id: '7.13.1',
    title: 'echoed data sent before the close comes back before the close answer',
    async run(f) {
      const payload = bytes(64 * 1024, 713);
      await f.send(OP.BINARY, payload);
      await f.expectMessage('binary', payload);
      await f.closeNormally(1001, 'going away', [1001]);
    },
  },
];
