/**
 * The memory row's floor server (bench/servers/idle-floor.ts), started the way
 * the bench starts it: a real `ws` client must accept its handshake and stay
 * open, the server must count the connection while held and after it ends,
 * and its stats must carry the young-generation figure the row subtracts.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { startBenchServer } from '../targets.js';

async function connectionsBecome(stats: () => Promise<{ connections: number }>, want: number): Promise<number> {
  let seen = -1;
  for (let i = 0; i < 100 && seen !== want; i++) {
    seen = (await stats()).connections;
    if (seen !== want) await sleep(20);
  }
  return seen;
}

test('the floor server completes a handshake ws accepts, holds the socket and counts it', async () => {
  const server = await startBenchServer('floor', 'idle-floor', [], true);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/echo`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      client.once('open', resolve);
      client.once('error', reject);
    });
    assert.equal(await connectionsBecome(() => server.stats(false), 1), 1);
    const stats = await server.stats(true);
    assert.ok(stats.rss > 0 && stats.heapUsed > 0, 'memory figures are reported');
    assert.ok(Number.isFinite(stats.youngGeneration) && stats.youngGeneration > 0, 'the young generation size is reported');
    assert.ok(stats.youngGeneration < stats.rss);
    // Idle means idle: the floor never answers, so the client sees no close while it waits.
    await sleep(100);
    assert.equal(client.readyState, WebSocket.OPEN);
    client.terminate();
    assert.equal(await connectionsBecome(() => server.stats(false), 0), 0, 'the closed connection is no longer counted');
  } finally {
    await server.stop();
  }
});

test('the floor server refuses an upgrade without a key with 400', async () => {
  const server = await startBenchServer('floor', 'idle-floor', [], false);
  try {
    // A raw request, since a WebSocket client always sends a key.
    const socket = connect(server.port, '127.0.0.1');
    socket.end('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n');
    let reply = '';
    for await (const chunk of socket) reply += String(chunk);
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1]);
    assert.equal(status, 400);
  } finally {
    await server.stop();
  }
});
