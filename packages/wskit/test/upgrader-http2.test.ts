/**
 * Upgrader on the `connect` event of a node:http2 server (RFC 8441), driven
 * by Node's own http2 client with headers written by hand: what an accepted
 * extended CONNECT is answered with, and each refusal (400, 403, 501, a
 * route's own status), none of which harms the session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session, type Http2ServerRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { type Conn, HandshakeError, rejectUpgrade, Upgrader, type UpgraderOptions } from '../src/index.js';
import { startHttp2Server } from './helpers/http2-server.js';

type After = { after: (fn: () => unknown) => void };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A server whose upgrader's outcomes (a Conn, or the rejection) are collected in order; `route` may answer first. */
async function serve(t: After, options: UpgraderOptions = {}, route?: (req: Http2ServerRequest) => boolean, responseHeaders: Record<string, string> = {}) {
  const upgrader = new Upgrader(options);
  const outcomes: Promise<Conn>[] = [];
  const server = await startHttp2Server(t, (req) => {
    if (route?.(req)) return;
    const outcome = upgrader.upgrade(req, req.stream, undefined, responseHeaders);
    outcome.catch(() => {});
    outcome.then((conn) => t.after(() => conn.terminate()), () => {});
    outcomes.push(outcome);
  });
  const session = http2.connect(server.url.replace('ws:', 'http:'));
  session.on('error', () => {});
  t.after(() => session.destroy());
  return { server, session, outcomes, authority: new URL(server.url).host };
}

/** Sends `headers` on a new stream of `session` and reads the answer: status, headers and (for a refusal) the body. */
function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: false });
    stream.on('error', reject);
    stream.once('response', (response) => {
      const status = Number(response[':status']);
      if (status === 200) {
        resolve({ status, headers: response, body: '' });
        stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      let body = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      stream.once('end', () => {
        resolve({ status, headers: response, body });
        stream.close();
      });
    });
  });
}

function extendedConnect(authority: string, changes: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': '/chat',
    ':authority': authority,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

test('Upgrader answers an extended CONNECT with 200, the agreed subprotocol and extensions, and no Sec-WebSocket-Accept', async (t) => {
  const { session, outcomes, authority } = await serve(t, { subprotocols: ['superchat', 'chat'], compression: true }, undefined, { 'x-node': 'one' });
  const answer = await send(
    session,
    extendedConnect(authority, { 'sec-websocket-protocol': 'chat, superchat', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' }),
  );
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['sec-websocket-protocol'], 'superchat');
  assert.match(String(answer.headers['sec-websocket-extensions']), /^permessage-deflate/);
  assert.equal(answer.headers['sec-websocket-accept'], undefined);
  assert.equal(answer.headers['x-node'], 'one');
  const conn = await outcomes[0]!;
  assert.equal(conn.httpVersion, '2');
  assert.equal(conn.subprotocol, 'superchat');
});

test('Upgrader answers 501 to an unknown :protocol and 400 to a bad extended CONNECT; the session takes the next request', async (t) => {
  const { session, outcomes, authority } = await serve(t);
  const cases: [OutgoingHttpHeaders, number][] = [
    [extendedConnect(authority, { ':protocol': 'connect-udp' }), 501],
    [extendedConnect(authority, { 'sec-websocket-version': '8' }), 400],
    [extendedConnect(authority, { 'sec-websocket-version': undefined }), 400],
    [extendedConnect(authority, { 'sec-websocket-extensions': 'permessage-deflate; =' }), 400],
  ];
  for (const [headers, status] of cases) {
    const answer = await send(session, headers);
    assert.equal(answer.status, status, JSON.stringify(headers));
    assert.match(answer.headers['content-type'] ?? '', /^text\/plain/);
    assert.ok(answer.body.length > 1, 'a plain-text reason');
  }
  const versionAnswer = await send(session, extendedConnect(authority, { 'sec-websocket-version': '8' }));
  assert.equal(versionAnswer.headers['sec-websocket-version'], '13');
  for (const outcome of outcomes.slice(0, cases.length)) {
    const err = await outcome.catch((e: unknown) => e);
    assert.ok(err instanceof HandshakeError);
    assert.ok(err.status === 400 || err.status === 501);
  }
  assert.equal((await send(session, extendedConnect(authority))).status, 200);
});

test('Upgrader answers 400 to a CONNECT without :protocol (a tunnel request)', async (t) => {
  const { session, authority } = await serve(t);
  const answer = await send(session, { ':method': 'CONNECT', ':authority': authority });
  assert.equal(answer.status, 400);
  assert.match(answer.body, /:protocol/);
});

test('Upgrader over HTTP/2 checks Origin against :authority by default (403 for another host)', async (t) => {
  const { session, authority } = await serve(t);
  assert.equal((await send(session, extendedConnect(authority, { origin: `https://${authority}` }))).status, 200);
  const refused = await send(session, extendedConnect(authority, { origin: 'https://evil.example' }));
  assert.equal(refused.status, 403);
  assert.match(refused.body, /evil\.example/);
});

test('Upgrader over HTTP/2 calls checkOrigin and onError with the HTTP/2 request and its stream', async (t) => {
  const seen: string[] = [];
  const { session, authority } = await serve(t, {
    checkOrigin: (req) => req.httpVersionMajor === 2 && req.headers.origin === 'https://friend.example',
    onError: (req, socket, status, reason) => {
      seen.push(`${req.url} ${status}`);
      rejectUpgrade(socket, status, `custom: ${reason}`);
    },
  });
  assert.equal((await send(session, extendedConnect(authority, { origin: 'https://friend.example' }))).status, 200);
  const refused = await send(session, extendedConnect(authority, { origin: 'https://stranger.example' }));
  assert.equal(refused.status, 403);
  assert.match(refused.body, /^custom: /);
  assert.deepEqual(seen, ['/chat 403']);
});

test('rejectUpgrade answers on an HTTP/2 stream with the status, headers and plain-text body', async (t) => {
  const { session, authority } = await serve(t, {}, (req) => {
    rejectUpgrade(req.stream, 503, 'Server is shutting down', { 'Retry-After': '5' });
    return true;
  });
  const answer = await send(session, extendedConnect(authority));
  assert.equal(answer.status, 503);
  assert.equal(answer.headers['retry-after'], '5');
  assert.equal(answer.body, 'Server is shutting down\n');
});

test('Upgrader over HTTP/2 refuses response headers HTTP/2 forbids with 500, and a socket other than req.stream with TypeError', async (t) => {
  const { session, outcomes, authority } = await serve(t, {}, undefined, { Connection: 'keep-alive' });
  assert.equal((await send(session, extendedConnect(authority))).status, 500);
  assert.ok((await outcomes[0]!.catch((e: unknown) => e)) instanceof HandshakeError);

  const wrongSocket: Promise<unknown>[] = [];
  const other = await serve(t, {}, (req) => {
    wrongSocket.push(new Upgrader().upgrade(req, req.socket as never).catch((e: unknown) => e));
    rejectUpgrade(req.stream, 400, 'test over');
    return true;
  });
  await send(other.session, extendedConnect(other.authority));
  assert.ok((await wrongSocket[0]) instanceof TypeError);
});
