/**
 * How a Conn's frames reach its socket, over real loopback sockets: the
 * server side's socket is watched by counting the writes Node's stream
 * hands down to it (`_write` for one buffer, `_writev` for several), which
 * is one system call each. The first frame of a tick goes at once, later
 * frames of the same tick leave together, and the answers to the messages
 * of one read leave in one write, in both reading styles. Every test also
 * checks that the client gets every frame, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { type Conn, Opcode, Upgrader } from '../src/index.js';
import { FrameParser } from '../src/protocol/index.js';
import { buildFrame } from './conformance/wire.js';

type After = { after: (fn: () => unknown) => void };

/** Writes handed to one socket, as the number of buffers in each. */
type WriteLog = number[];

/** Counts every write the socket's stream makes, keeping what it did. */
function watchWrites(socket: Socket): WriteLog {
  const log: WriteLog = [];
  const stream = socket as Socket & {
    _write: (chunk: Buffer, encoding: string, cb: (err?: Error) => void) => void;
    _writev: (chunks: { chunk: Buffer }[], cb: (err?: Error) => void) => void;
  };
  const write = stream._write;
  const writev = stream._writev;
  stream._write = function (chunk, encoding, cb) {
    log.push(1);
    return write.call(this, chunk, encoding, cb);
  };
  stream._writev = function (chunks, cb) {
    log.push(chunks.length);
    return writev.call(this, chunks, cb);
  };
  return log;
}

/** A server that hands each upgraded Conn, with the write log of its socket, to `serve`. */
async function server(t: After, serve: (conn: Conn, log: WriteLog) => void): Promise<number> {
  const upgrader = new Upgrader();
  const http = createServer();
  const sockets = new Set<Socket>();
  http.on('upgrade', (req, socket, head) => {
    sockets.add(socket as Socket);
    // Watched after the handshake's 101 has been written, so only frames are counted.
    upgrader.upgrade(req, socket, head).then((conn) => serve(conn, watchWrites(socket as Socket)), () => {});
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  t.after(async () => {
    // Upgraded sockets are no longer the HTTP server's to close, but it waits for them.
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => http.close(resolve));
  });
  return (http.address() as AddressInfo).port;
}

/** A raw client: connects, completes the handshake, and collects the text payloads of the frames it receives. */
async function client(t: After, port: number) {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const received: string[] = [];
  let waiters: (() => void)[] = [];
  let opcode = 0;
  const pieces: Buffer[] = [];
  const parser = new FrameParser({
    onFrameHeader: (header) => {
      opcode = header.opcode;
    },
    onPayload: (piece) => {
      pieces.push(Buffer.from(piece));
    },
    onFrameEnd: () => {
      if (opcode === Opcode.Text) received.push(Buffer.concat(pieces).toString());
      pieces.length = 0;
      for (const wake of waiters) wake();
      waiters = [];
    },
  });
  let handshake = '';
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      handshake += chunk.toString('latin1');
      const end = handshake.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.on('data', (more: Buffer) => parser.push(more));
      const rest = Buffer.from(handshake.slice(end + 4), 'latin1');
      if (rest.length > 0) parser.push(rest);
      resolve();
    };
    socket.on('data', onData);
  });
  return {
    received,
    /** Sends these texts as masked frames in one TCP write, so the server reads them at once. */
    send(texts: string[]): void {
      socket.write(Buffer.concat(texts.map((text) => buildFrame(Opcode.Text, Buffer.from(text), true))));
    },
    /** Resolves once `count` text frames have arrived (within 5 s). */
    async until(count: number): Promise<void> {
      const deadline = Date.now() + 5000;
      while (received.length < count) {
        assert.ok(Date.now() < deadline, `only ${received.length} of ${count} frames arrived`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), new Promise((resolve) => setTimeout(resolve, 100))]);
      }
    },
  };
}

const texts = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`);

/** The two documented ways to read, each echoing what it reads. */
const styles: Record<string, (conn: Conn) => void> = {
  onMessage: (conn) => conn.onMessage((message, c) => c.write(message.type, message.data)),
  'for await': (conn) => {
    (async () => {
      try {
        for await (const message of conn) await conn.write(message.type, message.data);
      } catch {
        // The client drops TCP at the end.
      }
    })();
  },
};

for (const [style, echo] of Object.entries(styles)) {
  test(`answers to the messages of one read leave in one write, with ${style}`, async (t) => {
    let log!: WriteLog;
    const port = await server(t, (conn, writes) => {
      log = writes;
      echo(conn);
    });
    const peer = await client(t, port);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const burst = texts(20, 'm');
    peer.send(burst);
    await peer.until(20);
    assert.deepEqual(peer.received, burst);
    // Loopback delivers one client write in one read; the read's 20 echoes go as one writev.
    assert.deepEqual(log, [20]);
  });
}

test('a single frame in a tick is written at once, and later frames of a tick leave together', async (t) => {
  let conn!: Conn;
  let log!: WriteLog;
  const port = await server(t, (c, writes) => {
    conn = c;
    log = writes;
  });
  const peer = await client(t, port);
  while (conn === undefined) await new Promise((resolve) => setTimeout(resolve, 5));

  void conn.write('text', 'one');
  // Handed to the socket in the call itself, before the tick ends.
  assert.deepEqual(log, [1]);
  await peer.until(1);

  // Three in one tick: the first at once, the other two in one writev when the tick ends.
  void conn.write('text', 'two');
  void conn.write('text', 'three');
  void conn.write('text', 'four');
  assert.deepEqual(log, [1, 1]);
  await peer.until(4);
  assert.deepEqual(log, [1, 1, 2]);

  // A later tick starts afresh.
  await new Promise((resolve) => setImmediate(resolve));
  void conn.write('text', 'five');
  assert.deepEqual(log, [1, 1, 2, 1]);
  await peer.until(5);
  assert.deepEqual(peer.received, ['one', 'two', 'three', 'four', 'five']);
});
