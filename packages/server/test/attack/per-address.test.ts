/**
 * Attack: many connections from one address. Beyond --max-connections-per-ip
 * an upgrade on any route gets 429 with Retry-After and a reason, while
 * other addresses and the connections already open carry on. The address
 * is the TCP peer, or the left-most X-Forwarded-For entry only when the
 * peer is a proxy listed in --trust-proxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { dial, HandshakeError, type Conn } from 'wskit';
import { clientAddressResolver, peerAddressOf } from '../../src/client-address.js';
import { MAX_CONNECTIONS_PER_IP } from '../../src/server.js';
import { connectionsSettle, startTarget, until } from '../helpers/attack-server.js';

/** Dials `url` with `headers`; the connection, or the HandshakeError it got. */
async function attempt(url: string, headers: Record<string, string> = {}): Promise<Conn | HandshakeError> {
  try {
    return (await dial(url, { headers })).conn;
  } catch (err) {
    if (err instanceof HandshakeError) return err;
    throw err;
  }
}

function opened(result: Conn | HandshakeError, what: string): Conn {
  if (result instanceof HandshakeError) assert.fail(`${what} was refused: ${result.status} ${result.body}`);
  return result;
}

function refused(result: Conn | HandshakeError, what: string): HandshakeError {
  if (!(result instanceof HandshakeError)) {
    result.terminate();
    assert.fail(`${what} was accepted beyond the per-address limit`);
  }
  return result;
}

test('The per-address connection limit has a bounded default of 64', () => {
  assert.equal(MAX_CONNECTIONS_PER_IP, 64);
});

test('Attack: one address beyond --max-connections-per-ip gets 429 with Retry-After on every route; a freed slot is usable again', async (t) => {
  const target = await startTarget(t, { maxConnectionsPerIp: 3 });
  const open: Conn[] = [];
  t.after(() => open.forEach((c) => c.terminate()));
  for (const path of ['/add', '/echo', '/ws?room=lobby&name=ada']) open.push(opened(await attempt(`${target.wsBase}${path}`), path));

  for (const path of ['/add', '/echo', '/ws?room=lobby&name=bob']) {
    const err = refused(await attempt(`${target.wsBase}${path}`), path);
    assert.equal(err.status, 429, path);
    assert.match(err.body, /Too many connections from 127\.0\.0\.1: 3 open, the limit is 3 per address/);
    assert.equal(err.headers['retry-after'], '5');
  }
  // Those already in are still served.
  await open[1]!.write('text', 'still served');
  assert.equal((await open[1]!.read()).data.toString(), 'still served');

  await open.shift()!.close();
  await until(() => target.logLines.some((l) => l.startsWith('close /add')), 'the /add close');
  await connectionsSettle(target, { tcp: 2, webSockets: 2 });
  const again = opened(await attempt(`${target.wsBase}/echo`), 'the next connection after one closed');
  open.push(again);
});

