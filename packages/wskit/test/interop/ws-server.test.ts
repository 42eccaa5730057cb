/**
 * Interop: wskit's client (`dial`) with the npm `ws` server, with and
 * without permessage-deflate, text and binary of 0 B to 16 MiB. The ws
 * server records the hash of each message it receives and echoes it; the
 * test compares both directions and the close codes and reasons each way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseError, dial } from '../../src/index.js';
import { CLOSE_ME, echoEach, matrix, MAX_MESSAGE, payload, type Received, sha256, SIZES } from './peers.js';

/** What ws closes with when asked. */
const WS_CLOSE = { code: 4003, reason: 'bye from ws' } as const;

interface WsConnection {
  extensions: string;
  received: Received[];
  closed: Promise<{ code: number; reason: string }>;
}

for (const compression of [false, true]) {
  describe(`wskit client with the ws server, permessage-deflate ${compression ? 'on' : 'off'}`, () => {
    let wss: WebSocketServer;
    let url: string;
    const connections: WsConnection[] = [];

    before(async () => {
      // ws counts compressed bytes against maxPayload, and deflate expands random data a little.
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: compression, maxPayload: 2 * MAX_MESSAGE });
      wss.on('connection', (ws: WebSocket) => {
        const record: WsConnection = {
          extensions: ws.extensions,
          received: [],
          closed: new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
        };
        connections.push(record);
        ws.on('message', (data: Buffer, isBinary) => {
          if (!isBinary && data.toString() === CLOSE_ME) return ws.close(WS_CLOSE.code, WS_CLOSE.reason);
          record.received.push({ type: isBinary ? 'binary' : 'text', size: data.length, sha256: sha256(data) });
          ws.send(data, { binary: isBinary });
        });
      });
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
    });

    after(async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });

    test('every type and size from 0 B to 16 MiB is echoed intact, then the client closes with 4001', async () => {
      const { conn } = await dial(url, { compression, maxMessageSize: MAX_MESSAGE });
      assert.equal(conn.extensions.includes('permessage-deflate'), compression, `negotiated: ${conn.extensions}`);
      const samples = matrix(SIZES);
      await echoEach(conn, samples);
      await conn.close(4001, 'bye from wskit');
      const result = await conn.closed;
      assert.equal(result.closeCode, 4001, 'ws answers the close with the same code');
      const record = connections[connections.length - 1]!;
      assert.equal(record.extensions.includes('permessage-deflate'), compression);
      assert.deepEqual(await record.closed, { code: 4001, reason: 'bye from wskit' });
      assert.deepEqual(
        record.received,
        samples.map((s) => ({ type: s.type, size: s.size, sha256: sha256(payload(s)) })),
        'ws received exactly what wskit sent',
      );
    });

    test('a close from ws reaches wskit with its code and reason', async () => {
      const { conn } = await dial(url, { compression });
      await conn.write('text', CLOSE_ME);
      await assert.rejects(conn.read(), (err: unknown) => {
        assert.ok(err instanceof CloseError);
        assert.equal(err.closeCode, WS_CLOSE.code);
        assert.equal(err.reason, WS_CLOSE.reason);
        return true;
      });
      assert.equal((await conn.closed).closeCode, WS_CLOSE.code);
    });
  });
}
