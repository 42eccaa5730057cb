/**
 * Category 5, fragmentation (RFC 6455 §5.4): fragmented messages are
 * reassembled and control frames may come between fragments; a fragmented
 * control frame, a continuation with no message to continue, and a new
 * message before the last one finished fail the connection with 1002.
 */
import type { Fuzzer } from '../fuzzer.js';
import { OP } from '../fuzzer.js';
import { bytes, text } from './payloads.js';
import type { ConformanceCase } from './types.js';

/** How a script's frames go out: all at once, each frame its own write, or byte by byte. */
type Pace = 'together' | 'frames' | 'bytes';

async function sendFrames(f: Fuzzer, frames: Buffer[], pace: Pace): Promise<void> {
  if (pace === 'together') return f.sendRaw(Buffer.concat(frames));
  for (const frame of frames) await f.sendRaw(frame, pace === 'bytes' ? 1 : 0);
}

const PACES: Pace[] = ['together', 'frames', 'bytes'];

/** The fragmentation cases. */
export const fragmentationCases: ConformanceCase[] = [
  {
    id: '5.1',
    title: 'ping in 2 fragments fails with 1002',
    async run(f) {
      await f.send(OP.PING, 'fragment1', { fin: false });
      await f.send(OP.CONT, 'fragment2');
      await f.expectClose(1002);
    },
  },
  {
    id: '5.2',
    title: 'pong in 2 fragments fails with 1002',
    async run(f) {
      await f.send(OP.PONG, 'fragment1', { fin: false });
      await f.send(OP.CONT, 'fragment2');
      await f.expectClose(1002);
    },
  },
  ...PACES.map((pace, i): ConformanceCase => ({
    id: `5.${3 + i}`,
    title: `text in 2 fragments (sent ${pace}) is echoed whole`,
    async run(f) {
      await sendFrames(f, [f.frame(OP.TEXT, 'fragment1', { fin: false }), f.frame(OP.CONT, 'fragment2')], pace);
      await f.expectMessage('text', 'fragment1fragment2');
      await f.closeNormally();
    },
  })),
  ...PACES.map((pace, i): ConformanceCase => ({
    id: `5.${6 + i}`,
    title: `text in 2 fragments with a ping between them (sent ${pace}): pong, then the echo`,
    async run(f) {
      await sendFrames(
        f,
        [f.frame(OP.TEXT, 'fragment1', { fin: false }), f.frame(OP.PING, 'ping payload'), f.frame(OP.CONT, 'fragment2')],
        pace,
      );
      await f.expectPong('ping payload');
      await f.expectMessage('text', 'fragment1fragment2');
      await f.closeNormally();
    },
  })),
  ...PACES.map((pace, i): ConformanceCase => ({
    id: `5.${9 + i}`,
    title: `continuation (FIN) with no message to continue (sent ${pace}) fails with 1002`,
    async run(f) {
      await sendFrames(f, [f.frame(OP.CONT, 'non-continuation payload'), f.frame(OP.TEXT, 'Hello, world!')], pace);
      await f.expectClose(1002);
    },
  })),
  ...PACES.map((pace, i): ConformanceCase => ({
    id: `5.${12 + i}`,
    title: `continuation (not FIN) with no message to continue (sent ${pace}) fails with 1002`,
    async run(f) {
      await sendFrames(f, [f.frame(OP.CONT, 'non-continuation payload', { fin: false }), f.frame(OP.TEXT, 'Hello, world!')], pace);
      await f.expectClose(1002);
    },
  })),
  {
    id: '5.15',
    title: 'text in 2 fragments echoed, then a stray continuation fails with 1002',
    async run(f) {
      await f.send(OP.TEXT, 'fragment1', { fin: false });
      await f.send(OP.CONT, 'fragment2');
      await f.send(OP.CONT, 'fragment3', { fin: false });
      await f.send(OP.TEXT, 'fragment4');
      await f.expectMessage('text', 'fragment1fragment2');
      await f.expectClose(1002);
    },
  },
  {
    id: '5.16',
    title: 'continuation, text (not FIN), continuation: the first frame fails with 1002',
    async run(f) {
      await f.send(OP.CONT, 'fragment1', { fin: false });
      await f.send(OP.TEXT, 'fragment2', { fin: false });
      await f.send(OP.CONT, 'fragment3');
      await f.expectClose(1002);
    },
  },
  {
    id: '5.17',
    title: 'continuation (FIN), text (FIN): the first frame fails with 1002, no echo',
    async run(f) {
      await f.send(OP.CONT, 'fragment1');
      await f.send(OP.TEXT, 'fragment2');
      await f.expectClose(1002);
    },
  },
  {
    id: '5.18',
    title: 'a new text message begun before the fragmented one finished fails with 1002',
    async run(f) {
      await f.send(OP.TEXT, 'fragment1', { fin: false });
      await f.send(OP.TEXT, 'fragment2');
      await f.expectClose(1002);
    },
  },
  {
    id: '5.19',
    title: 'text in 5 fragments with 2 pings between, each frame its own write: 2 pongs, then the echo',
    async run(f) {
      const frames = [
        f.frame(OP.TEXT, 'fragment1', { fin: false }),
        f.frame(OP.CONT, 'fragment2', { fin: false }),
        f.frame(OP.PING, 'pongme 1!'),
        f.frame(OP.CONT, 'fragment3', { fin: false }),
        f.frame(OP.CONT, 'fragment4', { fin: false }),
        f.frame(OP.PING, 'pongme 2!'),
        f.frame(OP.CONT, 'fragment5'),
      ];
      await sendFrames(f, frames, 'frames');
      await f.expectPong('pongme 1!');
      await f.expectPong('pongme 2!');
      await f.expectMessage('text', 'fragment1fragment2fragment3fragment4fragment5');
      await f.closeNormally();
    },
  },
  {
    id: '5.20',
    title: 'the same, written byte by byte',
    async run(f) {
      const frames = [
        f.frame(OP.TEXT, 'fragment1', { fin: false }),
        f.frame(OP.PING, 'pongme 1!'),
        f.frame(OP.CONT, 'fragment2', { fin: false }),
        f.frame(OP.PING, 'pongme 2!'),
        f.frame(OP.CONT, 'fragment3'),
      ];
      await sendFrames(f, frames, 'bytes');
      await f.expectPong('pongme 1!');
      await f.expectPong('pongme 2!');
      await f.expectMessage('text', 'fragment1fragment2fragment3');
      await f.closeNormally();
    },
  },
  {
    id: '5.21',
    title: 'binary of 1000 bytes in 1-byte fragments is echoed whole',
    async run(f) {
      const payload = bytes(1000, 521);
      await f.sendMessage('binary', payload, { fragmentSize: 1 });
      await f.expectMessage('binary', payload);
      await f.closeNormally();
    },
  },
  {
    id: '5.22',
    title: 'text with multi-byte characters in 1-byte fragments is echoed whole',
    async run(f) {
      const payload = text(500, 522);
      await f.sendMessage('text', payload, { fragmentSize: 1 });
      await f.expectMessage('text', payload);
      await f.closeNormally();
    },
  },
  {
    id: '5.23',
    title: 'empty fragments at the start, middle and end are part of the message',
    async run(f) {
      await f.send(OP.BINARY, '', { fin: false });
      await f.send(OP.CONT, 'middle', { fin: false });
      await f.send(OP.CONT, '', { fin: false });
      await f.send(OP.CONT, '');
      await f.expectMessage('binary', 'middle');
      await f.closeNormally();
    },
  },
  {
    id: '5.24',
    title: 'a fragmented message, then an unfragmented one, both echoed in order',
    async run(f) {
      await f.send(OP.BINARY, 'part1', { fin: false });
      await f.send(OP.CONT, 'part2');
      await f.send(OP.TEXT, 'whole');
      await f.expectMessage('binary', 'part1part2');
      await f.expectMessage('text', 'whole');
      await f.closeNormally();
    },
  },
];
