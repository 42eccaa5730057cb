/**
 * Option checks of Upgrader, dial and WebSocket: unknown names, wrong types
 * and out-of-range values throw TypeError or RangeError naming the option,
 * through each public entry; every documented form is still accepted, end
 * to end over loopback sockets where it matters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Duplex, getDefaultHighWaterMark } from 'node:stream';
import fc from 'fast-check';
import { FUZZ_SEED, fuzzRuns } from 'wskit-testing/bytes';
import { checkOptions, DIAL_RULES, WEBSOCKET_RULES } from '../src/options.js';
import { type Conn, dial, type DialOptions, Upgrader, type UpgraderOptions, WebSocket } from '../src/index.js';

type After = { after: (fn: () => unknown) => void };
type Owner = 'Upgrader' | 'dial' | 'WebSocket';
const OWNERS: readonly Owner[] = ['Upgrader', 'dial', 'WebSocket'];

/** Nothing listens here: an accepted dial fails with ECONNREFUSED, never TypeError or RangeError. */
const CLOSED_URL = 'ws://127.0.0.1:1/';
const MAX = 2 ** 31 - 1;
/** A socket's default high-water mark: below it the socket's own mark decides when a write waits, so `writeBufferSize` starts there. */
const HWM = getDefaultHighWaterMark(false);

/**
 * The error `options` gets from `owner`'s public entry, or null when they are
 * accepted. Only for refused options: accepted ones would dial (see
 * {@link verdict}).
 */
async function refusal(owner: Owner, options: unknown): Promise<unknown> {
  try {
    if (owner === 'Upgrader') new Upgrader(options as UpgraderOptions);
    else if (owner === 'dial') await dial(CLOSED_URL, options as object);
    else new WebSocket(CLOSED_URL, [], options as object).close();
  } catch (err) {
    return err instanceof TypeError || err instanceof RangeError ? err : null;
  }
  return null;
}

/**
 * The error the check of `owner` throws for `options`, or null: the same
 * check the entry runs first, without opening a connection, for properties
 * that try many accepted values.
 */
function verdict(owner: Owner, options: unknown): unknown {
  try {
    if (owner === 'Upgrader') new Upgrader(options as UpgraderOptions);
    else checkOptions(owner, owner === 'dial' ? DIAL_RULES : WEBSOCKET_RULES, options);
  } catch (err) {
    return err;
  }
  return null;
}

/** Asserts `err` is an instance of `kind` whose message names `name`. */
function assertNames(err: unknown, kind: typeof TypeError | typeof RangeError, name: string, context: string): void {
  assert.ok(err instanceof kind, `${context}: expected ${kind.name}, got ${String(err)}`);
  assert.match(err.message, new RegExp(`"${name.replace(/[.[\]]/g, '\\$&')}"`), context);
}

/** Which options each entry takes: the Upgrader's and dial's own, and what WebSocket picks from dial. */
const TAKES: Record<Owner, readonly string[]> = {
  Upgrader: ['handshakeTimeout', 'readBufferSize', 'writeBufferSize', 'maxMessageSize', 'maxFragments', 'checkOrigin', 'subprotocols', 'compression', 'closeTimeout', 'onError'],
  dial: ['headers', 'handshakeTimeout', 'subprotocols', 'compression', 'maxMessageSize', 'maxFragments', 'readBufferSize', 'writeBufferSize', 'maxHeaderSize', 'tls', 'signal', 'closeTimeout'],
  WebSocket: ['headers', 'handshakeTimeout', 'maxMessageSize', 'maxFragments', 'tls', 'readBufferSize', 'writeBufferSize', 'compression'],
};

/** The documented range of each whole-number option, written out here independently of src/options.ts. */
const RANGES: Record<string, readonly [number, number]> = {
  handshakeTimeout: [0, MAX],
  closeTimeout: [1, MAX],
  maxMessageSize: [1, MAX],
  maxFragments: [1, MAX],
  maxHeaderSize: [1, MAX],
  readBufferSize: [0, MAX],
  writeBufferSize: [HWM, MAX],
  'compression.maxWindowBits': [8, 15],
  'compression.threshold': [0, MAX],
  'compression.level': [0, 9],
};

/** Options built from a path: `compression.level` becomes `{ compression: { level } }`. */
function at(path: string, value: unknown): Record<string, unknown> {
  const [head, tail] = path.split('.') as [string, string | undefined];
  return tail === undefined ? { [head]: value } : { [head]: { [tail]: value } };
}

function takes(owner: Owner, path: string): boolean {
  return TAKES[owner].includes(path.split('.')[0]!);
}

