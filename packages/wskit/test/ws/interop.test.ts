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

/**
 * echoAndClose waits for `client` to open, checks the agreed compression, sends
 * every sample and checks its echo (type and bytes), then closes with `code`
 * and `reason` and checks that the close event carries them back.
 */
async function echoAndClose(client: InstanceType<typeof ws.WebSocket> | InstanceType<typeof WebSocket>, compression: boolean, code: number, reason: string): Promise<void> {
  await next(client, 'open');
  assert.equal(client.extensions, compression ? 'permessage-deflate' : '');
  for (const message of MESSAGES) {
    client.send(message);
    const [data, isBinary] = await next(client, 'message');
    assert.equal(isBinary, typeof message !== 'string');
    assert.deepEqual(data, Buffer.from(message as string));
  }
  client.close(code, reason);
  const [closeCode, closeReason] = await next(client, 'close');
  assert.equal(closeCode, code);
  assert.equal(String(closeReason), reason);
}

for (const compression of [false, true]) {
  const label = compression ? 'with permessage-deflate' : 'without compression';

  test(`wskit/ws WebSocketServer echoes to the npm ws client ${label}`, async (t) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: compression ? { threshold: 0 } : false });
    await next(wss, 'listening');
    t.after(() => closeServer(wss));
    wss.on('connection', (peer) => peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary })));
    const client = new ws.WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: compression });
    t.after(() => client.terminate());
    await echoAndClose(client, compression, 1000, 'bye');
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
    await echoAndClose(client, compression, 4000, 'done');
  });
}
