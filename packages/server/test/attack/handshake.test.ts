/**
 * Attack: broken opening handshakes on a raw socket. Each gets the right
 * HTTP status, the server closes the connection, no socket leaks, and the
 * bystanders keep echoing and chatting.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Bystander, Cleanups, connectionsSettle, startTarget, type AttackTarget } from '../helpers/attack-server.js';
import { RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';

let target: AttackTarget;
let bystander: Bystander;
let baseline: { tcp: number; webSockets: number };

const suite = new Cleanups();
before(async () => {
  target = await startTarget(suite);
  bystander = await Bystander.join(suite, target.wsBase);
  baseline = await target.connections();
});
after(() => suite.run());

interface Case {
  attack: string;
  request: string;
  status: number;
  /** Something the plain-text body must contain: the reason a client sees. */
  body: RegExp;
  headers?: Record<string, string>;
}

const CHAT = '/ws?room=bystanders&name=mallory';
const CASES: Case[] = [
  { attack: 'missing Sec-WebSocket-Key', request: upgradeRequest('/echo', { omit: ['sec-websocket-key'] }).text, status: 400, body: /Sec-WebSocket-Key/ },
  {
    attack: 'duplicated Sec-WebSocket-Key',
    request: upgradeRequest('/echo', { extra: [['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ==']] }).text,
    status: 400,
    body: /Sec-WebSocket-Key/,
  },
  { attack: 'key of 15 bytes', request: upgradeRequest('/echo', { key: Buffer.alloc(15, 7).toString('base64') }).text, status: 400, body: /Sec-WebSocket-Key/ },
  { attack: 'key of 17 bytes', request: upgradeRequest('/echo', { key: Buffer.alloc(17, 7).toString('base64') }).text, status: 400, body: /Sec-WebSocket-Key/ },
  { attack: 'key that is not base64', request: upgradeRequest('/add', { key: 'not*base64*at*all*!!!==' }).text, status: 400, body: /Sec-WebSocket-Key/ },
  { attack: 'empty key', request: upgradeRequest('/add', { key: '' }).text, status: 400, body: /Sec-WebSocket-Key/ },
  {
    attack: 'wrong version 8',
    request: upgradeRequest('/echo', { set: { 'sec-websocket-version': '8' } }).text,
    status: 426,
    body: /Sec-WebSocket-Version/,
    headers: { 'sec-websocket-version': '13' },
  },
  {
    attack: 'missing Sec-WebSocket-Version',
    request: upgradeRequest('/add', { omit: ['sec-websocket-version'] }).text,
    status: 426,
    body: /Sec-WebSocket-Version/,
    headers: { 'sec-websocket-version': '13' },
  },
  {
    attack: 'duplicated Sec-WebSocket-Version',
    request: upgradeRequest('/echo', { extra: [['sec-websocket-version', '13']] }).text,
    status: 426,
    body: /Sec-WebSocket-Version/,
  },
  { attack: 'missing Host', request: upgradeRequest('/echo', { omit: ['host'] }).text, status: 400, body: /Host/ },
  { attack: 'duplicated Host', request: upgradeRequest('/echo', { extra: [['host', 'evil.example']] }).text, status: 400, body: /Host/ },
  { attack: 'duplicated Host on /ws', request: upgradeRequest(CHAT, { extra: [['host', 'evil.example']] }).text, status: 400, body: /Host/ },
  { attack: 'Upgrade: h2c instead of websocket', request: upgradeRequest('/echo', { set: { upgrade: 'h2c' } }).text, status: 400, body: /Upgrade/ },
  { attack: 'POST upgrade', request: upgradeRequest('/echo').text.replace('GET', 'POST'), status: 405, body: /GET/, headers: { allow: 'GET' } },
  { attack: 'HTTP/1.0 upgrade', request: upgradeRequest('/echo').text.replace('HTTP/1.1', 'HTTP/1.0'), status: 400, body: /HTTP\/1\.1/ },
  {
    attack: 'malformed Sec-WebSocket-Extensions',
    request: upgradeRequest('/echo', { extra: [['sec-websocket-extensions', 'permessage-deflate; ;;=']] }).text,
    status: 400,
    body: /Extensions/,
  },
  { attack: 'oversized headers (20 KiB cookie)', request: upgradeRequest('/echo', { extra: [['cookie', 'a'.repeat(20_000)]] }).text, status: 431, body: /too large/i },
  {
    attack: 'oversized headers (4,000 short header lines)',
    request: upgradeRequest('/echo', { extra: Array.from({ length: 4000 }, (_, i): [string, string] => [`x-h${i}`, 'v']) }).text,
    status: 431,
    body: /too large/i,
  },
  { attack: 'garbage before the request line', request: `\x00\x01\xfe garbage\r\n${upgradeRequest('/echo').text}`, status: 400, body: /Bad request/ },
  { attack: 'binary noise instead of a request', request: Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) % 256)).toString('latin1'), status: 400, body: /Bad request/ },
  { attack: 'bare LF line endings', request: upgradeRequest('/echo').text.replaceAll('\r\n', '\n'), status: 400, body: /Bad request/ },
  { attack: 'upgrade to a route that is not a WebSocket endpoint', request: upgradeRequest('/nope').text, status: 404, body: /No WebSocket endpoint/ },
  { attack: 'plain HTTP GET to /echo', request: 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', status: 426, body: /WebSocket/, headers: { upgrade: 'websocket' } },
  { attack: 'plain HTTP GET to /add', request: 'GET /add HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', status: 426, body: /WebSocket/ },
  { attack: 'plain HTTP GET to /ws', request: 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', status: 426, body: /WebSocket/ },
  { attack: 'chat upgrade without room and name', request: upgradeRequest('/ws').text, status: 400, body: /room/ },
];

for (const { attack, request, status, body, headers } of CASES) {
  test(`Attack: ${attack} gets ${status} and the connection closed; bystanders unaffected`, async () => {
    const response = await rawRequest(target.port, request);
    assert.equal(response.status, status, `status for ${attack}: ${response.body}`);
    assert.match(response.body, body);
    for (const [name, value] of Object.entries(headers ?? {})) assert.equal(response.headers[name], value, `${name} header`);
    assert.equal(response.headers['sec-websocket-accept'], undefined, 'no upgrade happened');
    await bystander.check(attack);
  });
}

test('Attack: an upgrade missing Connection: Upgrade is a plain request and gets 426, never 101', async () => {
  const client = await RawClient.connect(target.port);
  try {
    client.send(upgradeRequest('/echo', { omit: ['connection'] }).text);
    const response = await client.response();
    assert.equal(response.status, 426);
    assert.equal(response.headers['upgrade'], 'websocket');
  } finally {
    client.destroy();
  }
  await bystander.check('missing Connection header');
});

test('Attack: 200 broken handshakes at once leave no socket behind', async () => {
  const requests = Array.from({ length: 200 }, (_, i) => CASES[i % CASES.length]!);
  const results = await Promise.all(requests.map((c) => rawRequest(target.port, c.request, 10_000)));
  results.forEach((r, i) => assert.equal(r.status, requests[i]!.status, requests[i]!.attack));
  await connectionsSettle(target, baseline);
  await bystander.check('200 broken handshakes');
});

test('Attack aftermath: TCP and WebSocket counts are back to the baseline', async () => {
  const now = await connectionsSettle(target, baseline);
  assert.deepEqual(now, baseline);
});