/** A value of the wrong type for each option, and the option it names. */
const WRONG_TYPES: readonly [path: string, value: unknown][] = [
  ['handshakeTimeout', '10s'],
  ['closeTimeout', null],
  ['maxMessageSize', '1mb'],
  ['maxMessageSize', 10n],
  ['maxFragments', '16k'],
  ['maxHeaderSize', {}],
  ['readBufferSize', true],
  ['writeBufferSize', [1]],
  ['compression', 'yes'],
  ['compression', 1],
  ['compression', null],
  ['compression', ['permessage-deflate']],
  ['compression.noContextTakeover', 'true'],
  ['compression.requestNoContextTakeover', 1],
  ['compression.maxWindowBits', '15'],
  ['compression.threshold', null],
  ['compression.level', 'fast'],
  ['checkOrigin', true],
  ['onError', 'log'],
  ['subprotocols', 'chat'],
  ['subprotocols', new Set(['chat'])],
  ['subprotocols[1]', ['chat', 2]],
  ['headers', 'Cookie: a=b'],
  ['headers', [['Cookie', 'a=b']]],
  ['headers', new Headers({ Cookie: 'a=b' })],
  ['headers', new Map([['Cookie', 'a=b']])],
  ['headers.Cookie', { Cookie: 1 }],
  ['headers.X-Many', { 'X-Many': ['a', 'b'] }],
  ['tls', 'insecure'],
  ['tls', null],
  ['signal', new AbortController()],
  ['signal', { aborted: false }],
];

/** Malformed strings: TypeError as for Node's own header checks. */
const MALFORMED: readonly [path: string, options: Record<string, unknown>][] = [
  ['subprotocols', { subprotocols: ['has space'] }],
  ['subprotocols', { subprotocols: [''] }],
  ['subprotocols', { subprotocols: ['chat', 'chat'] }],
  ['headers', { headers: { 'Bad Name': 'x' } }],
  ['headers.X-Injected', { headers: { 'X-Injected': 'a\r\nHost: evil' } }],
];

test('Upgrader, dial and WebSocket reject an unknown option with TypeError naming it', async () => {
  for (const owner of OWNERS) {
    assertNames(await refusal(owner, { bogusOption: 1 }), TypeError, 'bogusOption', owner);
    assertNames(await refusal(owner, { compression: { windowSize: 10 } }), TypeError, 'compression.windowSize', owner);
    assertNames(await refusal(owner, { maxMessageSize: undefined, bogusOption: undefined }), TypeError, 'bogusOption', owner);
  }
  // Options one entry takes and another does not.
  assertNames(await refusal('Upgrader', { headers: {} }), TypeError, 'headers', 'Upgrader');
  assertNames(await refusal('dial', { checkOrigin: () => true }), TypeError, 'checkOrigin', 'dial');
  assertNames(await refusal('WebSocket', { signal: new AbortController().signal }), TypeError, 'signal', 'WebSocket');
  assertNames(await refusal('WebSocket', { subprotocols: ['chat'] }), TypeError, 'subprotocols', 'WebSocket');
});

test('Upgrader, dial and WebSocket suggest the known option for a typo or a ws name', async () => {
  const cases: [Owner, string, string][] = [
    ['Upgrader', 'maxMesageSize', 'maxMessageSize'],
    ['Upgrader', 'handshaketimeout', 'handshakeTimeout'],
    ['Upgrader', 'perMessageDeflate', 'compression'],
    ['dial', 'protocols', 'subprotocols'],
    ['dial', 'maxPayload', 'maxMessageSize'],
    ['WebSocket', 'header', 'headers'],
  ];
  for (const [owner, typo, known] of cases) {
    const err = await refusal(owner, { [typo]: 1 });
    assertNames(err, TypeError, typo, owner);
    assert.match((err as Error).message, new RegExp(`"${known}"`), `${owner} ${typo}`);
  }
  const nested = await refusal('dial', { compression: { windowBits: 10 } });
  assert.match((nested as Error).message, /"compression\.maxWindowBits"/);
});

test('Upgrader, dial and WebSocket reject options that are not an object with TypeError', async () => {
  for (const owner of OWNERS) {
    for (const options of [null, 42, 'maxMessageSize=1', ['compression']]) {
      const err = await refusal(owner, options);
      assert.ok(err instanceof TypeError, `${owner} ${String(options)}`);
      assert.match(err.message, new RegExp(`^${owner} options`));
    }
  }
});

