import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type DeflateOptions,
  type ExtensionOffer,
  acceptDeflateAnswer,
  acceptDeflateOffer,
  deflateOfferHeader,
  parseExtensions,
} from '../../src/protocol/extensions.js';
import { FUZZ_SEED, fuzzRuns } from 'wskit-testing/bytes';

/** Offers with their params as plain objects, for deepEqual. */
function parsed(header: string): { name: string; params: Record<string, string | true> }[] | null {
  return parseExtensions(header)?.map((o) => ({ name: o.name, params: { ...o.params } })) ?? null;
}

function offer(header: string): ExtensionOffer {
  const offers = parseExtensions(header);
  assert.ok(offers && offers.length === 1, header);
  return offers[0]!;
}

/** The server's answer to a client header, or null when it declines. */
function answer(header: string, options: DeflateOptions = {}): string | null {
  const offers = parseExtensions(header);
  assert.ok(offers, header);
  return acceptDeflateOffer(offers, options)?.header ?? null;
}

test('parseExtensions reads names and parameters, with and without values', () => {
  assert.deepEqual(parsed('permessage-deflate; client_max_window_bits; server_max_window_bits=10'), [
    { name: 'permessage-deflate', params: { client_max_window_bits: true, server_max_window_bits: '10' } },
  ]);
});

test('parseExtensions reads several offers in order, ignoring spaces, case and empty items', () => {
  assert.deepEqual(parsed(' Permessage-Deflate ;Server_No_Context_Takeover , , x-foo'), [
    { name: 'permessage-deflate', params: { server_no_context_takeover: true } },
    { name: 'x-foo', params: {} },
  ]);
  assert.deepEqual(parsed(''), []);
});

test('parseExtensions unquotes quoted values (RFC 6455 §9.1)', () => {
  assert.deepEqual(parsed('permessage-deflate; client_max_window_bits="10"'), [
    { name: 'permessage-deflate', params: { client_max_window_bits: '10' } },
  ]);
});

test('parseExtensions refuses malformed headers', () => {
  for (const header of [
    'permessage-deflate; x="a b"',
    'permessage-deflate; x="a,b"',
    'permessage-deflate; x="10',
    'permessage-deflate; x=',
    'permessage-deflate;',
    '; x',
    'a b',
    'permessage-deflate; client_max_window_bits=1 0',
  ]) {
    assert.equal(parseExtensions(header), null, header);
  }
});

test('acceptDeflateOffer accepts a plain offer with the defaults', () => {
  assert.deepEqual(acceptDeflateOffer(parseExtensions('permessage-deflate')!), {
    windowBits: 15,
    noContextTakeover: false,
    peerNoContextTakeover: false,
    header: 'permessage-deflate',
  });
});

test('acceptDeflateOffer answers each RFC 7692 §7.1 parameter', () => {
  const cases: [string, string, number, boolean, boolean][] = [
    // offer, answer header, our window bits, our no-context-takeover, the client's
    ['permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover', 15, true, false],
    ['permessage-deflate; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover', 15, false, true],
    ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10', 10, false, false],
    ['permessage-deflate; server_max_window_bits=15', 'permessage-deflate; server_max_window_bits=15', 15, false, false],
    ['permessage-deflate; server_max_window_bits=9', 'permessage-deflate; server_max_window_bits=9', 9, false, false],
    ['permessage-deflate; client_max_window_bits', 'permessage-deflate', 15, false, false],
    ['permessage-deflate; client_max_window_bits=10', 'permessage-deflate; client_max_window_bits=10', 15, false, false],
    [
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11',
      12,
      true,
      true,
    ],
  ];
  for (const [offered, header, windowBits, noContextTakeover, peerNoContextTakeover] of cases) {
    assert.deepEqual(acceptDeflateOffer(parseExtensions(offered)!), { windowBits, noContextTakeover, peerNoContextTakeover, header }, offered);
  }
  // Asked for by the server's options, the client's reset is agreed even when not offered.
  const asked = acceptDeflateOffer(parseExtensions('permessage-deflate')!, { requestNoContextTakeover: true });
  assert.deepEqual(asked && [asked.header, asked.peerNoContextTakeover], ['permessage-deflate; client_no_context_takeover', true]);
});

test('acceptDeflateOffer declines offers with bad, unknown or repeated parameters', () => {
  for (const offered of [
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=abc',
    'permessage-deflate; client_max_window_bits=16',
    'permessage-deflate; client_max_window_bits=010',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; client_no_context_takeover=yes',
    'permessage-deflate; unknown_param',
    'permessage-deflate; __proto__=10',
    'permessage-deflate; constructor',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; client_max_window_bits=10; client_max_window_bits=11',
    'x-webkit-deflate-frame',
  ]) {
    assert.equal(answer(offered), null, offered);
  }
});

test('acceptDeflateOffer accepts server_max_window_bits=8, which the server honours by not compressing', () => {
  assert.deepEqual(acceptDeflateOffer(parseExtensions('permessage-deflate; server_max_window_bits=8')!), {
    windowBits: 8,
    noContextTakeover: false,
    peerNoContextTakeover: false,
    header: 'permessage-deflate; server_max_window_bits=8',
  });
});

