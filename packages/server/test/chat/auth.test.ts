// JWT authentication of the chat's /ws over real sockets on 127.0.0.1, with
// tokens signed here by jose: where the token may come from, every 401 and
// 403, the failed-attempt budget (429), expiry (4001) and refresh, and the
// JWKS re-read by app.reload() and by `wskit serve` on SIGHUP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { ChatOptions } from '../../src/chat/index.js';
import { allowsRoom, AUTH_LEEWAY_SECONDS, grantExpiresAt, tokenFromRequest } from '../../src/chat/auth.js';
import { createChat } from '../../src/chat/index.js';
import { spawnServe } from '../helpers/server-child.js';
import { Peer, refusal, startChat, tempDataDir, until, type ChatServer } from './harness.js';

type T = { after: (fn: () => void | Promise<void>) => void };

/** 41 bytes: over the 32-byte minimum. */
const SECRET = 'test-hmac-key-of-this-suite-0123456789abc';
const secretBytes = new TextEncoder().encode(SECRET);

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

interface SignOptions {
  alg?: string;
  key?: CryptoKey | Uint8Array;
  kid?: string;
}

/** Signs `claims` (HS256 with SECRET unless told otherwise). */
function sign(claims: Record<string, unknown>, { alg = 'HS256', key = secretBytes, kid }: SignOptions = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(key);
}

/** A token with `alg: none` and no signature, made by hand (jose will not make one). */
function unsigned(claims: Record<string, unknown>): string {
  return `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(claims))}.`;
}

/** Starts a chat with `options` and data in `dir`, its log kept in `lines`. */
async function authChat(t: T, options: ChatOptions = {}, dir = tempDataDir(t)): Promise<ChatServer & { lines: string[]; dir: string }> {
  const lines: string[] = [];
  const server = await startChat({ dataDir: dir, rateLimit: 0, log: (line) => lines.push(line), ...options });
  t.after(() => server.stop());
  return Object.assign(server, { lines, dir });
}

