/**
 * What each server's JavaScript costs per echoed message, without the
 * kernel: the same masked client frames are fed to each server's socket
 * path over an in-memory stream (a Duplex whose writes complete at once),
 * one read at a time with a turn of the event loop after each, and the
 * process's CPU time is divided by the messages echoed. The baseline
 * (`stream`) is the raw TCP echo's JavaScript: every chunk written back as
 * it came. Servers: wskit with one `conn.onMessage` handler (`on-message`),
 * wskit with a `for await` loop (`for-await`), and ws.
 *
 * On a shared or virtual machine one round's figure moves a lot, so each
 * server runs `--rounds` rounds in turn and the least is reported (what the
 * code costs when nothing else interferes) beside every round's figure.
 * The echo rows of `npm run bench` measure the same through real sockets.
 *
 * Usage: `node dist/bench/echo-inprocess.js [--size 32] [--burst 1]
 * [--messages 50000] [--rounds 7]`; `--burst 16` puts 16 frames in each read.
 */
import { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { type Conn, Upgrader } from 'wskit';
import { encodeFrame, Opcode } from 'wskit/protocol';

/** A socket stand-in: reads are pushed by the bench, writes complete at once and are counted. */
class MemorySocket extends Duplex {
  written = 0;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 1;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: string, cb: () => void): void {
    this.written += chunk.length;
    cb();
  }
  override _writev(chunks: { chunk: Buffer }[], cb: () => void): void {
    for (const { chunk } of chunks) this.written += chunk.length;
    cb();
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}

const SERVERS = ['stream', 'on-message', 'for-await', 'ws'] as const;
type ServerName = (typeof SERVERS)[number];

const HEADERS: Record<string, string> = { host: 'bench', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };
/** The upgrade request each server is handed, with the header views Node's IncomingMessage has. */
const HANDSHAKE = {
  method: 'GET',
  url: '/',
  httpVersion: '1.1',
  headers: HEADERS,
  headersDistinct: Object.fromEntries(Object.entries(HEADERS).map(([name, value]) => [name, [value]])),
};

/** Opens one connection of `server` over a fresh MemorySocket, echoing every message. */
async function open(server: ServerName): Promise<MemorySocket> {
  const socket = new MemorySocket();
  if (server === 'stream') {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    return socket;
  }
  if (server === 'ws') {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
    const request = { ...HANDSHAKE, socket } as unknown as Parameters<WebSocketServer['handleUpgrade']>[0];
    wss.handleUpgrade(request, socket as never, Buffer.alloc(0), (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    });
    return socket;
  }
  const upgrader = new Upgrader({ maxMessageSize: 16 * 1024 * 1024, compression: false });
  const conn: Conn = await upgrader.upgrade({ ...HANDSHAKE, socket } as never, socket, Buffer.alloc(0));
  if (server === 'on-message') {
    // The round ends by destroying the socket: an abnormal end, expected here.
    conn.onMessage(
      (message, c) => c.write(message.type, message.data),
      () => {},
    );
  } else {
    void (async () => {
      try {
        for await (const message of conn) await conn.write(message.type, message.data);
      } catch {
        // As above: the round ends by destroying the socket.
      }
    })();
  }
  return socket;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** One round: CPU ns per echoed message of `server`. */
async function round(server: ServerName, frame: Buffer, burst: number, messages: number): Promise<number> {
  const socket = await open(server);
  await turn();
  const read = Buffer.concat(Array.from({ length: burst }, () => frame));
  // The servers unmask in place: each read is a fresh copy, made the same way for every server.
  const copies = Array.from({ length: 64 }, () => Buffer.from(read));
  const reads = Math.ceil(messages / burst);
  const before = socket.written;
  const start = process.cpuUsage();
  for (let i = 0; i < reads; i++) {
    const chunk = copies[i & 63]!;
    read.copy(chunk);
    socket.emit('data', chunk);
    await turn();
  }
  const used = process.cpuUsage(start);
  const echoed = reads * burst;
  // Every server's echo is at least the payload of every message.
  const payload = frame.length - 6 - (frame.length - 6 > 125 ? 2 : 0);
  if (socket.written - before < echoed * payload) throw new Error(`${server} echoed ${socket.written - before} bytes, less than ${echoed} messages`);
  socket.destroy();
  return ((used.user + used.system) * 1000) / echoed;
}

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '32' },
    burst: { type: 'string', default: '1' },
    messages: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '7' },
  },
});
const size = Number(values.size);
const burst = Number(values.burst);
const messages = Number(values.messages);
const rounds = Number(values.rounds);
for (const [name, value] of Object.entries({ size, burst, messages, rounds })) {
  if (!Number.isInteger(value) || value < 1 || (name === 'size' && value > 65535)) throw new RangeError(`--${name} must be a whole number from 1${name === 'size' ? ' to 65535' : ''}, not ${value}`);
}
const frame = Buffer.concat(encodeFrame(Opcode.Text, Buffer.alloc(size, 'a'), { mask: true }));
const figures = new Map<ServerName, number[]>(SERVERS.map((s) => [s, []]));
for (let r = 0; r < rounds; r++) for (const server of SERVERS) figures.get(server)!.push(await round(server, frame, burst, messages));
const least = (server: ServerName) => Math.min(...figures.get(server)!);
console.log(`${size} B text messages, ${burst} per read, ${messages} per round; CPU ns per message, least of ${rounds} rounds (every round)`);
for (const server of SERVERS) {
  const above = server === 'stream' ? '' : `   above stream ${Math.round(least(server) - least('stream'))} ns`;
  console.log(`  ${server.padEnd(10)} ${String(Math.round(least(server))).padStart(6)}${above}   (${figures.get(server)!.map(Math.round).join(' ')})`);
}
const added = (server: ServerName) => least(server) - least('stream');
console.log(`  above stream, wskit ÷ ws: on-message ${(added('on-message') / added('ws')).toFixed(2)}×, for-await ${(added('for-await') / added('ws')).toFixed(2)}×`);
