/**
 * `wskit serve`'s /echo route with the npm `ws` client: a 16 MiB compressed
 * text message (the route's limit) comes back intact, then a clean close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ECHO_MAX_MESSAGE_SIZE } from '../src/echo/handler.js';
import { startServer } from '../src/server.js';

test('wskit serve /echo returns a 16 MiB compressed text message to the ws client intact', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wskit-echo-'));
  const running = await startServer({ port: 0, host: '127.0.0.1', chat: { dataDir }, log: () => {} });
  try {
    // ws counts compressed bytes against maxPayload, and deflate expands random data a little.
    const ws = new WebSocket(`${running.url.replace(/^http/, 'ws')}/echo`, { perMessageDeflate: true, maxPayload: 2 * ECHO_MAX_MESSAGE_SIZE });
    await once(ws, 'open');
    assert.match(ws.extensions, /permessage-deflate/);
    // Printable ASCII from random bytes: valid UTF-8 that does not compress to nothing.
    const text = Buffer.from(randomBytes(ECHO_MAX_MESSAGE_SIZE).map((b) => 0x20 + (b % 95)));
    const reply = once(ws, 'message');
    ws.send(text.toString('latin1'));
    const [data, isBinary] = (await reply) as [Buffer, boolean];
    assert.equal(isBinary, false);
    assert.ok(data.equals(text), 'the echo differs');
    const closed = once(ws, 'close');
    ws.close(1000);
    assert.equal((await closed)[0], 1000);
  } finally {
    await running.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
