// The server API (/api/...) over real sockets: every status it answers, on
// the embedded store and on two nodes sharing one real redis-server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { redisSkip, startRedisServer, type RedisServer } from 'wskit-testing/redis-server';
import { MAX_API_BODY_BYTES } from '../../src/chat/api.js';
import type { ChatMessage } from '../../src/chat/broker.js';
import { createChat, type ChatOptions } from '../../src/chat/index.js';
import { MAX_TEXT_BYTES } from '../../src/chat/messages.js';
import { Peer, startChat, tempDataDir, type ChatServer } from './harness.js';

const KEY = 'test-key-0123456789abcdef';

type Hooks = { after: (fn: () => void | Promise<void>) => void };

/** Writes KEY (with a trailing newline, as editors leave it) to a file in `dir`. */
function keyFile(dir: string, key = `${KEY}\n`): string {
  const path = join(dir, 'api-key');
  writeFileSync(path, key);
  return path;
}

/** A chat app with the API on (unless `apiKeyFile` is set to undefined), stopped after the test. */
async function chat(t: Hooks, options: ChatOptions = {}): Promise<ChatServer> {
  const dataDir = tempDataDir(t);
  const server = await startChat({ dataDir, rateLimit: 0, apiKeyFile: keyFile(dataDir), ...options });
  t.after(() => server.stop());
  return server;
}

async function enter(t: Hooks, server: ChatServer, room: string, name: string): Promise<Peer> {
  const peer = await Peer.connect(server.wsUrl({ room, name }));
  t.after(() => peer.conn.terminate());
  await peer.waitFor(() => peer.of('history').length > 0, `${name} to join ${room}`);
  return peer;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body; undefined when it is empty or not JSON. */
  json: any;
}

interface CallOptions {
  /** The bearer key; null sends no Authorization header. Unset: KEY. */
  key?: string | null;
  /** An object is sent as JSON (with its content type); a string or Buffer as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the body chunked, without Content-Length. */
  chunked?: boolean;
}

/** One HTTP request to 127.0.0.1:port with the path exactly as given (no normalization, unlike fetch). */
function call(server: ChatServer | { port: number }, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const { key = KEY, headers = {}, chunked = false } = options;
  let body: Buffer | undefined;
  const sent: Record<string, string> = { ...headers };
  if (key !== null) sent.authorization = `Bearer ${key}`;
  if (options.body !== undefined) {
    if (typeof options.body === 'string' || Buffer.isBuffer(options.body)) body = Buffer.from(options.body);
    else {
      body = Buffer.from(JSON.stringify(options.body));
      sent['content-type'] ??= 'application/json';
    }
    if (!chunked) sent['content-length'] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`${method} ${path}: no answer within 5000 ms`)));
    req.on('error', reject);
    // end(body) alone would make the client compute a Content-Length.
    if (chunked && body !== undefined) req.write(body);
    req.end(chunked ? undefined : body);
  });
}

function post(server: ChatServer | { port: number }, room: string, body: unknown, options: CallOptions = {}): Promise<Answer> {
  return call(server, 'POST', `/api/rooms/${encodeURIComponent(room)}/messages`, { body, ...options });
}

/** Asserts the status and a JSON error body with a reason. */
function assertRefused(answer: Answer, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: expected ${status}, got ${answer.status} ${answer.text}`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, what);
  assert.equal(typeof answer.json?.error, 'string', `${what}: a JSON error body`);
  assert.ok(answer.json.error.length > 0, `${what}: a reason`);
}

/** Poll `predicate` every 10 ms; fail with `what` after `timeoutMs`. */
async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How the peer's connection ended; fails after `timeoutMs` if it is still open. */
async function endOf(peer: Peer, timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for the connection to close`)), timeoutMs);
  });
  return Promise.race([peer.ended, timeout]).finally(() => clearTimeout(timer));
}

async function usersOf(server: ChatServer, room: string): Promise<string[]> {
  const answer = await call(server, 'GET', `/api/rooms/${encodeURIComponent(room)}/presence`);
  assert.equal(answer.status, 200, answer.text);
  return answer.json.users as string[];
}

