import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildConnectError,
  buildConnectRequest,
  buildConnectResponse,
  checkConnectRequest,
  checkConnectResponse,
  lowerCaseHeaders,
} from '../../src/protocol/connect.js';
import type { HeaderRecord } from '../../src/protocol/handshake.js';

/** The RFC 8441 §5.1 example request, as node:http2 gives it, with `changes` applied. */
function request(changes: HeaderRecord = {}): HeaderRecord {
  const headers: HeaderRecord = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':path': '/chat',
    ':authority': 'server.example.com',
    'sec-websocket-protocol': 'chat, superchat',
    'sec-websocket-version': '13',
    origin: 'http://www.example.com',
  };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

function status(headers: HeaderRecord): number {
  const check = checkConnectRequest(headers, { subprotocols: ['superchat'], compression: {} });
  return check.ok ? 200 : check.status;
}

test('checkConnectRequest accepts the RFC 8441 §5.1 example and picks the subprotocol', () => {
  const check = checkConnectRequest(request(), { subprotocols: ['superchat', 'chat'] });
  assert.ok(check.ok);
  assert.deepEqual(check.protocols, ['chat', 'superchat']);
  assert.equal(check.protocol, 'superchat');
  assert.equal(check.deflate, null);
});

test('checkConnectRequest needs no Sec-WebSocket-Key and ignores one that is there', () => {
  assert.equal(status(request()), 200);
  assert.equal(status(request({ 'sec-websocket-key': 'not a key at all' })), 200);
});

test('checkConnectRequest refuses a request that is not an extended CONNECT with 400', () => {
  assert.equal(status(request({ ':method': 'GET' })), 400);
  assert.equal(status(request({ ':protocol': undefined })), 400);
});

test('checkConnectRequest answers 501 to a :protocol other than websocket, and takes any case of websocket', () => {
  const check = checkConnectRequest(request({ ':protocol': 'connect-udp' }));
  assert.ok(!check.ok);
  assert.equal(check.status, 501);
  assert.match(check.reason, /connect-udp/);
  assert.equal(status(request({ ':protocol': 'WebSocket' })), 200);
});

test('checkConnectRequest refuses an extended CONNECT without :scheme, :path or :authority (RFC 8441 §4)', () => {
  for (const field of [':scheme', ':path', ':authority']) {
    assert.equal(status(request({ [field]: undefined })), 400, field);
    assert.equal(status(request({ [field]: '' })), 400, `${field} empty`);
  }
});

test('checkConnectRequest refuses a missing or wrong Sec-WebSocket-Version with 400 naming 13', () => {
  for (const version of [undefined, '8', '13, 8']) {
    const check = checkConnectRequest(request({ 'sec-websocket-version': version }));
    assert.ok(!check.ok, String(version));
    assert.equal(check.status, 400);
    assert.deepEqual(check.headers, { 'sec-websocket-version': '13' });
  }
});

test('checkConnectRequest negotiates permessage-deflate and refuses a malformed extensions header', () => {
  const check = checkConnectRequest(request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' }), { compression: {} });
  assert.ok(check.ok);
  assert.equal(check.deflate?.header, 'permessage-deflate');
  assert.equal(status(request({ 'sec-websocket-extensions': 'permessage-deflate; =' })), 400);
});

test('buildConnectResponse is 200 with the agreed subprotocol and extensions, and no Sec-WebSocket-Accept', () => {
  const check = checkConnectRequest(request({ 'sec-websocket-extensions': 'permessage-deflate' }), { subprotocols: ['chat'], compression: {} });
  assert.ok(check.ok);
  const headers = buildConnectResponse(check, { 'X-Node': 'a', 'Set-Cookie': ['a=1', 'b=2'] });
  assert.deepEqual(headers, {
    ':status': 200,
    'sec-websocket-protocol': 'chat',
    'sec-websocket-extensions': 'permessage-deflate',
    'x-node': 'a',
    'set-cookie': ['a=1', 'b=2'],
  });
  assert.equal('sec-websocket-accept' in headers, false);
});

test('buildConnectResponse refuses connection-specific and pseudo-header fields and line breaks with TypeError', () => {
  const check = checkConnectRequest(request());
  assert.ok(check.ok);
  const extras: Record<string, string>[] = [{ Connection: 'close' }, { Upgrade: 'websocket' }, { 'Transfer-Encoding': 'chunked' }, { ':status': '101' }, { 'x-a': 'b\r\nc: d' }];
  for (const extra of extras) {
    assert.throws(() => buildConnectResponse(check, extra), TypeError, JSON.stringify(extra));
  }
});

test('buildConnectError is the status with a plain-text type, and leaves out fields HTTP/2 cannot carry', () => {
  assert.deepEqual(buildConnectError(429, { 'Retry-After': '5' }), { ':status': 429, 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' });
  assert.deepEqual(buildConnectError(400, { Connection: 'close' }), { ':status': 400, 'content-type': 'text/plain; charset=utf-8' });
});

test('buildConnectRequest makes the RFC 8441 §5.1 request, a Host header becoming :authority', () => {
  const headers = buildConnectRequest({
    scheme: 'https',
    authority: 'server.example.com',
    path: '/chat?room=a',
    subprotocols: ['chat', 'superchat'],
    compression: {},
    headers: { Origin: 'http://www.example.com', Host: 'other.example.com:8443' },
  });
  assert.deepEqual(headers, {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':authority': 'other.example.com:8443',
    ':path': '/chat?room=a',
    'sec-websocket-version': '13',
    'sec-websocket-protocol': 'chat, superchat',
    'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
    origin: 'http://www.example.com',
  });
  assert.throws(() => buildConnectRequest({ scheme: 'http', authority: 'a', path: '/', subprotocols: [], compression: false, headers: { Connection: 'Upgrade' } }), TypeError);
});

test('checkConnectResponse takes any 2xx and refuses other statuses', () => {
  assert.ok(checkConnectResponse({ ':status': '200' }, [], false).ok);
  assert.ok(checkConnectResponse({ ':status': '204' }, [], false).ok);
  for (const code of ['101', '301', '400', '501']) assert.equal(checkConnectResponse({ ':status': code }, [], false).ok, false, code);
  assert.equal(checkConnectResponse({}, [], false).ok, false);
});

test('checkConnectResponse checks the subprotocol and extensions against the offer', () => {
  const unoffered = checkConnectResponse({ ':status': '200', 'sec-websocket-protocol': 'other' }, ['chat'], false);
  assert.ok(!unoffered.ok);
  assert.match(unoffered.reason, /other/);
  assert.equal(checkConnectResponse({ ':status': '200', 'sec-websocket-extensions': 'permessage-deflate' }, [], false).ok, false);
  const agreed = checkConnectResponse({ ':status': '200', 'sec-websocket-protocol': 'chat', 'sec-websocket-extensions': 'permessage-deflate' }, ['chat'], {});
  assert.ok(agreed.ok);
  assert.equal(agreed.protocol, 'chat');
  assert.ok(agreed.deflate !== null);
});

test('lowerCaseHeaders lower-cases names and keeps repeated values', () => {
  assert.deepEqual(lowerCaseHeaders({ 'X-Trace': 7, 'Set-Cookie': ['a', 'b'] }), { 'x-trace': '7', 'set-cookie': ['a', 'b'] });
});
