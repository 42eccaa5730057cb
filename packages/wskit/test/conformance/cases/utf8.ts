/**
 * Category 6, UTF-8 (RFC 6455 §8.1, RFC 3629): valid text in any
 * fragmentation is echoed; invalid text fails with 1007, and fails fast: the
 * close arrives as soon as the first invalid byte is in, before the rest of
 * the frame or message has been sent. The vectors follow Markus Kuhn's
 * UTF-8 decoder stress test, as Autobahn's category 6 does.
 */
import type { Fuzzer } from '../fuzzer.js';
import { OP } from '../fuzzer.js';
import { hex } from './payloads.js';
import type { ConformanceCase } from './types.js';

/** κόσμε, the stress test's sample word. */
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

/** [group title, vectors] with each vector's hex and whether it is valid. */
const VECTORS: [string, [string, boolean][]][] = [
  ['valid sample words', [['ce bae1bdb9cf83cebcceb5', true], ['48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121', true]]],
  ['first sequence of each length', [['00', true], ['c280', true], ['e0a080', true], ['f0908080', true], ['f888808080', false], ['fc8480808080', false]]],
  ['last sequence of each length', [['7f', true], ['dfbf', true], ['efbfbf', true], ['f48fbfbf', true], ['f7bfbfbf', false], ['fbbfbfbfbf', false], ['fdbfbfbfbfbf', false]]],
  ['other boundaries', [['ed9fbf', true], ['ee8080', true], ['efbfbd', true], ['f48fbfbf', true], ['f4908080', false]]],
  ['unexpected continuation bytes', [['80', false], ['bf', false], ['80bf', false], ['80bf80', false], ['80bf80bf', false], ['80bf80bf80', false], ['80bf80bf80bf', false]]],
  ['lonely start bytes', [['c020', false], ['c120', false], ['df20', false], ['e020', false], ['ef20', false], ['f020', false], ['f720', false], ['f820', false], ['fc20', false]]],
  ['last continuation byte missing', [['c0', false], ['e080', false], ['f08080', false], ['df', false], ['efbf', false], ['f48fbf', false], ['c0e080f08080dfefbf', false]]],
  ['impossible bytes', [['fe', false], ['ff', false], ['fefeffff', false], ['c1', false], ['f5808080', false]]],
  ['overlong ASCII slash', [['c0af', false], ['e080af', false], ['f08080af', false], ['f8808080af', false], ['fc80808080af', false]]],
  ['maximum overlong sequences', [['c1bf', false], ['e09fbf', false], ['f08fbfbf', false], ['f887bfbfbf', false]]],
  ['overlong NUL', [['c080', false], ['e08080', false], ['f0808080', false]]],
  ['single UTF-16 surrogates', [['eda080', false], ['edadbf', false], ['edae80', false], ['edafbf', false], ['edb080', false], ['edbe80', false], ['edbfbf', false]]],
  ['paired UTF-16 surrogates', [['eda080edb080', false], ['eda080edbfbf', false], ['edafbfedb080', false], ['edafbfedbfbf', false]]],
  ['noncharacters (valid)', [['efbfbe', true], ['efbfbf', true], ['f09fbfbe', true], ['f09fbfbf', true], ['f48fbfbe', true], ['efb790', true], ['efb7af', true]]],
  ['an invalid byte after valid text', [['cebae1bdb9cf83cebcceb5eda080656469746564', false], ['48656c6c6f20ff', false]]],
];

async function echoOrFail(f: Fuzzer, payload: Buffer, valid: boolean, fragmentSize: number): Promise<void> {
  await f.sendMessage('text', payload, { fragmentSize });
  if (valid) {
    await f.expectMessage('text', payload);
    await f.closeNormally();
  } else {
    await f.expectClose(1007);
  }
}

function vectorCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  VECTORS.forEach(([group, vectors], g) => {
    vectors.forEach(([h, valid], v) => {
      const payload = hex(h);
      const outcome = valid ? 'is echoed' : 'fails with 1007';
      cases.push({
        id: `6.${10 + g}.${v + 1}`,
        title: `${group}: ${h} in one frame ${outcome}`,
        run: (f) => echoOrFail(f, payload, valid, 0),
      });
      if (payload.length > 1) {
        cases.push({
          id: `6.${10 + g}.${v + 1}.1`,
          title: `${group}: ${h} in 1-byte fragments ${outcome}`,
          run: (f) => echoOrFail(f, payload, valid, 1),
        });
      }
    });
  });
  return cases;
}