test('Upgrader, dial and WebSocket reject a value of the wrong type with TypeError naming the option', async () => {
  for (const owner of OWNERS) {
    for (const [path, value] of WRONG_TYPES) {
      if (!takes(owner, path)) continue;
      const options = /[.[]/.test(path) && !path.startsWith('compression.') ? { [path.split(/[.[]/)[0]!]: value } : at(path, value);
      assertNames(await refusal(owner, options), TypeError, path, `${owner} ${path}=${String(value)}`);
    }
  }
});

test('Upgrader, dial and WebSocket reject malformed subprotocols and headers with TypeError naming the option', async () => {
  for (const owner of OWNERS) {
    for (const [path, options] of MALFORMED) {
      if (!takes(owner, path)) continue;
      assertNames(await refusal(owner, options), TypeError, path, `${owner} ${JSON.stringify(options)}`);
    }
  }
});

test('Upgrader, dial and WebSocket reject numbers out of range, fractions, NaN and Infinity with RangeError naming the option', async () => {
  for (const owner of OWNERS) {
    for (const [path, [min, max]] of Object.entries(RANGES)) {
      if (!takes(owner, path)) continue;
      for (const value of [min - 1, max + 1, min + 0.5, Number.NaN, Infinity, -Infinity]) {
        assertNames(await refusal(owner, at(path, value)), RangeError, path, `${owner} ${path}=${value}`);
      }
    }
  }
});

test('any whole number in an option\'s range is accepted, any outside it is a RangeError, any non-number a TypeError', () => {
  for (const owner of OWNERS) {
    for (const [path, [min, max]] of Object.entries(RANGES)) {
      if (!takes(owner, path)) continue;
      fc.assert(
        fc.property(fc.integer({ min, max }), (n) => verdict(owner, at(path, n)) === null),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(50) },
      );
      const outside = fc.oneof(
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }),
        fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }),
        fc.double({ min, max, noInteger: true, noNaN: true }),
      );
      fc.assert(
        fc.property(outside, (n) => {
          const err = verdict(owner, at(path, n));
          return err instanceof RangeError && err.message.includes(`"${path}"`);
        }),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(50) },
      );
      const notNumber = fc.oneof(fc.string(), fc.boolean(), fc.bigInt(), fc.constant(null), fc.array(fc.integer()), fc.object());
      fc.assert(
        fc.property(notNumber, (v) => {
          const err = verdict(owner, at(path, v));
          return err instanceof TypeError && err.message.includes(`"${path}"`);
        }),
        { seed: FUZZ_SEED, numRuns: fuzzRuns(30) },
      );
    }
  }
});

test('any list of distinct HTTP tokens is accepted as subprotocols, by Upgrader and dial', () => {
  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/);
  for (const owner of ['Upgrader', 'dial'] as const) {
    fc.assert(
      fc.property(fc.uniqueArray(token, { maxLength: 8 }), (subprotocols) => verdict(owner, { subprotocols }) === null),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(100) },
    );
  }
});

test('undefined for any option means its default and is accepted', () => {
  for (const owner of OWNERS) {
    const options = Object.fromEntries(TAKES[owner].map((name) => [name, undefined]));
    assert.equal(verdict(owner, options), null, owner);
    assert.equal(verdict(owner, { compression: { level: undefined, threshold: undefined, maxWindowBits: undefined } }), null, owner);
    assert.equal(verdict(owner, undefined), null, owner);
  }
  assert.doesNotThrow(() => new Upgrader());
});

test('Upgrader accepts the documented forms: README, the servers of wskit-server, every option at once', () => {
  const forms: UpgraderOptions[] = [
    {},
    { maxMessageSize: 1 << 20, compression: true }, // README
    { handshakeTimeout: 10_000, maxMessageSize: 64 * 1024 }, // /add
    { handshakeTimeout: 10_000, maxMessageSize: 16 * 1024 * 1024, compression: true, writeBufferSize: 1024 * 1024, readBufferSize: 1024 * 1024 }, // /echo
    { maxMessageSize: undefined, checkOrigin: () => true, closeTimeout: 2_000 }, // chat
    { compression: false },
    { compression: { noContextTakeover: false } },
    { subprotocols: [] },
    {
      handshakeTimeout: 0,
      readBufferSize: 0,
      writeBufferSize: HWM,
      maxMessageSize: MAX,
      checkOrigin: (req: IncomingMessage) => req.headers.origin === undefined,
      subprotocols: ['chat', 'v2.json', 'a_b'],
      compression: { noContextTakeover: true, requestNoContextTakeover: true, maxWindowBits: 8, threshold: 0, level: 9 },
      closeTimeout: 1,
      onError: (_req: IncomingMessage, socket: Duplex) => socket.destroy(),
    },
  ];
  for (const options of forms) assert.doesNotThrow(() => new Upgrader(options), JSON.stringify(options));
});

