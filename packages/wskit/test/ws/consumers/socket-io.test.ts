/**
 * Socket.IO 4 on wskit/ws: a Socket.IO server whose `wsEngine` is
 * wskit/ws's WebSocketServer, with the WebSocket transport only, and
 * socket.io-client talking to it. Rooms, acknowledgements, binary
 * attachments, a 1 MiB message over permessage-deflate, and a disconnect
 * from the server side.
 *
 * `npm test` runs wskit/ws only; `WSKIT_WS_IMPLS=ws,wskit/ws` runs the same
 * tests on the npm `ws` package too, which shows that they expect what ws does.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import type * as ws from 'ws';
import { listen, selectedImplementations, withTimeout, wskitWs, type HttpServer, type WsModule } from '../implementations.js';

const WAIT_MS = 5_000;
const MiB = 1024 * 1024;

interface ServerEvents {
  join(room: string, ack: () => void): void;
  say(room: string, text: string): void;
  add(numbers: { a: number; b: number }, ack: (sum: number) => void): void;
  echo(payload: unknown, ack: (payload: unknown) => void): void;
  digest(text: string, ack: (sha256: string) => void): void;
  'kick me'(): void;
}

interface ClientEvents {
  said(room: string, text: string): void;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A 1 MiB string that compresses a little but not trivially: random hex with runs. */
function bigText(): string {
  const hex = randomBytes(MiB / 4).toString('hex');
  return (hex + hex.toUpperCase()).slice(0, MiB);
}

function suite(mod: WsModule): void {
  let http: HttpServer;
  let ioServer: Server<ServerEvents, ClientEvents>;
  const extensions: string[] = [];
  const clients: ClientSocket<ClientEvents, ServerEvents>[] = [];

  // The engine is the module's WebSocketServer, subclassed only to note what each handshake negotiated.
  class RecordingServer extends mod.WebSocketServer {
    override handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (client: ws.WebSocket, req: IncomingMessage) => void): void {
      super.handleUpgrade(req, socket, head, (client, request) => {
        assert.ok(client instanceof mod.WebSocket, 'the connection is not a WebSocket of the module under test');
        extensions.push(client.extensions);
        done(client, request);
      });
    }
  }

  before(async () => {
    http = await listen();
    ioServer = new Server<ServerEvents, ClientEvents>(http.server, {
      wsEngine: RecordingServer,
      transports: ['websocket'],
      perMessageDeflate: true,
      maxHttpBufferSize: 4 * MiB,
    });
    ioServer.on('connection', (socket: ServerSocket<ServerEvents, ClientEvents>) => {
      socket.on('join', async (room, ack) => {
        await socket.join(room);
        ack();
      });
      socket.on('say', (room, text) => {
        ioServer.to(room).emit('said', room, text);
      });
      socket.on('add', ({ a, b }, ack) => ack(a + b));
      socket.on('echo', (payload, ack) => ack(payload));
      socket.on('digest', (text, ack) => ack(sha256(text)));
      socket.on('kick me', () => socket.disconnect(true));
    });
  });

  after(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await new Promise<void>((resolve) => ioServer.close(() => resolve()));
    await http.stop();
  });

  async function connect(): Promise<ClientSocket<ClientEvents, ServerEvents>> {
    const client: ClientSocket<ClientEvents, ServerEvents> = io(`http://127.0.0.1:${http.port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: WAIT_MS,
    });
    clients.push(client);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      }),
      WAIT_MS,
      'socket.io to connect',
    );
    return client;
  }

  function nextSaid(client: ClientSocket<ClientEvents, ServerEvents>): Promise<[string, string]> {
    return withTimeout(new Promise((resolve) => client.once('said', (room, text) => resolve([room, text]))), WAIT_MS, 'a room message');
  }

  test('Socket.IO delivers a room message to its members only', async () => {
    const [alice, bob, carol] = await Promise.all([connect(), connect(), connect()]);
    await Promise.all([alice.emitWithAck('join', 'blue'), bob.emitWithAck('join', 'blue'), carol.emitWithAck('join', 'red')]);
    const heardByAlice = nextSaid(alice);
    const heardByBob = nextSaid(bob);
    const heardByCarol = nextSaid(carol);
    alice.emit('say', 'blue', 'hello blue');
    assert.deepEqual(await heardByAlice, ['blue', 'hello blue']);
    assert.deepEqual(await heardByBob, ['blue', 'hello blue']);
    // Messages on one connection arrive in order, so the first carol hears must be the red one.
    bob.emit('say', 'red', 'hello red');
    assert.deepEqual(await heardByCarol, ['red', 'hello red']);
  });

  test('Socket.IO acknowledgements carry the value back', async () => {
    const client = await connect();
    assert.equal(await client.timeout(WAIT_MS).emitWithAck('add', { a: 7, b: 4 }), 11);
    const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => client.timeout(WAIT_MS).emitWithAck('add', { a: i, b: i })));
    assert.deepEqual(sums, Array.from({ length: 20 }, (_, i) => 2 * i));
  });

  test('Socket.IO binary attachments come back byte for byte', async () => {
    const client = await connect();
    const small = randomBytes(1000);
    const large = randomBytes(300 * 1024);
    const back = (await client.timeout(WAIT_MS).emitWithAck('echo', { name: 'files', parts: [small, { nested: large }], empty: Buffer.alloc(0) })) as {
      name: string;
      parts: [Uint8Array, { nested: Uint8Array }];
      empty: Uint8Array;
    };
    assert.equal(back.name, 'files');
    assert.deepEqual(Buffer.from(back.parts[0]), small);
    assert.deepEqual(Buffer.from(back.parts[1].nested), large);
    assert.equal(back.empty.byteLength, 0);
  });

  test('Socket.IO carries a 1 MiB message both ways with permessage-deflate', async () => {
    const client = await connect();
    assert.match(extensions.at(-1) ?? '', /permessage-deflate/, 'the handshake did not negotiate permessage-deflate');
    const text = bigText();
    assert.equal(await client.timeout(WAIT_MS).emitWithAck('digest', text), sha256(text));
    const back = (await client.timeout(WAIT_MS).emitWithAck('echo', text)) as string;
    assert.equal(back.length, MiB);
    assert.equal(sha256(back), sha256(text));
  });

  test("Socket.IO client sees a server-side disconnect as 'io server disconnect'", async () => {
    const client = await connect();
    const reason = withTimeout(new Promise<string>((resolve) => client.once('disconnect', resolve)), WAIT_MS, 'the disconnect');
    client.emit('kick me');
    assert.equal(await reason, 'io server disconnect');
  });
}

for (const impl of selectedImplementations([wskitWs])) {
  const mod = await impl.load().catch((err: unknown) => err as Error);
  if (mod instanceof Error) {
    // A module that fails to load is a broken build, not a missing feature.
    test(`Socket.IO on ${impl.name} loads`, () => {
      throw mod;
    });
    continue;
  }
  if ('missing' in mod) {
    test(`Socket.IO on ${impl.name}`, { todo: mod.missing });
    continue;
  }
  describe(`Socket.IO on ${impl.name}`, { timeout: 30_000 }, () => suite(mod));
}