test('acceptDeflateOffer takes the first acceptable offer', () => {
  assert.equal(
    answer('x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=11'),
    'permessage-deflate; server_max_window_bits=11',
  );
});

test('acceptDeflateOffer applies the server options: window limit, context takeover for both sides', () => {
  assert.equal(answer('permessage-deflate', { maxWindowBits: 12 }), 'permessage-deflate; server_max_window_bits=12');
  assert.equal(answer('permessage-deflate; server_max_window_bits=14', { maxWindowBits: 12 }), 'permessage-deflate; server_max_window_bits=12');
  assert.equal(answer('permessage-deflate; server_max_window_bits=10', { maxWindowBits: 12 }), 'permessage-deflate; server_max_window_bits=10');
  assert.equal(answer('permessage-deflate', { noContextTakeover: true }), 'permessage-deflate; server_no_context_takeover');
  assert.equal(answer('permessage-deflate', { requestNoContextTakeover: true }), 'permessage-deflate; client_no_context_takeover');
  const params = acceptDeflateOffer(parseExtensions('permessage-deflate')!, { noContextTakeover: true, maxWindowBits: 10 });
  assert.deepEqual(params && { bits: params.windowBits, reset: params.noContextTakeover }, { bits: 10, reset: true });
});

test('deflateOfferHeader offers client_max_window_bits and the context-takeover options', () => {
  assert.equal(deflateOfferHeader(), 'permessage-deflate; client_max_window_bits');
  assert.equal(
    deflateOfferHeader({ requestNoContextTakeover: true, noContextTakeover: true }),
    'permessage-deflate; client_max_window_bits; server_no_context_takeover; client_no_context_takeover',
  );
});

test('acceptDeflateAnswer accepts valid answers and reports how the client compresses', () => {
  const cases: [string, DeflateOptions, number, boolean, boolean][] = [
    ['permessage-deflate', {}, 15, false, false],
    ['permessage-deflate; client_max_window_bits=9', {}, 9, false, false],
    // Our offer's bare client_max_window_bits accepts 8 too (RFC 7692 §7.1.2.2); Conn then sends uncompressed.
    ['permessage-deflate; client_max_window_bits=8', {}, 8, false, false],
    ['permessage-deflate; client_max_window_bits=12', { maxWindowBits: 10 }, 10, false, false],
    ['permessage-deflate; client_no_context_takeover', {}, 15, true, false],
    ['permessage-deflate', { noContextTakeover: true }, 15, true, false],
    ['permessage-deflate; server_no_context_takeover; server_max_window_bits=10', { requestNoContextTakeover: true }, 15, false, true],
  ];
  for (const [header, options, windowBits, noContextTakeover, peerNoContextTakeover] of cases) {
    const result = acceptDeflateAnswer(offer(header), options);
    assert.ok(typeof result !== 'string', `${header}: ${String(result)}`);
    assert.deepEqual(
      [result.windowBits, result.noContextTakeover, result.peerNoContextTakeover, result.header],
      [windowBits, noContextTakeover, peerNoContextTakeover, header],
      header,
    );
  }
});

test('acceptDeflateAnswer rejects answers the client may not accept', () => {
  const cases: [string, DeflateOptions][] = [
    ['permessage-deflate; client_max_window_bits=7', {}],
    ['permessage-deflate; client_max_window_bits', {}],
    ['permessage-deflate; client_max_window_bits=16', {}],
    ['permessage-deflate; server_max_window_bits=16', {}],
    ['permessage-deflate; server_max_window_bits', {}],
    ['permessage-deflate; server_no_context_takeover=x', {}],
    ['permessage-deflate; client_no_context_takeover=x', {}],
    ['permessage-deflate; mystery', {}],
    ['permessage-deflate; client_no_context_takeover; client_no_context_takeover', {}],
    // We asked the server to reset its context and it did not agree.
    ['permessage-deflate', { requestNoContextTakeover: true }],
  ];
  for (const [header, options] of cases) {
    assert.equal(typeof acceptDeflateAnswer(offer(header), options), 'string', header);
  }
});

test('our client and our server always agree on permessage-deflate, whatever their options', () => {
  const options = fc.record(
    {
      noContextTakeover: fc.boolean(),
      requestNoContextTakeover: fc.boolean(),
      maxWindowBits: fc.integer({ min: 9, max: 15 }),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(options, options, (client, server) => {
      const agreed = acceptDeflateOffer(parseExtensions(deflateOfferHeader(client))!, server);
      assert.ok(agreed, 'the server declined our own offer');
      assert.equal(agreed.windowBits, server.maxWindowBits ?? 15);
      assert.equal(agreed.noContextTakeover, Boolean(server.noContextTakeover || client.requestNoContextTakeover));
      const answers = parseExtensions(agreed.header);
      assert.ok(answers && answers.length === 1);
      const result = acceptDeflateAnswer(answers[0]!, client);
      assert.ok(typeof result !== 'string', result as string);
      assert.equal(result.windowBits, client.maxWindowBits ?? 15);
      assert.equal(result.noContextTakeover, Boolean(client.noContextTakeover || server.requestNoContextTakeover));
    }),
    { seed: FUZZ_SEED, numRuns: fuzzRuns(200) },
  );
});