/** The UTF-8 cases. */
export const utf8Cases: ConformanceCase[] = [
  {
    id: '6.1.1',
    title: 'empty text message is echoed',
    async run(f) {
      await f.send(OP.TEXT, '');
      await f.expectMessage('text', '');
      await f.closeNormally();
    },
  },
  {
    id: '6.1.2',
    title: 'text message of 3 empty fragments is echoed empty',
    async run(f) {
      await f.send(OP.TEXT, '', { fin: false });
      await f.send(OP.CONT, '', { fin: false });
      await f.send(OP.CONT, '');
      await f.expectMessage('text', '');
      await f.closeNormally();
    },
  },
  {
    id: '6.2.1',
    title: 'valid UTF-8 split at code point boundaries across fragments is echoed',
    async run(f) {
      await f.send(OP.TEXT, 'Hello-µ@ß', { fin: false });
      await f.send(OP.CONT, 'öäüàá', { fin: false });
      await f.send(OP.CONT, '-UTF-8!!');
      await f.expectMessage('text', 'Hello-µ@ßöäüàá-UTF-8!!');
      await f.closeNormally();
    },
  },
  {
    id: '6.2.2',
    title: 'valid UTF-8 split inside code points (1-byte fragments) is echoed',
    run: (f) => echoOrFail(f, Buffer.from('Hello-µ@ßöäüàá-UTF-8!! 😀 €', 'utf8'), true, 1),
  },
  {
    id: '6.2.3',
    title: 'a 4-byte character split 2+2 across fragments is echoed',
    async run(f) {
      const smile = Buffer.from('😀', 'utf8');
      await f.send(OP.TEXT, smile.subarray(0, 2), { fin: false });
      await f.send(OP.CONT, smile.subarray(2));
      await f.expectMessage('text', smile);
      await f.closeNormally();
    },
  },
  ...Array.from({ length: KOSME.length }, (_, i): ConformanceCase => {
    const prefix = KOSME.subarray(0, i + 1);
    const valid = [2, 5, 7, 9, 11].includes(i + 1);
    return {
      id: `6.6.${i + 1}`,
      title: `the first ${i + 1} bytes of κόσμε ${valid ? 'are echoed' : 'end inside a character: 1007'}`,
      run: (f) => echoOrFail(f, prefix, valid, 0),
    };
  }),
  {
    id: '6.3.1',
    title: 'invalid UTF-8 split across fragments (the bad sequence spans two) fails with 1007',
    async run(f) {
      // ed a0 80 is a surrogate: ed in one fragment, a0 80 in the next.
      await f.send(OP.TEXT, hex('cebae1bdb9cf83cebcceb5ed'), { fin: false });
      await f.send(OP.CONT, hex('a080656469746564'));
      await f.expectClose(1007);
    },
  },
  {
    id: '6.4.1',
    title: 'fail fast: the fragment with the invalid sequence is refused before the last fragment is sent',
    async run(f) {
      await f.send(OP.TEXT, KOSME, { fin: false });
      await f.send(OP.CONT, hex('f4908080'), { fin: false });
      await f.expectClose(1007);
      // The final fragment ('edited') is never sent: the close had to come first.
    },
  },
  {
    id: '6.4.2',
    title: 'fail fast: an invalid sequence split across fragments is refused at its first bad byte',
    async run(f) {
      await f.send(OP.TEXT, Buffer.concat([KOSME, hex('f4')]), { fin: false });
      await f.send(OP.CONT, hex('90'), { fin: false });
      await f.expectClose(1007);
    },
  },
  {
    id: '6.4.3',
    title: 'fail fast: within one frame, the close comes before the rest of the frame is sent',
    async run(f) {
      const payload = Buffer.concat([KOSME, hex('f4908080'), Buffer.from('edited'.repeat(100))]);
      const frame = f.frame(OP.TEXT, payload);
      const header = frame.length - payload.length;
      await f.sendRaw(frame.subarray(0, header + KOSME.length));
      await f.sendRaw(frame.subarray(header + KOSME.length, header + KOSME.length + 4));
      await f.expectClose(1007);
    },
  },
  {
    id: '6.4.4',
    title: 'fail fast: within one frame, the close comes at the first invalid byte (f4 90)',
    async run(f) {
      const payload = Buffer.concat([KOSME, hex('f4908080'), Buffer.from('edited'.repeat(100))]);
      const frame = f.frame(OP.TEXT, payload);
      const header = frame.length - payload.length;
      await f.sendRaw(frame.subarray(0, header + KOSME.length + 2));
      await f.expectClose(1007);
    },
  },
  {
    id: '6.4.5',
    title: 'fail fast: a 1 MiB text frame whose first bytes are invalid is refused before the payload is sent',
    async run(f) {
      const payload = Buffer.alloc(1024 * 1024, 0x61);
      payload[0] = 0xff;
      const frame = f.frame(OP.TEXT, payload);
      const header = frame.length - payload.length;
      await f.sendRaw(frame.subarray(0, header + 16));
      await f.expectClose(1007);
    },
  },
  ...vectorCases(),
];