describe('server API on the embedded store', () => {
  test('without --api-key-file every /api/ path gets the 404 of an unknown route', async (t) => {
    const server = await chat(t, { apiKeyFile: undefined });
    const unknown = await call(server, 'GET', '/no-such-page');
    assert.equal(unknown.status, 404);
    for (const [method, path] of [['GET', '/api/rooms/lobby/presence'], ['POST', '/api/rooms/lobby/messages'], ['GET', '/api'], ['DELETE', '/api/rooms/lobby/members/alice']]) {
      const answer = await call(server, method!, path!, { body: method === 'POST' ? { from: 'a', text: 'b' } : undefined });
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.equal(answer.text, unknown.text, `${method} ${path} answers as an unknown route does`);
    }
  });

  test('a missing, malformed or wrong key gets 401 with WWW-Authenticate: Bearer and a reason that does not echo the key', async (t) => {
    const server = await chat(t);
    const guess = 'guessed-key-with-a-marker-XYZZY';
    const cases: [string, CallOptions][] = [
      ['no Authorization header', { key: null }],
      ['another scheme', { key: null, headers: { authorization: `Basic ${guess}` } }],
      ['a wrong key', { key: guess }],
      ['the key with a suffix', { key: `${KEY}x` }],
      ['a prefix of the key', { key: KEY.slice(0, -1) }],
    ];
    for (const [what, options] of cases) {
      const answer = await call(server, 'GET', '/api/rooms/lobby/presence', options);
      assertRefused(answer, 401, what);
      assert.match(String(answer.headers['www-authenticate']), /^Bearer\b/, what);
      assert.ok(!answer.text.includes('XYZZY') && !answer.text.includes(KEY.slice(0, 8)), `${what}: the reason echoes no key: ${answer.text}`);
    }
    // Unknown routes are behind the key too: nothing is learned without it.
    assertRefused(await call(server, 'GET', '/api/nothing', { key: null }), 401, 'unknown route without a key');
    assert.equal((await call(server, 'GET', '/api/rooms/lobby/presence')).status, 200, 'the key from the file, its trailing newline stripped');
  });

  test('an address over its failed-key budget gets 429 with Retry-After before its key is checked', async (t) => {
    const server = await chat(t, { maxAuthFailuresPerMinute: 2 });
    // A missing key is not a guess: it does not spend the budget.
    for (let i = 0; i < 3; i++) assert.equal((await call(server, 'GET', '/api/rooms/lobby/presence', { key: null })).status, 401);
    assert.equal((await call(server, 'GET', '/api/rooms/lobby/presence')).status, 200, 'missing keys spent no budget');
    for (let i = 0; i < 2; i++) assertRefused(await call(server, 'GET', '/api/rooms/lobby/presence', { key: 'wrong-key-0123456789' }), 401, `wrong key ${i}`);
    const answer = await call(server, 'GET', '/api/rooms/lobby/presence');
    assertRefused(answer, 429, 'the right key from an address over budget');
    assert.ok(Number(answer.headers['retry-after']) >= 1, `Retry-After: ${answer.headers['retry-after']}`);
    assertRefused(await post(server, 'lobby', { from: 'app', text: 'hi' }), 429, 'a post from an address over budget');
  });

  test('a message posted through the API is stored and reaches members live, in history and in a joiner\'s history frame', async (t) => {
    const server = await chat(t);
    const member = await enter(t, server, 'lobby', 'alice');
    const other = await enter(t, server, 'side', 'bob');
    const answer = await post(server, 'lobby', { from: 'Build bot', text: 'deploy finished ✓' });
    assert.equal(answer.status, 201, answer.text);
    const stored = answer.json as ChatMessage;
    assert.match(stored.id, /^\d+-\d+$/);
    assert.deepEqual({ ...stored, ts: 0 }, { type: 'message', id: stored.id, room: 'lobby', from: 'Build bot', text: 'deploy finished ✓', ts: 0 });

    await member.waitMessages(1);
    assert.deepEqual(member.messages(), [stored], 'the member gets the stored message, as a member\'s would arrive');
    const history = await call(server, 'GET', '/api/rooms/lobby/messages');
    assert.equal(history.status, 200);
    assert.deepEqual(history.json, { messages: [stored] });
    const joiner = await enter(t, server, 'lobby', 'carol');
    assert.deepEqual(joiner.of('history')[0]!.messages, [stored]);

    // A member's reply follows the API's message in one order.
    await member.say('thanks');
    await member.waitMessages(2);
    assert.deepEqual(member.messages().map((m) => [m.from, m.text]), [['Build bot', 'deploy finished ✓'], ['alice', 'thanks']]);
    assert.deepEqual(other.messages(), [], 'another room hears nothing');
  });

  test('room and name path segments are percent-decoded; an encoded slash is a bad room, not another route', async (t) => {
    const server = await chat(t);
    const member = await enter(t, server, 'café', 'zoë');
    assert.equal((await post(server, 'café', { from: 'app', text: 'bonjour' })).status, 201);
    await member.waitMessages(1);
    assert.equal(member.messages()[0]!.room, 'café');
    await waitFor('zoë in the presence', async () => (await usersOf(server, 'café')).includes('zoë'));
    assert.deepEqual(await call(server, 'GET', '/api/rooms/caf%C3%A9/presence').then((a) => a.json), { users: ['zoë'], next: null, count: 1 });
    assertRefused(await post(server, 'a/b', { from: 'app', text: 'x' }), 400, 'room a%2Fb');
    assertRefused(await call(server, 'GET', '/api/rooms/%E0%A4%A/messages'), 400, 'broken percent-encoding');
    assertRefused(await call(server, 'GET', '/api/rooms/a/b/messages'), 404, 'an unencoded slash makes another path');
  });

  test('a post with bad JSON, room, name or text gets 400 with a reason, and nothing is stored', async (t) => {
    const server = await chat(t);
    const cases: [string, string, unknown][] = [
      ['not JSON', 'lobby', '{"from":"app",'],
      ['not an object', 'lobby', '["app","hi"]'],
      ['JSON null', 'lobby', 'null'],
      ['invalid UTF-8', 'lobby', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
      ['no from', 'lobby', { text: 'hi' }],
      ['from not a string', 'lobby', { from: 7, text: 'hi' }],
      ['from with a tag', 'lobby', { from: '<b>boss</b>', text: 'hi' }],
      ['from too long', 'lobby', { from: 'x'.repeat(65), text: 'hi' }],
      ['no text', 'lobby', { from: 'app' }],
      ['empty text', 'lobby', { from: 'app', text: '' }],
      ['text too long', 'lobby', { from: 'app', text: 'x'.repeat(MAX_TEXT_BYTES + 1) }],
      ['a room with a space', 'two words', { from: 'app', text: 'hi' }],
      ['a room with a tag', '<script>', { from: 'app', text: 'hi' }],
    ];
    for (const [what, room, body] of cases) {
      const options: CallOptions = typeof body === 'string' || Buffer.isBuffer(body) ? { headers: { 'content-type': 'application/json' } } : {};
      assertRefused(await post(server, room, body, options), 400, what);
    }
    assertRefused(await call(server, 'POST', '/api/rooms//messages', { body: { from: 'app', text: 'hi' } }), 400, 'an empty room');
    assert.deepEqual((await call(server, 'GET', '/api/rooms/lobby/messages')).json, { messages: [] });
  });

  test('a post that is not application/json gets 415', async (t) => {
    const server = await chat(t);
    const body = JSON.stringify({ from: 'app', text: 'hi' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      assertRefused(await post(server, 'lobby', body, { headers: { 'content-type': type } }), 415, type);
    }
    assertRefused(await post(server, 'lobby', body), 415, 'no content type');
    assert.equal((await post(server, 'lobby', body, { headers: { 'content-type': 'Application/JSON; charset=utf-8' } })).status, 201);
  });

  test('a body over 64 KiB gets 413, by Content-Length or while reading a chunked body', async (t) => {
    const server = await chat(t);
    const big = JSON.stringify({ from: 'app', text: 'x'.repeat(MAX_API_BODY_BYTES) });
    assertRefused(await post(server, 'lobby', big, { headers: { 'content-type': 'application/json' } }), 413, 'Content-Length over the limit');
    const chunked = await post(server, 'lobby', big, { headers: { 'content-type': 'application/json' }, chunked: true });
    assertRefused(chunked, 413, 'chunked over the limit');
    assert.equal(chunked.headers.connection, 'close', 'the rest of the body is not read');
    // Exactly at the limit the body is read, and the text rule answers.
    const padded = JSON.stringify({ from: 'app', text: 'hi' }).padEnd(MAX_API_BODY_BYTES, ' ');
    assert.equal((await post(server, 'lobby', padded, { headers: { 'content-type': 'application/json' } })).status, 201);
  });

  test('history reads honour since and limit; a bad since or limit gets 400', async (t) => {
    const server = await chat(t, { historySize: 5 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await post(server, 'lobby', { from: 'app', text: `m${i}` })).json.id);
    const texts = async (query: string) => {
      const answer = await call(server, 'GET', `/api/rooms/lobby/messages${query}`);
      assert.equal(answer.status, 200, `${query}: ${answer.text}`);
      return (answer.json.messages as ChatMessage[]).map((m) => m.text);
    };
    assert.deepEqual(await texts(''), ['m0', 'm1', 'm2', 'm3']);
    assert.deepEqual(await texts('?limit=2'), ['m2', 'm3']);
    assert.deepEqual(await texts(`?since=${ids[1]}`), ['m2', 'm3']);
    assert.deepEqual(await texts(`?since=${ids[0]}&limit=1`), ['m1']);
    assert.deepEqual(await texts('?limit=5'), ['m0', 'm1', 'm2', 'm3']);
    assert.deepEqual(await texts(''), await texts('?since=&limit='), 'empty parameters mean unset');
    assert.deepEqual((await call(server, 'GET', '/api/rooms/empty/messages')).json, { messages: [] });
    for (const query of ['?limit=0', '?limit=6', '?limit=-1', '?limit=2.5', '?limit=abc', '?since=abc', '?since=1-2-3', '?limit=1&limit=2']) {
      assertRefused(await call(server, 'GET', `/api/rooms/lobby/messages${query}`), 400, query);
    }
    assertRefused(await call(server, 'GET', '/api/rooms/no%20way/messages'), 400, 'a bad room');
  });

  test('presence lists each user of the room once', async (t) => {
    const server = await chat(t);
    assert.deepEqual(await usersOf(server, 'lobby'), []);
    await enter(t, server, 'lobby', 'bob');
    await enter(t, server, 'lobby', 'alice');
    await enter(t, server, 'lobby', 'alice');
    await enter(t, server, 'side', 'carol');
    await waitFor('alice and bob online', async () => (await usersOf(server, 'lobby')).length === 2);
    assert.deepEqual(await usersOf(server, 'lobby'), ['alice', 'bob']);
    const head = await call(server, 'HEAD', '/api/rooms/lobby/presence');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  test('presence pages like the who frame: ?after=&limit=, a next cursor, the count, and 400 for a bad cursor or limit', async (t) => {
    const server = await chat(t);
    for (const name of ['dan', 'amy', 'cat', 'bea', 'eve']) await enter(t, server, 'paged', name);
    await waitFor('five online', async () => (await usersOf(server, 'paged')).length === 5);
    const first = await call(server, 'GET', '/api/rooms/paged/presence?limit=2');
    assert.deepEqual(first.json, { users: ['amy', 'bea'], next: 'bea', count: 5 });
    const second = await call(server, 'GET', '/api/rooms/paged/presence?after=bea&limit=2');
    assert.deepEqual(second.json, { users: ['cat', 'dan'], next: 'dan', count: 5 });
    const last = await call(server, 'GET', '/api/rooms/paged/presence?after=dan&limit=2');
    assert.deepEqual(last.json, { users: ['eve'], next: null, count: 5 });
    for (const query of ['?limit=0', '?limit=ten', '?after=%3Cb%3E', '?limit=1&limit=2']) {
      assertRefused(await call(server, 'GET', `/api/rooms/paged/presence${query}`), 400, query);
    }
  });

  test('DELETE of a member closes each of its connections in the room with 4003 removed; others stay', async (t) => {
    const server = await chat(t);
    const alice1 = await enter(t, server, 'lobby', 'alice');
    const alice2 = await enter(t, server, 'lobby', 'alice');
    const bob = await enter(t, server, 'lobby', 'bob');
    const aliceElsewhere = await enter(t, server, 'side', 'alice');
    await waitFor('alice and bob online', async () => (await usersOf(server, 'lobby')).length === 2);

    const answer = await call(server, 'DELETE', '/api/rooms/lobby/members/alice');
    assert.equal(answer.status, 204, answer.text);
    assert.equal(answer.text, '');
    for (const peer of [alice1, alice2]) assert.deepEqual(await endOf(peer), { code: 4003, reason: 'removed' });
    await bob.waitUsers(['bob']);
    assert.equal((await post(server, 'lobby', { from: 'app', text: 'still here?' })).status, 201);
    await bob.waitFor(() => bob.texts().includes('still here?'), 'bob to hear the next message');
    assert.ok(aliceElsewhere.conn.writable, 'alice stays in another room');
    await aliceElsewhere.say('hello side');
    await aliceElsewhere.waitMessages(1);

    assertRefused(await call(server, 'DELETE', '/api/rooms/lobby/members/alice'), 404, 'alice is gone');
    assertRefused(await call(server, 'DELETE', '/api/rooms/lobby/members/nobody'), 404, 'never there');
    assertRefused(await call(server, 'DELETE', '/api/rooms/lobby/members/%3Cb%3E'), 400, 'a bad name');
    assertRefused(await call(server, 'DELETE', '/api/rooms/lobby/members/'), 400, 'an empty name');
  });

  test('a wrong method gets 405 with Allow; an unknown /api path gets 404', async (t) => {
    const server = await chat(t);
    const cases: [string, string, string][] = [
      ['PUT', '/api/rooms/lobby/messages', 'GET, HEAD, POST'],
      ['DELETE', '/api/rooms/lobby/messages', 'GET, HEAD, POST'],
      ['POST', '/api/rooms/lobby/presence', 'GET, HEAD'],
      ['GET', '/api/rooms/lobby/members/alice', 'DELETE'],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await call(server, method, path);
      assertRefused(answer, 405, `${method} ${path}`);
      assert.equal(answer.headers.allow, allow, `${method} ${path}`);
    }
    for (const path of ['/api', '/api/', '/api/rooms', '/api/rooms/lobby', '/api/rooms/lobby/messages/', '/api/rooms/lobby/members', '/api/rooms/lobby/members/a/b', '/api/users']) {
      assertRefused(await call(server, 'GET', path), 404, path);
    }
  });

  test('the API answers 503 when the store is closed', async (t) => {
    const server = await chat(t);
    await server.app.shutdown();
    assertRefused(await post(server, 'lobby', { from: 'app', text: 'hi' }), 503, 'post');
    assertRefused(await call(server, 'GET', '/api/rooms/lobby/messages'), 503, 'history');
    assertRefused(await call(server, 'GET', '/api/rooms/lobby/presence'), 503, 'presence');
    assertRefused(await call(server, 'DELETE', '/api/rooms/lobby/members/alice'), 503, 'delete');
  });

  test('createChat refuses an unreadable, short or unprintable key file with a readable error', async (t) => {
    const dir = tempDataDir(t);
    await assert.rejects(createChat({ dataDir: dir, apiKeyFile: join(dir, 'missing') }), /Cannot read --api-key-file .*missing/);
    await assert.rejects(createChat({ dataDir: dir, apiKeyFile: keyFile(dir, 'short\n') }), /5 characters, fewer than the minimum of 16/);
    await assert.rejects(createChat({ dataDir: dir, apiKeyFile: keyFile(dir, 'has a space in the key\n') }), /visible ASCII/);
  });
});

describe('server API on two --redis nodes', { skip: redisSkip() }, () => {
  let redis: RedisServer;
  let nodeA: ChatServer;
  let nodeB: ChatServer;
  const hooks: (() => void | Promise<void>)[] = [];
  const t: Hooks = { after: (fn) => void hooks.push(fn) };

  before(async () => {
    redis = await startRedisServer();
    const dataDir = tempDataDir(t);
    const options = { rateLimit: 0, redisUrl: redis.url, apiKeyFile: keyFile(dataDir), log: () => {} };
    nodeA = await startChat({ ...options, dataDir: join(dataDir, 'a') });
    nodeB = await startChat({ ...options, dataDir: join(dataDir, 'b') });
    for (const node of [nodeA, nodeB]) {
      await waitFor('the node to reach Redis', async () => (await call(node, 'GET', '/healthz')).status === 200);
    }
  });

  after(async () => {
    for (const hook of hooks.reverse()) await hook();
    await nodeA?.stop();
    await nodeB?.stop();
    await redis?.dispose();
  });

  test('a message posted on node A reaches a member on node B live, and both nodes serve it as history', async () => {
    const member = await enter(t, nodeB, 'cluster', 'bob');
    const answer = await post(nodeA, 'cluster', { from: 'Build bot', text: 'from A' });
    assert.equal(answer.status, 201, answer.text);
    await member.waitMessages(1);
    assert.deepEqual(member.messages(), [answer.json]);
    for (const node of [nodeA, nodeB]) {
      assert.deepEqual((await call(node, 'GET', '/api/rooms/cluster/messages')).json, { messages: [answer.json] });
    }
    const joiner = await enter(t, nodeA, 'cluster', 'carol');
    assert.deepEqual(joiner.of('history')[0]!.messages, [answer.json]);
  });

  test('presence on node A lists a member of node B', async () => {
    await enter(t, nodeB, 'seen', 'dora');
    await waitFor('dora in the presence on node A', async () => (await usersOf(nodeA, 'seen')).includes('dora'));
  });

  test('DELETE on node A closes the member\'s connections on both nodes with 4003; others stay', async () => {
    const onB = await enter(t, nodeB, 'kick', 'eve');
    const onA = await enter(t, nodeA, 'kick', 'eve');
    const stays = await enter(t, nodeB, 'kick', 'fred');
    const eveElsewhere = await enter(t, nodeB, 'other', 'eve');
    await waitFor('eve and fred online', async () => (await usersOf(nodeA, 'kick')).length === 2);
    const answer = await call(nodeA, 'DELETE', '/api/rooms/kick/members/eve');
    assert.equal(answer.status, 204, answer.text);
    for (const peer of [onB, onA]) assert.deepEqual(await endOf(peer), { code: 4003, reason: 'removed' });
    await stays.waitUsers(['fred']);
    await waitFor('eve gone on node B', async () => JSON.stringify(await usersOf(nodeB, 'kick')) === '["fred"]');
    assert.equal((await post(nodeA, 'kick', { from: 'app', text: 'after' })).status, 201);
    await stays.waitFor(() => stays.texts().includes('after'), 'fred to hear the next message');
    assert.ok(eveElsewhere.conn.writable, 'eve stays in another room');
    assertRefused(await call(nodeB, 'DELETE', '/api/rooms/kick/members/eve'), 404, 'eve is gone');
  });

  test('with redis-server stopped the API answers 503', async () => {
    await redis.stop();
    await waitFor('node A to notice', async () => (await call(nodeA, 'GET', '/healthz')).status === 503);
    assertRefused(await post(nodeA, 'cluster', { from: 'app', text: 'lost?' }), 503, 'post');
    assertRefused(await call(nodeA, 'GET', '/api/rooms/cluster/messages'), 503, 'history');
    assertRefused(await call(nodeA, 'GET', '/api/rooms/cluster/presence'), 503, 'presence');
    assertRefused(await call(nodeA, 'DELETE', '/api/rooms/cluster/members/bob'), 503, 'delete');
  });
});
