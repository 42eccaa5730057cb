/**
 * Interop: wskit's server with the npm `ws` client, with and without
 * permessage-deflate, text and binary of 0 B to 16 MiB. Checks the bytes
 * both ways (hash of what the server received, bytes of what came back),
 * message types, and close codes and reasons in both directions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import {
  assertRecorded,
  CLOSE_ME,
  describeSample,
  matrix,
  MAX_MESSAGE,
  payload,
  type RecordingServer,
  SERVER_CLOSE,
  SIZES,
  startRecordingServer,
} from './peers.js';

interface Echo {
  data: Buffer;
  isBinary: boolean;
}

function open(url: string, perMessageDeflate: boolean): Promise<WebSocket> {
  // ws counts compressed bytes against maxPayload, and deflate expands random data a little.
  const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 2 * MAX_MESSAGE });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const onClose = (code: number) => reject(new Error(`closed with ${code} while waiting for a message`));
    ws.once('close', onClose);
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      ws.off('close', onClose);
      resolve({ data, isBinary });
    });
  });
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() }));
}

for (const compression of [false, true]) {
  describe(`wskit server with the ws client, permessage-deflate ${compression ? 'on' : 'off'}`, () => {
    let server: RecordingServer;
    before(async () => {
      server = await startRecordingServer(compression);
    });
    after(() => server.stop());

    test('every type and size from 0 B to 16 MiB is echoed intact, then the client closes with 4001', async () => {
      const ws = await open(server.url, compression);
      assert.equal(ws.extensions.includes('permessage-deflate'), compression, `negotiated: ${ws.extensions}`);
      const samples = matrix(SIZES);
      for (const sample of samples) {
        const data = payload(sample);
        const reply = nextMessage(ws);
        ws.send(sample.type === 'text' ? data.toString('utf8') : data, { binary: sample.type === 'binary' });
        const echo = await reply;
        assert.equal(echo.isBinary, sample.type === 'binary', `type of the ${describeSample(sample)} echo`);
        assert.ok(echo.data.equals(data), `the ${describeSample(sample)} echo differs (${echo.data.length} bytes back)`);
      }
      const closed = closeEvent(ws);
      ws.close(4001, 'bye from ws');
      assert.deepEqual(await closed, { code: 4001, reason: '' }, 'wskit answers the close with the same code');
      await server.closedCount(1);
      assertRecorded(server.connections[0]!, samples, compression, { code: 4001, reason: 'bye from ws' }, 'ws');
    });

    test('a close from wskit reaches ws with its code and reason', async () => {
      const ws = await open(server.url, compression);
      const closed = closeEvent(ws);
      ws.send(CLOSE_ME);
      assert.deepEqual(await closed, { code: SERVER_CLOSE.code, reason: SERVER_CLOSE.reason });
    });
  });
}
