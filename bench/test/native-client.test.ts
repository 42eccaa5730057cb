/**
 * The bench's C load generator (bench/load/native-client.c), driven the way
 * the echo worker drives it, against real servers on 127.0.0.1: it must count
 * only true echoes, report wrong ones as errors, time a closed loop, and load
 * a plain TCP echo server for the ceiling rows.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { compressMessage } from '../load/raw-client.js';
import { buildNativeClient, NativeLoad } from '../load/native.js';
import { textPayload } from '../payload.js';
import { Upgrader } from 'wskit';

let unavailable: string | false = false;

before(() => {
  const why = buildNativeClient();
  // CI has a C compiler (better-sqlite3 builds from source there); elsewhere a missing one skips.
  if (why && process.env.WSKIT_REQUIRE_SERVICES === '1') throw new Error(why);
  unavailable = why ?? false;
});

/** A wskit echo server on /echo; `transform` may change what is sent back. */
async function echoServer(compression: boolean, transform: (data: Buffer) => Buffer = (d) => d): Promise<{ port: number; server: Server }> {
  const upgrader = new Upgrader({ compression });
  const server = createServer();
  server.on('upgrade', (req, socket, head) => {
    upgrader.upgrade(req, socket, head).then(async (conn) => {
      try {
        for await (const m of conn) await conn.write(m.type, transform(m.data));
      } catch {
        // The generator's connections are dropped at close.
      }
    }, () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

const servers: Array<{ close(): unknown; closeAllConnections?: () => void }> = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections?.();
    s.close();
  }
});

/**
 * Opens a native load, runs it until `atLeast` echoes have come back
 * (bounded), measures a 200 ms window and closes it; returns the window.
 */
async function measure(port: number, path: string | null, conns: number, inflight: number, payload: Buffer, compressed: Buffer | null, atLeast: number) {
  const load = await NativeLoad.open(port, path, conns, payload.length, inflight, payload, compressed);
  try {
    await load.command('go');
    for (let i = 0; i < 100 && (await load.count()).total < atLeast; i++) await sleep(20);
    await load.command('mark');
    await sleep(200);
    return await load.stop();
  } finally {
    await load.close();
  }
}

test('counts echoes of a wskit server with no errors, pipelined', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { port, server } = await echoServer(false);
  servers.push(server);
  const r = await measure(port, '/echo', 3, 8, Buffer.from(textPayload(300)), null, 100);
  assert.ok(r.echoes > 50, `expected echoes in 200 ms, got ${r.echoes}`);
  assert.equal(r.errors, 0);
  assert.ok(r.elapsedMs >= 150 && r.elapsedMs < 5_000, `window ${r.elapsedMs} ms`);
  assert.ok(r.cpuMs >= 0);
  // Latency is recorded only for a closed loop.
  assert.equal(r.buckets.size, 0);
});

test('records one latency sample per echo in a closed loop, large messages included', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { port, server } = await echoServer(false);
  servers.push(server);
  // Over 64 KiB: the 64-bit length form, and frames that take many reads and partial writes.
  const r = await measure(port, '/echo', 2, 1, Buffer.from(textPayload(200_000)), null, 4);
  assert.ok(r.echoes > 0);
  assert.equal(r.errors, 0);
  let samples = 0;
  for (const n of r.buckets.values()) samples += n;
  assert.equal(samples, r.echoes);
});

test('counts an echo of the wrong length as an error', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { port, server } = await echoServer(false, (d) => Buffer.concat([d, Buffer.from('!')]));
  servers.push(server);
  const r = await measure(port, '/echo', 1, 1, Buffer.from(textPayload(64)), null, 10);
  assert.ok(r.echoes > 0);
  assert.ok(r.errors >= r.echoes, `${r.errors} errors for ${r.echoes} wrong echoes`);
});

test('sends compressed frames when the server agrees to permessage-deflate (ws server)', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  let compressedSeen = false;
  wss.on('connection', (ws, req) => {
    compressedSeen ||= /permessage-deflate/.test(req.headers['sec-websocket-extensions'] ?? '');
    // ws inflates what arrives, so an intact echo proves the compressed frames were valid.
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  const payload = Buffer.from(textPayload(2048));
  const r = await measure((wss.address() as AddressInfo).port, '/', 2, 4, payload, compressMessage(payload), 50);
  assert.ok(compressedSeen, 'the generator offered permessage-deflate');
  assert.ok(r.echoes > 0);
  assert.equal(r.errors, 0);
});

test('loads a plain TCP echo server without framing', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const tcp = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  servers.push(tcp);
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const r = await measure((tcp.address() as AddressInfo).port, null, 2, 4, Buffer.from(textPayload(1000)), null, 50);
  assert.ok(r.echoes > 50);
  assert.equal(r.errors, 0);
});

test('fails to open with the server’s refusal when the path has no endpoint', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { port, server } = await echoServer(false);
  server.removeAllListeners('upgrade');
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  servers.push(server);
  const payload = Buffer.from('hi');
  await assert.rejects(NativeLoad.open(port, '/nowhere', 1, 2, 1, payload, null), /handshake refused: HTTP\/1.1 404/);
});
