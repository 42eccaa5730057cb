import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type HeaderRecord,
  buildAcceptResponse,
  buildErrorResponse,
  checkRequest,
  checkResponse,
  computeAccept,
  formatHeaders,
  generateKey,
  hasToken,
  headerValue,
  isValidKey,
} from '../../src/protocol/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** The RFC 6455 §1.2 request's headers, as Node's parser gives them, with `changes` applied. */
function request(changes: HeaderRecord = {}): HeaderRecord {
  const headers: HeaderRecord = {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    origin: 'http://example.com',
  };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

function status(headers: HeaderRecord, method = 'GET', httpVersion = '1.1'): number {
  const check = checkRequest(method, httpVersion, headers);
  return check.ok ? 101 : check.status;
}

test('computeAccept gives the RFC 6455 §1.3 example accept key', () => {
  assert.equal(computeAccept(KEY), ACCEPT);
});

test('generateKey makes valid, distinct keys', () => {
  const a = generateKey();
  const b = generateKey();
  assert.ok(isValidKey(a) && isValidKey(b));
  assert.equal(Buffer.from(a, 'base64').length, 16);
  assert.notEqual(a, b);
});

test('headerValue joins a repeated header and hasToken matches tokens case-insensitively', () => {
  assert.equal(headerValue({ a: ['x', 'y'] }, 'a'), 'x, y');
  assert.equal(headerValue({}, 'a'), undefined);
  assert.equal(hasToken('keep-alive, Upgrade', 'upgrade'), true);
  assert.equal(hasToken('keep-alive,UPGRADE ', 'upgrade'), true);
  assert.equal(hasToken('upgraded', 'upgrade'), false);
  assert.equal(hasToken(undefined, 'upgrade'), false);
});

test('checkRequest accepts the RFC 6455 §1.2 request', () => {
  const check = checkRequest('GET', '1.1', request());
  assert.deepEqual(check, { ok: true, key: KEY, protocols: [], protocol: '', deflate: null });
});

test('checkRequest answers a POST with 405 and Allow: GET', () => {
  const check = checkRequest('POST', '1.1', request());
  assert.equal(check.ok, false);
  assert.equal(!check.ok && check.status, 405);
  assert.deepEqual(!check.ok && check.headers, { Allow: 'GET' });
});

test('checkRequest answers an HTTP/1.0 request with 400', () => {
  assert.equal(status(request(), 'GET', '1.0'), 400);
  assert.equal(status(request(), 'GET', '2.0'), 101);
});

test('checkRequest answers a missing or invalid Upgrade header with 400', () => {
  assert.equal(status(request({ upgrade: undefined })), 400);
  assert.equal(status(request({ upgrade: 'h2c' })), 400);
  assert.equal(status(request({ upgrade: 'WebSocket' })), 101);
});

test('checkRequest answers a Connection header without the Upgrade token with 400', () => {
  assert.equal(status(request({ connection: undefined })), 400);
  assert.equal(status(request({ connection: 'keep-alive' })), 400);
  assert.equal(status(request({ connection: 'upgraded' })), 400);
});

test('checkRequest accepts "Connection: keep-alive, Upgrade" as browsers send it', () => {
  assert.equal(status(request({ connection: 'keep-alive, Upgrade' })), 101);
  assert.equal(status(request({ connection: 'keep-alive, upgrade' })), 101);
});

test('checkRequest answers version 8 or a missing version with 426 and Sec-WebSocket-Version: 13', () => {
  for (const version of ['8', undefined, '13, 8']) {
    const check = checkRequest('GET', '1.1', request({ 'sec-websocket-version': version }));
    assert.equal(check.ok, false, String(version));
    assert.equal(!check.ok && check.status, 426);
    assert.deepEqual(!check.ok && check.headers, { 'Sec-WebSocket-Version': '13' });
  }
});

test('checkRequest answers a bad Sec-WebSocket-Key with 400', () => {
  const cases: Record<string, string | string[] | undefined> = {
    missing: undefined,
    '15 bytes': Buffer.alloc(15, 1).toString('base64'),
    '17 bytes': Buffer.alloc(17, 1).toString('base64'),
    'not base64': '!!!!!!!!!!!!!!!!!!!!!!==',
    'duplicated, joined by the parser': `${KEY}, ${KEY}`,
    'duplicated, as an array': [KEY, KEY],
    empty: '',
  };
  for (const [name, key] of Object.entries(cases)) {
    assert.equal(status(request({ 'sec-websocket-key': key })), 400, name);
  }
});

test('checkRequest picks the server\'s first subprotocol that the client offered', () => {
  const policy = { subprotocols: ['chat', 'superchat'] };
  const pick = (offer: string | string[] | undefined) => {
    const check = checkRequest('GET', '1.1', request({ 'sec-websocket-protocol': offer }), policy);
    assert.ok(check.ok);
    return [check.protocol, check.protocols];
  };
  assert.deepEqual(pick('superchat, chat'), ['chat', ['superchat', 'chat']]);
  assert.deepEqual(pick('superchat'), ['superchat', ['superchat']]);
  assert.deepEqual(pick(['v2.json', 'superchat']), ['superchat', ['v2.json', 'superchat']]);
  assert.deepEqual(pick('mqtt'), ['', ['mqtt']]);
  assert.deepEqual(pick(undefined), ['', []]);
  // A server without subprotocols agrees to none.
  const check = checkRequest('GET', '1.1', request({ 'sec-websocket-protocol': 'chat' }));
  assert.ok(check.ok && check.protocol === '');
});

test('checkRequest negotiates permessage-deflate only when compression is enabled', () => {
  const headers = request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
  const off = checkRequest('GET', '1.1', headers);
  assert.ok(off.ok && off.deflate === null);
  const on = checkRequest('GET', '1.1', headers, { compression: {} });
  assert.ok(on.ok);
  assert.deepEqual(on.deflate, { windowBits: 15, noContextTakeover: false, peerNoContextTakeover: false, header: 'permessage-deflate' });
});

test('checkRequest answers a malformed Sec-WebSocket-Extensions header with 400', () => {
  assert.equal(status(request({ 'sec-websocket-extensions': 'permessage-deflate; x="a b"' })), 400);
  assert.equal(status(request({ 'sec-websocket-extensions': '; foo' })), 400);
});

test('buildAcceptResponse writes the 101 head with accept key, subprotocol, extension and extra headers', () => {
  const head = buildAcceptResponse(
    { ok: true, key: KEY, protocols: ['chat'], protocol: 'chat', deflate: { windowBits: 15, noContextTakeover: false, peerNoContextTakeover: false, header: 'permessage-deflate' } },
    { 'Set-Cookie': ['a=1', 'b=2'] },
  );
  assert.equal(
    head,
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n` +
      'Sec-WebSocket-Extensions: permessage-deflate\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n',
  );
});

test('buildErrorResponse writes a plain-text response whose Content-Length counts bytes', () => {
  const response = buildErrorResponse(426, 'Version 13 only ✓', { 'Sec-WebSocket-Version': '13' });
  const [head, body] = response.split('\r\n\r\n');
  assert.match(head!, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.match(head!, /\r\nConnection: close\r\n/);
  assert.match(head!, /\r\nSec-WebSocket-Version: 13$/);
  assert.equal(body, 'Version 13 only ✓\n');
  assert.match(head!, new RegExp(`Content-Length: ${Buffer.byteLength(body!)}\\r\\n`));
});

test('formatHeaders refuses a header name or value with a line break, so nothing can be injected', () => {
  assert.throws(() => formatHeaders({ 'X-A': 'ok\r\nSet-Cookie: evil=1' }), TypeError);
  assert.throws(() => formatHeaders({ 'X-A\n': 'ok' }), TypeError);
  assert.throws(() => formatHeaders({ 'X-A': ['fine', 'bad\n'] }), TypeError);
  assert.equal(formatHeaders({ 'X-A': 1, 'X-B': ['p', 'q'] }), 'X-A: 1\r\nX-B: p\r\nX-B: q\r\n');
});

/** A server's 101 response headers for KEY, with `changes` applied. */
function response(changes: HeaderRecord = {}): HeaderRecord {
  const headers: HeaderRecord = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': ACCEPT };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

test('checkResponse accepts the RFC 6455 §1.3 response', () => {
  assert.deepEqual(checkResponse(response(), KEY, [], false), { ok: true, protocol: '', deflate: null, extensions: '' });
});

test('checkResponse rejects a missing Upgrade or Connection header', () => {
  assert.equal(checkResponse(response({ upgrade: undefined }), KEY, [], false).ok, false);
  assert.equal(checkResponse(response({ upgrade: 'h2c' }), KEY, [], false).ok, false);
  assert.equal(checkResponse(response({ connection: 'keep-alive' }), KEY, [], false).ok, false);
});

test('checkResponse rejects a wrong or missing Sec-WebSocket-Accept', () => {
  assert.equal(checkResponse(response({ 'sec-websocket-accept': computeAccept(generateKey()) }), KEY, [], false).ok, false);
  assert.equal(checkResponse(response({ 'sec-websocket-accept': undefined }), KEY, [], false).ok, false);
  assert.equal(checkResponse(response({ 'sec-websocket-accept': ACCEPT.toLowerCase() }), KEY, [], false).ok, false);
});

test('checkResponse accepts an offered subprotocol and rejects one that was not offered', () => {
  const chosen = checkResponse(response({ 'sec-websocket-protocol': 'chat' }), KEY, ['superchat', 'chat'], false);
  assert.ok(chosen.ok && chosen.protocol === 'chat');
  assert.equal(checkResponse(response({ 'sec-websocket-protocol': 'mqtt' }), KEY, ['chat'], false).ok, false);
  assert.equal(checkResponse(response({ 'sec-websocket-protocol': 'chat' }), KEY, [], false).ok, false);
});

test('checkResponse rejects an extension that was not offered', () => {
  const deflate = { 'sec-websocket-extensions': 'permessage-deflate' };
  assert.equal(checkResponse(response(deflate), KEY, [], false).ok, false);
  assert.equal(checkResponse(response({ 'sec-websocket-extensions': 'x-webkit-deflate-frame' }), KEY, [], {}).ok, false);
  assert.equal(checkResponse(response({ 'sec-websocket-extensions': 'permessage-deflate, permessage-deflate' }), KEY, [], {}).ok, false);
});

test('checkResponse rejects bad permessage-deflate parameters', () => {
  for (const answer of [
    'permessage-deflate; client_max_window_bits=7',
    'permessage-deflate; client_max_window_bits=16',
    'permessage-deflate; client_max_window_bits',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; unknown_param',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; x="a b"',
  ]) {
    assert.equal(checkResponse(response({ 'sec-websocket-extensions': answer }), KEY, [], {}).ok, false, answer);
  }
});

test('checkResponse accepts a permessage-deflate answer and reports how to compress', () => {
  const check = checkResponse(
    response({ 'sec-websocket-extensions': 'permessage-deflate; client_no_context_takeover; client_max_window_bits=10' }),
    KEY,
    [],
    {},
  );
  assert.ok(check.ok);
  assert.deepEqual(check.deflate, {
    windowBits: 10,
    noContextTakeover: true,
    peerNoContextTakeover: false,
    header: 'permessage-deflate; client_no_context_takeover; client_max_window_bits=10',
  });
  assert.equal(check.extensions, 'permessage-deflate; client_no_context_takeover; client_max_window_bits=10');
});
