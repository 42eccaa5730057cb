/**
 * wskit/ws against the npm `ws` package over loopback: ws's client with
 * wskit/ws's server and wskit/ws's client with ws's server, with and
 * without permessage-deflate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import * as ws from 'ws';
import { WebSocket, WebSocketServer } from '../../src/ws/index.js';
import { closeServer, next } from './helpers.js';

const MESSAGES = ['hello', 'x'.repeat(70_000), Buffer.from([0, 1, 2, 255]), Buffer.alloc(300_000, 7)];

for (const compression of [false, true]) {
  const label = compression ? 'with permessage-deflate' : 'without compression';

  test(`wskit/ws WebSocketServer echoes to the npm ws client ${label}`, async (t) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: compression ? { threshold: 0 } : false });
    await next(wss, 'listening');
    t.after(() => closeServer(wss));
    wss.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
    const client = new ws.WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: compression });
    t.after(() => client.terminate());
    await next(client, 'open');
    assert.equal(client.extensions, compression ? 'permessage-deflate' : '');
    for (const message of MESSAGES) {
      client.send(message);
      const [data, isBinary] = await next(client, 'message');
      assert.equal(isBinary, typeof message !== 'string');
      assert.deepEqual(data, Buffer.from(message as string));
    }
    client.close(1000, 'bye');
    const [code, reason] = await next(client, 'close');
    assert.equal(code, 1000);
    assert.equal(String(reason), 'bye');
  });

  test(`wskit/ws WebSocket talks to the npm ws server ${label}`, async (t) => {
    const server = new ws.WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: compression ? { threshold: 0 } : false });
    await next(server, 'listening');
    t.after(() => {
      for (const c of server.clients) c.terminate();
      server.close();
    });
    server.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: compression ? { threshold: 0 } : false });
    t.after(() => client.terminate());
    await next(client, 'open');
    assert.equal(client.extensions, compression ? 'permessage-deflate' : '');
    for (const message of MESSAGES) {
      client.send(message);
      const [data, isBinary] = await next(client, 'message');
      assert.equal(isBinary, typeof message !== 'string');
      assert.deepEqual(data, Buffer.from(message as string));
    }
    client.close(4000, 'done');
    const [code, reason] = await next(client, 'close');
    assert.equal(code, 4000);
    assert.equal(String(reason), 'done');
  });
}
