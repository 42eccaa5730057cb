/**
 * The fuzzer as a raw TCP server: accepts a connection from a wskit client,
 * checks its upgrade request by hand, answers 101 (with the case's
 * permessage-deflate parameters) and hands the socket to a {@link Fuzzer}.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Fuzzer, withTimeout } from './fuzzer.js';
import { acceptFor, agreeAsServer, type DeflateCase, type RawHead, readHead } from './raw-handshake.js';

/** FuzzingServer listens on 127.0.0.1 and plays one case per accepted connection. */
export class FuzzingServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #waiting: ((socket: Socket) => void) | null = null;
  readonly #queue: Socket[] = [];
  /** The last upgrade request received. */
  lastRequest: RawHead | null = null;

  private constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
      // Paused until a case takes it, so no byte is read before its FrameReader listens.
      socket.pause();
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting) waiting(socket);
      else this.#queue.push(socket);
    });
  }

  /** start listens on an ephemeral port of 127.0.0.1. */
  static async start(): Promise<FuzzingServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FuzzingServer(server);
  }

  /** The base URL of the server: ws://127.0.0.1:PORT. */
  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /**
   * accept waits for the next connection, performs the handshake (answering
   * permessage-deflate with `deflate`'s parameters when set, declining it
   * otherwise) and returns the Fuzzer for it.
   */
  async accept(deflate: DeflateCase | undefined, timeoutMs: number): Promise<Fuzzer> {
    const socket = await withTimeout(
      new Promise<Socket>((resolve) => {
        const queued = this.#queue.shift();
        if (queued) resolve(queued);
        else this.#waiting = resolve;
      }),
      timeoutMs,
      'the client to connect',
    );
    try {
      const head = await readHead(socket, timeoutMs);
      this.lastRequest = head;
      const h = head.headers;
      if (!/^GET \S+ HTTP\/1\.1$/.test(head.startLine)) throw new Error(`Bad request line: ${head.startLine}`);
      if (h.upgrade?.toLowerCase() !== 'websocket') throw new Error(`Bad Upgrade header: ${h.upgrade}`);
      if (!h.connection?.toLowerCase().split(',').some((t) => t.trim() === 'upgrade')) throw new Error(`Bad Connection header: ${h.connection}`);
      if (h['sec-websocket-version'] !== '13') throw new Error(`Bad version: ${h['sec-websocket-version']}`);
      const key = h['sec-websocket-key'] ?? '';
      if (Buffer.from(key, 'base64').length !== 16) throw new Error(`Bad key: ${key}`);
      if (head.leftover.length > 0) throw new Error('Client sent frames before the handshake response');
      const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`];
      let agreed = null;
      if (deflate) {
        const answer = agreeAsServer(h['sec-websocket-extensions'], deflate);
        lines.push(`Sec-WebSocket-Extensions: ${answer.header}`);
        agreed = answer.agreed;
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      return new Fuzzer(socket, 'server', Buffer.alloc(0), agreed, timeoutMs);
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  /** close stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