test('Attack: X-Forwarded-For is ignored from an untrusted peer, so a client cannot pick the address it is counted under', async (t) => {
  const target = await startTarget(t, { maxConnectionsPerIp: 1 });
  const first = opened(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.1' }), 'the first connection');
  t.after(() => first.terminate());
  const err = refused(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.2' }), 'a second connection with another X-Forwarded-For');
  assert.equal(err.status, 429);
  assert.match(err.body, /from 127\.0\.0\.1:/);
});

test('Attack: behind a trusted proxy each client (left-most X-Forwarded-For) has its own budget', async (t) => {
  const target = await startTarget(t, { maxConnectionsPerIp: 1, trustProxy: ['127.0.0.0/8'] });
  const open: Conn[] = [];
  t.after(() => open.forEach((c) => c.terminate()));
  open.push(opened(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.1, 127.0.0.1' }), 'client 1 via the proxy'));
  open.push(opened(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.2' }), 'client 2 via the proxy'));
  const err = refused(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.1' }), 'client 1 again');
  assert.equal(err.status, 429);
  assert.match(err.body, /from 198\.51\.100\.1:/);
});

test('Attack: behind a trusted proxy a closed /add or /echo connection frees the slot of the client it was counted under', async (t) => {
  const target = await startTarget(t, { maxConnectionsPerIp: 1, trustProxy: ['127.0.0.0/8'] });
  const open: Conn[] = [];
  t.after(() => open.forEach((c) => c.terminate()));
  for (const [path, client] of [['/add', '198.51.100.1'], ['/echo', '198.51.100.2']] as const) {
    const first = opened(await attempt(`${target.wsBase}${path}`, { 'x-forwarded-for': client }), `${path} from ${client}`);
    refused(await attempt(`${target.wsBase}${path}`, { 'x-forwarded-for': client }), `a second ${path} from ${client}`);
    await first.close();
    await until(() => target.logLines.some((l) => l.startsWith(`close ${path}`)), `the ${path} close`);
    open.push(opened(await attempt(`${target.wsBase}${path}`, { 'x-forwarded-for': client }), `${path} from ${client} after the first closed`));
  }
  await connectionsSettle(target, { tcp: 2, webSockets: 2 });
});

test('Attack: a proxy list that does not include the peer leaves X-Forwarded-For ignored', async (t) => {
  const target = await startTarget(t, { maxConnectionsPerIp: 1, trustProxy: ['10.0.0.0/8', '::1'] });
  const first = opened(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.1' }), 'the first connection');
  t.after(() => first.terminate());
  const err = refused(await attempt(`${target.wsBase}/echo`, { 'x-forwarded-for': '198.51.100.2' }), 'a second connection');
  assert.match(err.body, /from 127\.0\.0\.1:/);
});

/** A request as the resolver sees it: the peer address and headers only. */
function request(peer: string, forwardedFor?: string): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } } as unknown as IncomingMessage;
}

test('clientAddressResolver: the peer by default, the left-most forwarded address from a trusted proxy, IPv4-mapped addresses as IPv4', () => {
  const plain = clientAddressResolver();
  assert.equal(plain(request('::ffff:192.0.2.9', '198.51.100.1')), '192.0.2.9');
  const behind = clientAddressResolver(['192.0.2.0/24', '2001:db8::/32', '203.0.113.5']);
  assert.equal(behind(request('192.0.2.9', ' 198.51.100.1 , 192.0.2.9')), '198.51.100.1');
  assert.equal(behind(request('::ffff:192.0.2.9', '198.51.100.1')), '198.51.100.1', 'an IPv4-mapped peer matches its IPv4 block');
  assert.equal(behind(request('2001:db8::7', '2001:db8:1::1')), '2001:db8:1::1');
  assert.equal(behind(request('203.0.113.5', '::ffff:198.51.100.3')), '198.51.100.3');
  assert.equal(behind(request('203.0.113.6', '198.51.100.1')), '203.0.113.6', 'a neighbour of a trusted single address is not trusted');
  assert.equal(behind(request('192.0.2.9', 'unknown, 198.51.100.1')), '192.0.2.9', 'a left-most entry that is not an address falls back to the peer');
  assert.equal(behind(request('192.0.2.9')), '192.0.2.9');
});

test('clientAddressResolver: a malformed --trust-proxy entry throws RangeError naming the flag and the entry', () => {
  for (const entry of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
    assert.throws(() => clientAddressResolver([entry]), (err: Error) => err instanceof RangeError && err.message.includes('--trust-proxy') && err.message.includes(JSON.stringify(entry)), entry);
  }
});

test('peerAddressOf reads the address a connection is counted under back from its remoteAddress', () => {
  const conn = (remoteAddress: string) => ({ remoteAddress }) as Conn;
  assert.equal(peerAddressOf(conn('127.0.0.1:53412')), '127.0.0.1');
  assert.equal(peerAddressOf(conn('[::1]:53412')), '::1');
  assert.equal(peerAddressOf(conn('[2001:db8::7]:1')), '2001:db8::7');
  assert.equal(peerAddressOf(conn('[::ffff:192.0.2.9]:80')), '192.0.2.9', 'IPv4-mapped, as clientAddressResolver writes it');
  assert.equal(peerAddressOf(conn('')), 'unknown', 'no peer address, as clientAddressResolver writes it');
});
