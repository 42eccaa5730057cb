/**
 * Interop: wskit's server with undici's `WebSocket` (the WHATWG client that
 * Node's global WebSocket is built on), with and without permessage-deflate
 * (undici always offers it; the server decides), text and binary of 0 B to
 * 16 MiB, integrity checked both ways, close codes and reasons both ways.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'undici';
import {
  assertRecorded,
  CLOSE_ME,
  describeSample,
  matrix,
  payload,
  type RecordingServer,
  SERVER_CLOSE,
  SIZES,
  startRecordingServer,
} from './peers.js';

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new Error(`undici could not open ${url}`)), { once: true });
  });
}

function nextMessage(ws: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve, reject) => {
    const onClose = (event: { code: number }) => reject(new Error(`closed with ${event.code} while waiting for a message`));
    ws.addEventListener('close', onClose, { once: true });
    ws.addEventListener(
      'message',
      (event) => {
        ws.removeEventListener('close', onClose);
        resolve(event.data as string | ArrayBuffer);
      },
      { once: true },
    );
  });
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    ws.addEventListener('close', (event) => resolve({ code: event.code, reason: event.reason }), { once: true });
  });
}

for (const compression of [false, true]) {
  describe(`wskit server with undici's WebSocket, permessage-deflate ${compression ? 'on' : 'off'}`, () => {
    let server: RecordingServer;
    before(async () => {
      server = await startRecordingServer(compression);
    });
    after(() => server.stop());

    test('every type and size from 0 B to 16 MiB is echoed intact, then the client closes with 4001', async () => {
      const ws = await open(server.url);
      assert.equal(ws.extensions.includes('permessage-deflate'), compression, `negotiated: ${ws.extensions}`);
      const samples = matrix(SIZES);
      for (const sample of samples) {
        const data = payload(sample);
        const reply = nextMessage(ws);
        ws.send(sample.type === 'text' ? data.toString('utf8') : new Uint8Array(data));
        const echo = await reply;
        const name = describeSample(sample);
        if (sample.type === 'text') {
          assert.equal(typeof echo, 'string', `type of the ${name} echo`);
          assert.ok(Buffer.from(echo as string, 'utf8').equals(data), `the ${name} echo differs`);
        } else {
          assert.ok(echo instanceof ArrayBuffer, `type of the ${name} echo`);
          assert.ok(Buffer.from(echo).equals(data), `the ${name} echo differs`);
        }
      }
      const closed = closeEvent(ws);
      ws.close(4001, 'bye from undici');
      assert.equal((await closed).code, 4001, 'wskit answers the close with the same code');
      await server.closedCount(1);
      assertRecorded(server.connections[0]!, samples, compression, { code: 4001, reason: 'bye from undici' }, 'undici');
    });

    test('a close from wskit reaches undici with its code and reason', async () => {
      const ws = await open(server.url);
      const closed = closeEvent(ws);
      ws.send(CLOSE_ME);
      assert.deepEqual(await closed, { code: SERVER_CLOSE.code, reason: SERVER_CLOSE.reason });
    });
  });
}
