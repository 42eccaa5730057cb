/**
 * Attack: fuzzing with fast-check (fixed seed, so a failure replays).
 *
 * 1. The receiving state machine (Connection over FrameParser), 100,000
 *    random and mutated byte streams in the normal run: it either yields
 *    well-formed events or throws a ProtocolError with 1002, 1007 or 1009;
 *    never another error, never a message over the limit, and the same
 *    outcome however the bytes are split.
 * 2. A live `wskit serve` in a child process: mutated handshakes and mutated
 *    frame streams (with and without permessage-deflate) on real sockets.
 *    The server answers each one with an HTTP status or a valid close code,
 *    closes every connection, does not crash, keeps its memory bounded, and
 *    a bystander still echoes and chats.
 *
 * `npm run fuzz` raises the counts through WSKIT_FUZZ_RUNS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { ProtocolError } from 'wskit';
import { Connection, deflateBound, Utf8Validator } from 'wskit/protocol';
import { FUZZ_SEED, fuzzRuns, splitAt } from 'wskit-testing/bytes';
import { Bystander, Cleanups, connectionsSettle, tempDir } from '../helpers/attack-server.js';
import { buildFrame, closePayload, RawClient, upgradeRequest, type FrameSpec } from '../helpers/raw-client.js';
import { startChildServer, type ChildServer } from '../helpers/server-child.js';

const MAX_MESSAGE = 4096;
const FAILURE_CODES = new Set([1002, 1007, 1009]);

// ---- generators ----

const opcodeArb = fc.oneof(
  { arbitrary: fc.constantFrom(0x1, 0x2, 0x0), weight: 6 },
  { arbitrary: fc.constantFrom(0x8, 0x9, 0xa), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 1 },
);

const payloadArb = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }).map((code) => new Uint8Array(closePayload(code, 'bye'))), weight: 1 },
  { arbitrary: fc.integer({ min: 100, max: 6000 }).map((n) => new Uint8Array(n).fill(0x61)), weight: 1 },
);

const frameArb: fc.Arbitrary<FrameSpec> = fc.record({
  opcode: opcodeArb,
  payload: payloadArb,
  fin: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  rsv1: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
  rsv2: fc.oneof({ arbitrary: fc.constant(false), weight: 19 }, { arbitrary: fc.constant(true), weight: 1 }),
  mask: fc.oneof({ arbitrary: fc.constant(true), weight: 19 }, { arbitrary: fc.constant(false), weight: 1 }),
});

type Mutation = { at: number; kind: 'flip' | 'set' | 'insert' | 'delete'; value: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('flip', 'set', 'insert', 'delete'),
  value: fc.integer({ min: 0, max: 255 }),
});

function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  const out = [...bytes];
  for (const { at, kind, value } of mutations) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (kind === 'flip' && out.length > 0) out[i] = out[i]! ^ (1 << (value & 7));
    else if (kind === 'set' && out.length > 0) out[i] = value;
    else if (kind === 'insert') out.splice(i, 0, value);
    else if (kind === 'delete') out.splice(i, 1);
  }
  return Buffer.from(out);
}

/** A byte stream: pure noise, or valid-looking frames with a few mutations. */
const streamArb: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(mutationArb, { maxLength: 3 }))
      .map(([frames, mutations]) => mutate(Buffer.concat(frames.map(buildFrame)), mutations)),
    weight: 4,
  },
);

// ---- the state machine ----

interface Outcome {
  events: string[];
  code: number | null;
}

/** feed runs a server-side Connection over `pieces` and records what it made of them. */
function feed(pieces: Buffer[], compression: boolean): Outcome {
  const connection = new Connection({ role: 'server', maxMessageSize: MAX_MESSAGE, compression });
  const events: string[] = [];
  let code: number | null = null;
  const drain = () => {
    for (const event of connection.events.splice(0)) {
      if (event.kind === 'message') {
        // A compressed message is checked again as it inflates; on the wire it may exceed the limit by deflate's worst case.
        const limit = event.compressed ? deflateBound(MAX_MESSAGE) : MAX_MESSAGE;
        assert.ok(event.data.length <= limit, `a ${event.data.length}-byte message passed the ${limit}-byte limit`);
        if (event.type === 'text' && !event.compressed) {
          const utf8 = new Utf8Validator();
          assert.ok(utf8.feed(event.data) && utf8.complete, 'a text message passed with invalid UTF-8');
        }
        events.push(`${event.type}${event.compressed ? '+z' : ''}:${event.data.toString('hex')}`);
      } else if (event.kind === 'close') {
        events.push(`close:${event.code}:${event.reason}`);
      } else {
        assert.ok(event.data.length <= 125, 'a control payload over 125 bytes passed');
        events.push(`${event.kind}:${event.data.toString('hex')}`);
      }
    }
  };
  for (const piece of pieces) {
    try {
      connection.receive(piece);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
      assert.ok(FAILURE_CODES.has(err.closeCode), `unexpected close code ${err.closeCode}`);
      code = err.closeCode;
      drain();
      // Once failed, more input is ignored, not re-parsed.
      connection.receive(Buffer.from([0x81, 0x80, 0, 0, 0, 0]));
      assert.equal(connection.events.length, 0, 'events after a protocol error');
      break;
    }
    drain();
  }
  return { events, code };
}

const PARSER_RUNS = fuzzRuns(100_000);