test('Upgrader handshakeTimeout 0 turns the HTTP server\'s header timeout off and leaves its request timeout', () => {
  const server = { headersTimeout: 60_000, requestTimeout: 300_000 };
  new Upgrader({ handshakeTimeout: 0 }).configureServer(server);
  assert.deepEqual(server, { headersTimeout: 0, requestTimeout: 300_000 });
});

/** A wskit server speaking `chat` with compression on, echoing every message. */
async function echoServer(t: After): Promise<string> {
  const upgrader = new Upgrader({ subprotocols: ['chat'], compression: true });
  const conns = new Set<Conn>();
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrader.upgrade(req, socket, head).then(async (conn) => {
      conns.add(conn);
      try {
        for await (const m of conn) await conn.write(m.type, m.data);
      } catch {
        // closed: the client side is under test
      }
    }, () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const conn of conns) conn.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** Every dial option at the edge of its range, or in a documented form. */
const EDGE_DIAL_OPTIONS: DialOptions = {
  headers: { Cookie: 'name=zcy', 'X-Empty': '' },
  handshakeTimeout: 0,
  subprotocols: ['chat'],
  compression: { noContextTakeover: true, requestNoContextTakeover: true, maxWindowBits: 8, threshold: 0, level: 0 },
  maxMessageSize: 1,
  maxFragments: 1,
  readBufferSize: 0,
  writeBufferSize: HWM,
  maxHeaderSize: MAX,
  tls: {},
  closeTimeout: 1,
};

test('dial accepts the documented forms and connects with every option at the edge of its range', async (t) => {
  const url = await echoServer(t);
  const forms: DialOptions[] = [
    { headers: { Cookie: 'name=zcy' } }, // README
    { compression: true, maxMessageSize: 4 * 1024 * 1024 }, // wskit-server's tests
    { handshakeTimeout: 1000 },
    { compression: { maxWindowBits: 15, threshold: MAX, level: 9 }, maxMessageSize: MAX, maxFragments: MAX, closeTimeout: MAX, handshakeTimeout: MAX },
    { ...EDGE_DIAL_OPTIONS, signal: new AbortController().signal },
  ];
  for (const options of forms) {
    const { conn } = await dial(url, options);
    await conn.write('text', 'x');
    assert.equal((await conn.read()).data.toString(), 'x', JSON.stringify(options));
    await conn.close(1000);
  }
});

test('dial handshakeTimeout 0 waits for a silent server until aborted instead of timing out', async (t) => {
  const silent = createServer();
  const held: Duplex[] = [];
  silent.on('upgrade', (_req: IncomingMessage, socket: Duplex) => held.push(socket));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    held.forEach((s) => s.destroy());
    silent.closeAllConnections();
    return new Promise((resolve) => silent.close(resolve));
  });
  const controller = new AbortController();
  const dialing = dial(`ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`, { handshakeTimeout: 0, signal: controller.signal }).catch((e: unknown) => e);
  const early = await Promise.race([dialing, new Promise((resolve) => setTimeout(() => resolve('pending'), 200))]);
  assert.equal(early, 'pending');
  controller.abort();
  assert.equal(((await dialing) as Error).name, 'AbortError');
});

test('WebSocket accepts the documented forms and opens with every option at the edge of its range', async (t) => {
  const url = await echoServer(t);
  const { headers, handshakeTimeout, compression, maxMessageSize, readBufferSize, writeBufferSize, tls } = EDGE_DIAL_OPTIONS;
  const forms: [string | string[] | undefined, object | undefined][] = [
    [undefined, undefined],
    [[], { handshakeTimeout: 30_000 }],
    ['chat', { compression: false }],
    [['chat', 'other'], { headers, handshakeTimeout, compression, maxMessageSize, readBufferSize, writeBufferSize, tls }],
  ];
  for (const [protocols, options] of forms) {
    const ws = new WebSocket(url, protocols, options);
    const outcome = await Promise.race([once(ws, 'open').then(() => 'open'), once(ws, 'close').then(() => 'close')]);
    assert.equal(outcome, 'open', JSON.stringify([protocols, options]));
    ws.close();
    await once(ws, 'close');
  }
});

test('WebSocket rejects protocols that are not a string or a list of strings with TypeError naming them', () => {
  for (const protocols of [{ headers: {} }, 42, null, ['chat', 1]]) {
    assert.throws(
      () => new WebSocket(CLOSED_URL, protocols as string[]),
      (err: Error) => err instanceof TypeError && /"protocols/.test(err.message),
      JSON.stringify(protocols),
    );
  }
});
