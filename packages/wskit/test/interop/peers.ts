/**
 * Shared pieces of the interop tests: the message matrix (types × sizes),
 * payloads, hashes, and a wskit echo server that records what it received,
 * so each test checks integrity in both directions: what the peer sent is
 * what we received (by hash), and what we echoed is what the peer got back.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { type Conn, Upgrader } from '../../src/index.js';
import { bytes, text } from '../conformance/cases/payloads.js';

const MiB = 1024 * 1024;

/** Every size the issue names: the 7/16/64-bit length edges, 1 MiB and 16 MiB. */
export const SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB];

/** Sizes for slow peers: the edges and 1 MiB (16 MiB is run once per peer separately). */
export const SMALL_SIZES = [0, 1, 125, 126, 65535, 65536, MiB];

/** The largest message every endpoint in these tests accepts. */
export const MAX_MESSAGE = 16 * MiB;

/** One message of the matrix. */
export interface Sample {
  type: 'text' | 'binary';
  size: number;
}

/** matrix crosses types and sizes. */
export function matrix(sizes: number[]): Sample[] {
  return sizes.flatMap((size) => [
    { type: 'text' as const, size },
    { type: 'binary' as const, size },
  ]);
}

const cache = new Map<string, Buffer>();

/** payload is the deterministic bytes of a sample (text is UTF-8 with multi-byte characters). */
export function payload(sample: Sample): Buffer {
  const key = `${sample.type}:${sample.size}`;
  let p = cache.get(key);
  if (!p) {
    p = sample.type === 'text' ? text(sample.size, sample.size + 1) : bytes(sample.size, sample.size + 2);
    cache.set(key, p);
  }
  return p;
}

/** sha256 of bytes, hex. */
export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A received message, as the recording server saw it. */
export interface Received {
  type: 'text' | 'binary';
  size: number;
  sha256: string;
}

/** One connection of the recording server. */
export interface Recorded {
  extensions: string;
  received: Received[];
  closeCode?: number;
  closeReason?: string;
}

/** The text that asks the recording server to close: `close-me` (it closes with 4002). */
export const CLOSE_ME = 'close-me';
/** What the recording server closes with when asked. */
export const SERVER_CLOSE = { code: 4002, reason: 'bye from wskit' } as const;

/** A running recording echo server. */
export interface RecordingServer {
  url: string;
  connections: Recorded[];
  /** Resolves once `count` connections have ended. */
  closedCount(count: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * startRecordingServer serves a wskit echo on ws://127.0.0.1:PORT/echo, with a
 * 16 MiB limit and permessage-deflate as asked, recording each message's hash
 * and each connection's close code and reason.
 */
export async function startRecordingServer(compression: boolean): Promise<RecordingServer> {
  const upgrader = new Upgrader({
    maxMessageSize: MAX_MESSAGE,
    compression,
    checkOrigin: () => true,
    readBufferSize: MiB,
    writeBufferSize: MiB,
  });
  const connections: Recorded[] = [];
  const open = new Set<Conn>();
  let ended = 0;
  const waiters: (() => void)[] = [];
  const server = http.createServer((_, res) => res.writeHead(426).end());
  server.on('upgrade', (req, socket, head) => {
    upgrader.upgrade(req, socket, head).then(
      async (conn) => {
        const record: Recorded = { extensions: conn.extensions, received: [] };
        connections.push(record);
        open.add(conn);
        try {
          for await (const message of conn) {
            if (message.type === 'text' && message.data.toString() === CLOSE_ME) {
              await conn.close(SERVER_CLOSE.code, SERVER_CLOSE.reason);
              break;
            }
            record.received.push({ type: message.type, size: message.data.length, sha256: sha256(message.data) });
            await conn.write(message.type, message.data);
          }
        } catch {
          // An abnormal close: recorded below from conn.closed.
        }
        const result = await conn.closed;
        record.closeCode = result.closeCode;
        record.closeReason = result.reason;
        open.delete(conn);
        ended++;
        for (const wake of waiters.splice(0)) wake();
      },
      () => {},
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    connections,
    async closedCount(count) {
      const deadline = Date.now() + 10_000;
      while (ended < count) {
        if (Date.now() > deadline) throw new Error(`Only ${ended} of ${count} connections ended within 10 s`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    async stop() {
      for (const conn of open) conn.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** describeSample names a sample in assertion messages. */
export function describeSample(sample: Sample): string {
  return `${sample.size}-byte ${sample.type}`;
}

/** echoEach sends every sample from a wskit Conn and checks that its echo comes back with the same type and bytes. */
export async function echoEach(conn: Conn, samples: Sample[]): Promise<void> {
  for (const sample of samples) {
    const data = payload(sample);
    await conn.write(sample.type, data);
    const echo = await conn.read();
    assert.equal(echo.type, sample.type, `type of the ${describeSample(sample)} echo`);
    assert.ok(echo.data.equals(data), `the ${describeSample(sample)} echo differs (${echo.data.length} bytes back)`);
  }
}

/**
 * assertRecorded checks what the recording server saw of one client: the
 * agreed permessage-deflate, exactly `samples` in order, and the client's
 * close code and reason.
 */
export function assertRecorded(record: Recorded, samples: Sample[], compression: boolean, close: { code: number; reason: string }, client: string): void {
  assert.equal(record.extensions.includes('permessage-deflate'), compression);
  assert.deepEqual(
    record.received,
    samples.map((s) => ({ type: s.type, size: s.size, sha256: sha256(payload(s)) })),
    `wskit received exactly what ${client} sent`,
  );
  assert.equal(record.closeCode, close.code);
  assert.equal(record.closeReason, close.reason);
}