test(`Attack: ${PARSER_RUNS} fuzzed byte streams to the parser and state machine: only 1002/1007/1009, bounded messages, same outcome however split`, { timeout: 600_000 }, () => {
  let failures = 0;
  fc.assert(
    fc.property(streamArb, fc.array(fc.nat({ max: 400 }), { maxLength: 6 }), fc.boolean(), (stream, cuts, compression) => {
      const whole = feed([Buffer.from(stream)], compression);
      const split = feed(splitAt(stream, cuts), compression);
      assert.deepEqual(split, whole);
      if (whole.code !== null) failures++;
    }),
    { seed: FUZZ_SEED, numRuns: PARSER_RUNS },
  );
  // The generator must reach both outcomes, or the property proves little.
  assert.ok(failures > PARSER_RUNS / 10 && failures < PARSER_RUNS * 0.95, `${failures} of ${PARSER_RUNS} streams failed`);
});

// ---- the live server ----

/** Live cases cost a connection each: a hundredth of a long fuzz session's count. */
const LIVE_RUNS = Math.max(2000, Math.floor(fuzzRuns(0) / 100));
const HANDSHAKE_RUNS = Math.max(500, Math.floor(fuzzRuns(0) / 300));

let server: ChildServer;
let bystander: Bystander;
const suite = new Cleanups();
before(async () => {
  server = await startChildServer({ chat: { dataDir: tempDir(suite), rateLimit: 0 }, echoMaxMessageSize: 64 * 1024 });
  suite.after(async () => {
    const code = await server.stop();
    assert.equal(code, 0, 'the fuzzed server stops cleanly');
  });
  bystander = await Bystander.join(suite, server.wsBase);
});
after(() => suite.run());

/** Send `bytes` after a good handshake, then FIN; collect the server's close code (null: none sent). */
async function attackLive(bytes: Buffer, compression: boolean): Promise<number | null> {
  const client = await RawClient.connect(server.port);
  try {
    const extra: [string, string][] = compression ? [['sec-websocket-extensions', 'permessage-deflate']] : [];
    await client.handshake('/echo', { extra });
    client.send(bytes);
    client.socket.end();
    let code: number | null = null;
    try {
      code = (await client.closeFrame(5000)).code;
    } catch (err) {
      // No close frame: acceptable only if the server simply closed TCP after our FIN.
      if (!client.isEnded) throw err;
    }
    await client.waitEnd(5000);
    return code;
  } finally {
    client.destroy();
  }
}

/** A compressed frame (RSV1) carrying deflated `data`, for the inflater's share of the fuzzing. */
const compressedArb = fc
  .tuple(fc.uint8Array({ maxLength: 200 }), fc.array(mutationArb, { maxLength: 2 }), fc.boolean())
  .map(([data, mutations, text]) => {
    const deflated = deflateRawSync(Buffer.from(data));
    const payload = mutate(deflated.subarray(0, Math.max(0, deflated.length - 4)), mutations);
    return buildFrame({ opcode: text ? 0x1 : 0x2, rsv1: true, payload });
  });

test(`Attack: ${LIVE_RUNS} fuzzed frame streams to a live /echo: valid close codes only, every socket closed, no crash`, { timeout: 600_000 }, async () => {
  const start = await server.memory();
  const baseline = await server.connections();
  const codes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.oneof(streamArb, compressedArb), fc.boolean()), { minLength: 8, maxLength: 8 }), async (batch) => {
      // Eight connections at a time: the server sees them interleaved.
      const results = await Promise.all(batch.map(([bytes, compression]) => attackLive(bytes, compression)));
      for (const code of results) {
        assert.ok(code === null || code === 1000 || code === 1005 || FAILURE_CODES.has(code) || (code >= 3000 && code <= 4999), `close code ${code}`);
        const key = String(code);
        codes.set(key, (codes.get(key) ?? 0) + 1);
      }
    }),
    { seed: FUZZ_SEED, numRuns: Math.ceil(LIVE_RUNS / 8) },
  );
  assert.equal(server.process.exitCode, null, 'the server is still running');
  await connectionsSettle(server, baseline);
  const afterwards = await server.memory();
  const growth = afterwards.heapUsed - start.heapUsed;
  assert.ok(growth < 16 * 1024 * 1024, `heap grew by ${growth} bytes over ${LIVE_RUNS} fuzzed connections`);
  assert.ok((codes.get('1002') ?? 0) > 0 && (codes.get('null') ?? 0) + (codes.get('1005') ?? 0) + (codes.get('1000') ?? 0) > 0, `outcomes: ${JSON.stringify([...codes])}`);
  await bystander.check('live frame fuzzing');
});

test(`Attack: ${HANDSHAKE_RUNS} mutated handshakes to a live server: an HTTP answer or a clean close, never a crash`, { timeout: 600_000 }, async () => {
  const baseline = await server.connections();
  const paths = ['/echo', '/add', '/ws?room=fuzz&name=fuzzer'];
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...paths), fc.array(mutationArb, { minLength: 1, maxLength: 6 }), async (path, mutations) => {
      const request = mutate(Buffer.from(upgradeRequest(path).text, 'latin1'), mutations);
      const client = await RawClient.connect(server.port);
      try {
        client.send(request);
        client.socket.end();
        let status = 0;
        try {
          status = (await client.response(5000)).status;
        } catch (err) {
          if (!client.isEnded) throw err;
        }
        await client.waitEnd(5000);
        assert.ok(status === 0 || (status >= 100 && status < 600), `status ${status}`);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      } finally {
        client.destroy();
      }
    }),
    { seed: FUZZ_SEED, numRuns: HANDSHAKE_RUNS },
  );
  assert.equal(server.process.exitCode, null, 'the server is still running');
  await connectionsSettle(server, baseline);
  assert.ok((statuses.get(400) ?? 0) > 0, `statuses: ${JSON.stringify([...statuses])}`);
  await bystander.check('handshake fuzzing');
});