/** An HMAC chat; the key file ends with a newline, as `echo KEY > file` writes it. */
async function hmacChat(t: T, auth: Omit<NonNullable<ChatOptions['auth']>, 'secretFile'> = {}, options: ChatOptions = {}) {
  const dir = tempDataDir(t);
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${SECRET}\n`);
  return authChat(t, { auth: { secretFile, ...auth }, ...options }, dir);
}

async function enter(t: T, url: string, headers: Record<string, string> = {}): Promise<Peer> {
  const peer = await Peer.connect(url, { headers });
  t.after(() => peer.conn.terminate());
  return peer;
}

/** Asserts a 401 whose reason repeats no part of `token`. */
async function assert401(url: string, token: string, headers: Record<string, string> = {}, what = token.slice(0, 40)): Promise<void> {
  const err = await refusal(url, headers);
  assert.equal(err.status, 401, `${what}: ${err.body}`);
  assert.match(err.headers['www-authenticate'] ?? '', /^Bearer\b/, `${what}: WWW-Authenticate`);
  assert.notEqual(err.body.trim(), '', `${what}: a reason is given`);
  for (const part of token.split('.').filter((p) => p.length >= 8)) {
    assert.ok(!err.body.includes(part), `${what}: the reason repeats part of the token: ${err.body}`);
  }
}

/** A JWKS file of `keys` (public halves), written to `file`. */
function writeJwks(file: string, keys: JWK[]): void {
  writeFileSync(file, JSON.stringify({ keys }));
}

async function keyPair(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK; alg: string; kid: string }> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, alg, kid };
}

test('tokenFromRequest takes the Authorization header, else the token parameter, else the cookie', () => {
  const q = (query: string) => new URLSearchParams(query);
  assert.deepEqual(tokenFromRequest({ authorization: 'Bearer h.h.h', cookie: 'c=k.k.k' }, q('token=q.q.q'), 'c'), { ok: true, value: 'h.h.h' });
  assert.deepEqual(tokenFromRequest({ authorization: 'bearer  h.h.h ' }, q(''), undefined), { ok: true, value: 'h.h.h' }, 'the scheme is case-insensitive');
  assert.deepEqual(tokenFromRequest({ cookie: 'c=k.k.k' }, q('token=q.q.q'), 'c'), { ok: true, value: 'q.q.q' });
  assert.deepEqual(tokenFromRequest({ cookie: 'a=1; c="k.k.k"; d=2' }, q(''), 'c'), { ok: true, value: 'k.k.k' }, 'a quoted cookie value');
  assert.deepEqual(tokenFromRequest({ cookie: 'cc=x; c=k.k.k' }, q('token='), 'c'), { ok: true, value: 'k.k.k' }, 'an empty parameter is absent');
  assert.equal(tokenFromRequest({ cookie: 'c=k.k.k' }, q(''), undefined).ok, false, 'no cookie is read unless named');
  assert.equal(tokenFromRequest({ authorization: 'Basic dXNlcjpwYXNz' }, q('token=q.q.q'), undefined).ok, false);
  assert.equal(tokenFromRequest({ authorization: 'Bearer a b' }, q(''), undefined).ok, false);
  assert.equal(tokenFromRequest({}, q('token=a&token=b'), undefined).ok, false);
  assert.equal(tokenFromRequest({}, q(''), 'c').ok, false);
});

test('allowsRoom allows any room without a rooms claim, exact entries, and prefixes ending in *', () => {
  const grant = (rooms?: string[]) => ({ name: 'ann', rooms, exp: undefined });
  assert.equal(allowsRoom(grant(), 'anything'), true);
  assert.equal(allowsRoom(grant(['lobby', 'team-*']), 'lobby'), true);
  assert.equal(allowsRoom(grant(['lobby', 'team-*']), 'team-red'), true);
  assert.equal(allowsRoom(grant(['lobby', 'team-*']), 'lobby-2'), false);
  assert.equal(allowsRoom(grant(['lobby', 'team-*']), 'team'), false);
  assert.equal(allowsRoom(grant(['*']), 'x'), true);
  assert.equal(allowsRoom(grant([]), 'lobby'), false);
  assert.equal(allowsRoom(grant(['lob*by']), 'lob*by'), true, 'a * inside is literal');
  assert.equal(allowsRoom(grant(['lob*by']), 'lobXby'), false);
});

test('grantExpiresAt is exp plus the leeway in ms, or undefined without exp', () => {
  assert.equal(grantExpiresAt({ name: 'a', rooms: undefined, exp: 1_700_000_000 }), (1_700_000_000 + AUTH_LEEWAY_SECONDS) * 1000);
  assert.equal(grantExpiresAt({ name: 'a', rooms: undefined, exp: undefined }), undefined);
});

test('auth: a token from the Authorization header, the token parameter or the cookie joins as its sub', async (t) => {
  const server = await hmacChat(t, { cookie: 'chat_token' });
  const room = { room: 'lobby' };
  const ann = await enter(t, server.wsUrl(room), { authorization: `Bearer ${await sign({ sub: 'ann' })}` });
  const bob = await enter(t, server.wsUrl({ ...room, token: await sign({ sub: 'bob' }) }));
  const cat = await enter(t, server.wsUrl(room), { cookie: `theme=dark; chat_token=${await sign({ sub: 'Cat Lee' })}` });
  for (const peer of [ann, bob, cat]) await peer.waitUsers(['Cat Lee', 'ann', 'bob']);
  await bob.say('hello');
  await ann.waitFor(() => ann.messages().some((m) => m.from === 'bob' && m.text === 'hello'), 'the message from bob');
});

test('auth: the HMAC key is the file less one trailing newline, and the log names the file but never the key', async (t) => {
  const server = await hmacChat(t);
  await enter(t, server.wsUrl({ room: 'lobby', token: await sign({ sub: 'ann' }) }));
  const withNewline = await sign({ sub: 'ann' }, { key: new TextEncoder().encode(`${SECRET}\n`) });
  await assert401(server.wsUrl({ room: 'lobby', token: withNewline }), withNewline);
  const startLine = server.lines.find((line) => line.includes('auth on'));
  assert.ok(startLine?.includes(join(server.dir, 'secret')) && /HMAC/.test(startLine), `start-up line: ${startLine}`);
  assert.ok(!server.lines.some((line) => line.includes(SECRET)), 'the key is never logged');
});

test('auth: a spoofed name parameter is ignored: presence and messages show the sub', async (t) => {
  const server = await hmacChat(t);
  const token = await sign({ sub: 'alice' });
  const mallory = await enter(t, server.wsUrl({ room: 'lobby', name: 'bob', token }));
  await mallory.waitUsers(['alice']);
  await mallory.say('it is me');
  await mallory.waitMessages(1);
  assert.equal(mallory.messages()[0]!.from, 'alice');
  // A repeated or invalid name parameter changes nothing either.
  const again = await enter(t, `${server.wsUrl({ room: 'lobby', token })}&name=x&name=%3Cb%3E`);
  await again.waitUsers(['alice']);
});

test('auth: a missing, malformed or wrongly signed token, or bad claims, get 401 without the token in the reason', async (t) => {
  const server = await hmacChat(t, { cookie: 'chat_token' });
  const url = (token?: string) => server.wsUrl(token === undefined ? { room: 'lobby' } : { room: 'lobby', token });
  const missing = await refusal(url());
  assert.equal(missing.status, 401);
  assert.match(missing.headers['www-authenticate'] ?? '', /^Bearer\b/);
  assert.equal((await refusal(`${url()}&token=`)).status, 401, 'an empty token is missing');

  const otherKey = new TextEncoder().encode('another-key-that-is-also-long-enough-0123');
  const cases: [string, string][] = [
    ['not a JWT', 'not-a-jwt-at-all-but-long-enough'],
    ['two segments', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ'],
    ['wrong key', await sign({ sub: 'ann' }, { key: otherKey })],
    ['tampered payload', (await sign({ sub: 'ann' })).replace(/\.[^.]+\./, `.${base64url.encode('{"sub":"root"}')}.`)],
    ['no sub', await sign({ name: 'ann' })],
    ['sub against the name rules', await sign({ sub: '<script>' })],
    ['rooms not an array', await sign({ sub: 'ann', rooms: 'lobby' })],
    ['rooms not of strings', await sign({ sub: 'ann', rooms: ['lobby', 7] })],
    ['exp not a number', await sign({ sub: 'ann', exp: 'tomorrow' })],
  ];
  for (const [what, token] of cases) await assert401(url(token), token, {}, what);
  const good = await sign({ sub: 'ann' });
  await assert401(url(), good, { authorization: `Basic ${good}` }, 'a Basic Authorization header');
  await assert401(url(), 'x', { cookie: 'chat_token=garbage.garbage.garbage' }, 'a bad cookie');
  // The header wins over the query: a bad header is not rescued by a good parameter.
  await assert401(url(good), 'bad.token.value', { authorization: 'Bearer bad.token.value' }, 'bad header, good query');
});

test('auth: alg none is refused by an HMAC server and by a JWKS server', async (t) => {
  const hmac = await hmacChat(t);
  const pair = await keyPair('ES256', 'k1');
  const dir = tempDataDir(t);
  writeJwks(join(dir, 'jwks.json'), [pair.jwk]);
  const jwks = await authChat(t, { auth: { jwksFile: join(dir, 'jwks.json') } });
  const token = unsigned({ sub: 'ann', exp: nowSeconds() + 60 });
  for (const server of [hmac, jwks]) {
    await assert401(server.wsUrl({ room: 'lobby', token }), token, {}, `alg none on port ${server.port}`);
    await assert401(server.wsUrl({ room: 'lobby' }), token, { authorization: `Bearer ${token}` }, 'alg none in the header');
  }
});

test('auth: expired, not-yet-valid, wrong-issuer and wrong-audience tokens get 401; exp and nbf have 5 s of leeway', async (t) => {
  const server = await hmacChat(t, { issuer: 'https://issuer.test', audience: 'wskit-chat' });
  const good = { sub: 'ann', iss: 'https://issuer.test', aud: 'wskit-chat' };
  const url = (token: string) => server.wsUrl({ room: 'lobby', token });
  const now = nowSeconds();
  const refused: [string, Record<string, unknown>][] = [
    ['expired', { ...good, exp: now - 30 }],
    ['not yet valid', { ...good, nbf: now + 60 }],
    ['wrong issuer', { ...good, iss: 'https://other.test' }],
    ['no issuer', { sub: 'ann', aud: 'wskit-chat' }],
    ['wrong audience', { ...good, aud: 'another-app' }],
    ['no audience', { sub: 'ann', iss: 'https://issuer.test' }],
  ];
  for (const [what, claims] of refused) {
    const token = await sign(claims);
    await assert401(url(token), token, {}, what);
  }
  const peer = await enter(t, url(await sign({ ...good, aud: ['x', 'wskit-chat'], exp: now + 60, nbf: now + 2 })));
  await peer.waitUsers(['ann']);
  const late = await enter(t, url(await sign({ ...good, exp: now - 1 })));
  await late.waitUsers(['ann']);
});

test('auth: a valid token for a room it does not allow gets 403; entries ending in * are prefixes', async (t) => {
  const server = await hmacChat(t);
  const token = await sign({ sub: 'ann', rooms: ['lobby', 'team-*'] });
  for (const room of ['lobby', 'team-red', 'team-']) {
    const peer = await enter(t, server.wsUrl({ room, token }));
    await peer.waitUsers(['ann']);
  }
  for (const room of ['lobby2', 'teams', 'team', 'other']) {
    const err = await refusal(server.wsUrl({ room, token }));
    assert.equal(err.status, 403, `${room}: ${err.body}`);
  }
  const none = await sign({ sub: 'ann', rooms: [] });
  assert.equal((await refusal(server.wsUrl({ room: 'lobby', token: none }))).status, 403, 'an empty rooms list allows no room');
  const any = await sign({ sub: 'ann', rooms: ['*'] });
  await (await enter(t, server.wsUrl({ room: 'anything', token: any }))).waitUsers(['ann']);
  // A bad room is still a 400, after the token.
  assert.equal((await refusal(server.wsUrl({ room: 'no spaces', token }))).status, 400);
});

test('auth: a JWKS server accepts RS256, ES256 and EdDSA tokens of its keys only, and never HS256 signed with a public key', async (t) => {
  const pairs = [await keyPair('RS256', 'rsa'), await keyPair('ES256', 'ec'), await keyPair('EdDSA', 'ed')];
  const dir = tempDataDir(t);
  const file = join(dir, 'jwks.json');
  writeJwks(file, pairs.map((p) => p.jwk));
  const server = await authChat(t, { auth: { jwksFile: file } });
  for (const pair of pairs) {
    const peer = await enter(t, server.wsUrl({ room: pair.alg, token: await sign({ sub: `user-${pair.kid}` }, { alg: pair.alg, key: pair.privateKey, kid: pair.kid }) }));
    await peer.waitUsers([`user-${pair.kid}`]);
  }
  // Without a kid, the key that verifies is found among those that fit.
  const noKid = await enter(t, server.wsUrl({ room: 'nokid', token: await sign({ sub: 'nokid' }, { alg: 'ES256', key: pairs[1]!.privateKey }) }));
  await noKid.waitUsers(['nokid']);

  const stranger = await keyPair('ES256', 'ec');
  const url = (token: string) => server.wsUrl({ room: 'lobby', token });
  const forged = await sign({ sub: 'eve' }, { alg: 'ES256', key: stranger.privateKey, kid: 'ec' });
  await assert401(url(forged), forged, {}, 'a key not in the set');
  // Algorithm confusion: HMAC keyed with the public key, in every form an attacker could get it.
  const rsa = pairs[0]!;
  const publicForms = [await exportSPKI(rsa.publicKey), JSON.stringify(rsa.jwk), readFileSync(file, 'utf8')];
  for (const form of publicForms) {
    for (const kid of [undefined, 'rsa']) {
      const token = await sign({ sub: 'eve' }, { alg: 'HS256', key: new TextEncoder().encode(form), kid });
      await assert401(url(token), token, {}, `HS256 with a public key (kid ${kid})`);
    }
  }
  const hmacLine = server.lines.find((line) => line.includes('auth on'));
  assert.ok(hmacLine?.includes(file) && /JWKS/.test(hmacLine) && hmacLine.includes('3 keys'), `start-up line: ${hmacLine}`);
});

test('auth: failed attempts beyond the budget get 429 with Retry-After, even with a valid token', async (t) => {
  const server = await hmacChat(t, {}, { maxAuthFailuresPerMinute: 3 });
  const good = await sign({ sub: 'ann' });
  // A 403 is a valid token: it does not count.
  const narrow = await sign({ sub: 'ann', rooms: ['x'] });
  for (let i = 0; i < 3; i++) assert.equal((await refusal(server.wsUrl({ room: 'lobby', token: narrow }))).status, 403);
  for (let i = 0; i < 3; i++) assert.equal((await refusal(server.wsUrl({ room: 'lobby', token: 'bad' }))).status, 401, `failure ${i + 1}`);
  const err = await refusal(server.wsUrl({ room: 'lobby', token: good }));
  assert.equal(err.status, 429);
  assert.ok(Number(err.headers['retry-after']) > 0, `Retry-After: ${err.headers['retry-after']}`);
});

test('auth: a connection is closed with 4001 "token expired" once its exp has passed', { timeout: 20_000 }, async (t) => {
  const server = await hmacChat(t);
  // Past exp but inside the leeway: accepted, then closed within about 3 s.
  const peer = await enter(t, server.wsUrl({ room: 'lobby', token: await sign({ sub: 'ann', exp: nowSeconds() - 2 }) }));
  const forever = await enter(t, server.wsUrl({ room: 'lobby', token: await sign({ sub: 'bob' }) }));
  await forever.waitUsers(['ann', 'bob']);
  const ended = await Promise.race([peer.ended, new Promise((resolve) => setTimeout(resolve, 10_000, 'still open'))]);
  assert.deepEqual(ended, { code: 4001, reason: 'token expired' });
  await forever.waitUsers(['bob']);
});

test('auth: a refresh with a fresher token extends the session, and one with an earlier exp brings the close forward', { timeout: 30_000 }, async (t) => {
  const server = await hmacChat(t);
  const firstExp = nowSeconds() - 2;
  const peer = await enter(t, server.wsUrl({ room: 'lobby', token: await sign({ sub: 'ann', exp: firstExp }) }));
  let closed = false;
  void peer.ended.then(() => (closed = true));
  await peer.waitUsers(['ann']);
  const laterExp = nowSeconds() + 120;
  await peer.conn.writeJSON({ type: 'refresh', token: await sign({ sub: 'ann', exp: laterExp }) });
  await peer.waitFor(() => peer.of('refreshed').length === 1, 'the refreshed frame');
  assert.deepEqual(peer.of('refreshed')[0], { type: 'refreshed', exp: laterExp });
  // Past the first token's close time (exp + 5 s leeway), the session goes on.
  await until(() => Date.now() > (firstExp + 5) * 1000 + 500, 'the first token to run out', 10_000);
  assert.equal(closed, false, 'the refreshed connection is still open');
  await peer.say('still here');
  await peer.waitMessages(1);

  await peer.conn.writeJSON({ type: 'refresh', token: await sign({ sub: 'ann', exp: nowSeconds() - 3 }) });
  await peer.waitFor(() => peer.of('refreshed').length === 2, 'the second refreshed frame');
  const ended = await Promise.race([peer.ended, new Promise((resolve) => setTimeout(resolve, 10_000, 'still open'))]);
  assert.deepEqual(ended, { code: 4001, reason: 'token expired' });

  // A token without exp ends expiry altogether: refreshed with exp null.
  const other = await enter(t, server.wsUrl({ room: 'lobby', token: await sign({ sub: 'bob', exp: nowSeconds() + 60 }) }));
  await other.conn.writeJSON({ type: 'refresh', token: await sign({ sub: 'bob' }) });
  await other.waitFor(() => other.of('refreshed').length === 1, 'the refreshed frame');
  assert.deepEqual(other.of('refreshed')[0], { type: 'refreshed', exp: null });
});

test('auth: a refresh for another sub, with a bad token or for a room no longer allowed gets an error frame and changes nothing', async (t) => {
  const server = await hmacChat(t);
  const exp = nowSeconds() + 60;
  const peer = await enter(t, server.wsUrl({ room: 'lobby', token: await sign({ sub: 'ann', exp }) }));
  await peer.waitUsers(['ann']);
  const refusedTokens = [
    await sign({ sub: 'bob', exp: exp + 600 }),
    'not.a.token',
    await sign({ sub: 'ann', exp: nowSeconds() - 30 }),
    await sign({ sub: 'ann', exp: exp + 600, rooms: ['elsewhere'] }),
    unsigned({ sub: 'ann', exp: exp + 600 }),
  ];
  for (const [i, token] of refusedTokens.entries()) {
    await peer.conn.writeJSON({ type: 'refresh', token });
    await peer.waitFor(() => peer.of('error').length === i + 1, `error frame ${i + 1}`);
  }
  assert.equal(peer.of('refreshed').length, 0);
  assert.ok(peer.of('error').every((f) => !refusedTokens.some((token) => token.length > 20 && f.error.includes(token))), 'no token repeated');
  await peer.say('still in');
  await peer.waitMessages(1);
  assert.equal(peer.messages()[0]!.from, 'ann');
});

test('auth: without auth flags any name joins, a refresh frame earns an error frame, and the log says auth is off', async (t) => {
  const server = await authChat(t);
  const peer = await enter(t, server.wsUrl({ room: 'lobby', name: 'anyone' }));
  await peer.waitUsers(['anyone']);
  await peer.conn.writeJSON({ type: 'refresh', token: 'a.b.c' });
  await peer.waitFor(() => peer.of('error').length === 1, 'an error frame');
  const off = server.lines.filter((line) => line.includes('auth off'));
  assert.equal(off.length, 1, server.lines.join('\n'));
  assert.match(off[0]!, /--auth-secret-file/);
  assert.match(off[0]!, /--auth-jwks-file/);
});

test('auth: /chat-rules.js tells the page whether a token is required and which cookie may carry it', async (t) => {
  const read = async (server: ChatServer) => {
    const window: { WSKIT_CHAT_AUTH?: { required: boolean; cookie: string | null } } = {};
    vm.runInNewContext(await (await fetch(server.httpUrl('/chat-rules.js'))).text(), { window });
    return window.WSKIT_CHAT_AUTH;
  };
  const off = await read(await authChat(t));
  assert.equal(off?.required, false);
  assert.equal(off?.cookie, null);
  const on = await read(await hmacChat(t, { cookie: 'chat_token' }));
  assert.equal(on?.required, true);
  assert.equal(on?.cookie, 'chat_token');
});

test('auth: app.reload() re-reads the JWKS file, and keeps the old keys when the new file is unreadable or invalid', async (t) => {
  const a = await keyPair('ES256', 'a');
  const b = await keyPair('EdDSA', 'b');
  const dir = tempDataDir(t);
  const file = join(dir, 'jwks.json');
  writeJwks(file, [a.jwk]);
  const server = await authChat(t, { auth: { jwksFile: file } });
  const tokenB = await sign({ sub: 'bee' }, { alg: 'EdDSA', key: b.privateKey, kid: 'b' });
  await assert401(server.wsUrl({ room: 'lobby', token: tokenB }), tokenB, {}, 'b before the reload');

  writeJwks(file, [a.jwk, b.jwk]);
  await server.app.reload();
  await (await enter(t, server.wsUrl({ room: 'lobby', token: tokenB }))).waitUsers(['bee']);
  assert.ok(server.lines.some((line) => line.startsWith('reload: ') && line.includes(file)), server.lines.join('\n'));

  const bad = [
    () => writeFileSync(file, '{"keys": [ not json'),
    () => writeFileSync(file, JSON.stringify({ keys: [] })),
    () => writeJwks(file, [{ kty: 'oct', k: base64url.encode(SECRET) }]),
    () => writeJwks(file, [{ ...b.jwk, d: 'c2VjcmV0' }]),
    () => rmSync(file),
  ];
  for (const [i, breakFile] of bad.entries()) {
    breakFile();
    await assert.rejects(server.app.reload(), Error, `bad file ${i + 1}`);
    await (await enter(t, server.wsUrl({ room: `r${i}`, token: tokenB }))).waitUsers(['bee']);
  }
  assert.ok(server.lines.some((line) => line.startsWith('reload: keeping the old auth keys')), server.lines.join('\n'));
});

test('auth: a key file that cannot be used stops start-up with an Error naming the file', async (t) => {
  const dir = tempDataDir(t);
  const pair = await keyPair('RS256', 'r');
  const files: Record<string, string> = {
    'short-secret': 'only-31-bytes-long-0123456789ab\n',
    'private.json': JSON.stringify({ keys: [{ ...pair.jwk, d: 'c2VjcmV0' }] }),
    'oct.json': JSON.stringify({ keys: [{ kty: 'oct', k: base64url.encode(SECRET) }] }),
    'empty.json': JSON.stringify({ keys: [] }),
    'other-algs.json': JSON.stringify({ keys: [{ ...pair.jwk, alg: 'PS256' }] }),
    'not-json.json': 'keys',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const attempts: [string, NonNullable<ChatOptions['auth']>][] = [
    ['short-secret', { secretFile: join(dir, 'short-secret') }],
    ['missing', { secretFile: join(dir, 'missing') }],
    ['missing', { jwksFile: join(dir, 'missing') }],
    ...['private.json', 'oct.json', 'empty.json', 'other-algs.json', 'not-json.json'].map((name): [string, { jwksFile: string }] => [name, { jwksFile: join(dir, name) }]),
  ];
  for (const [name, auth] of attempts) {
    await assert.rejects(createChat({ dataDir: dir, auth }), (err: Error) => err.message.includes(join(dir, name)), name);
  }
});

test('auth: wskit serve re-reads the JWKS file on SIGHUP and keeps the old keys when the new file is bad', { timeout: 30_000 }, async (t) => {
  const a = await keyPair('ES256', 'a');
  const b = await keyPair('ES256', 'b');
  const dir = tempDataDir(t);
  const file = join(dir, 'jwks.json');
  writeJwks(file, [a.jwk]);
  const serve = await spawnServe(['--data', dir, '--auth-jwks-file', file]);
  t.after(() => serve.stop());
  assert.match(serve.stdout(), /auth on: .*JWKS/);
  assert.ok(!serve.stdout().includes(String(a.jwk.x)), 'the key itself is not logged');
  const url = (token: string) => `${serve.wsBase}/ws?${new URLSearchParams({ room: 'lobby', token })}`;
  const tokenB = await sign({ sub: 'bee' }, { alg: 'ES256', key: b.privateKey, kid: 'b' });
  await assert401(url(tokenB), tokenB, {}, 'b before SIGHUP');

  writeJwks(file, [a.jwk, b.jwk]);
  serve.process.kill('SIGHUP');
  await until(() => /reload: auth keys re-read/.test(serve.stdout()), 'the reload line', 10_000);
  const peer = await enter(t, url(tokenB));
  await peer.waitUsers(['bee']);

  writeFileSync(file, 'garbage');
  serve.process.kill('SIGHUP');
  await until(() => /reload: keeping the old auth keys/.test(serve.stdout()), 'the refused reload line', 10_000);
  await (await enter(t, url(tokenB))).waitUsers(['bee']);
  await peer.close();
  assert.equal((await serve.stop()).code, 0);
});
