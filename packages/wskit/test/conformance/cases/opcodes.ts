/**
 * Category 4, opcodes (RFC 6455 §5.2): the reserved data opcodes 3–7 and
 * control opcodes 0xB–0xF fail the connection with 1002, after the data sent
 * before them is echoed.
 */
import { OP } from '../fuzzer.js';
import type { ConformanceCase } from './types.js';

function reservedOpcodeCases(group: string, opcodes: number[]): ConformanceCase[] {
  return opcodes.flatMap((opcode, i): ConformanceCase[] => [
    {
      id: `4.${group}.${2 * i + 1}`,
      title: `frame with reserved opcode 0x${opcode.toString(16)} fails with 1002`,
      async run(f) {
        await f.send(opcode);
        await f.expectClose(1002);
      },
    },
    {
      id: `4.${group}.${2 * i + 2}`,
      title: `text echoed, then reserved opcode 0x${opcode.toString(16)} with payload fails with 1002, ping unanswered`,
      async run(f) {
        await f.send(OP.TEXT, 'Hello, world!');
        await f.send(opcode, 'reserved opcode payload');
        await f.send(OP.PING);
        await f.expectMessage('text', 'Hello, world!');
        await f.expectClose(1002);
      },
    },
  ]);
}

/** The opcode cases. */
export const opcodeCases: ConformanceCase[] = [...reservedOpcodeCases('1', [3, 4, 5, 6, 7]), ...reservedOpcodeCases('2', [0xb, 0xc, 0xd, 0xe, 0xf])];
