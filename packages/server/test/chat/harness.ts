/**
 * Helpers for the chat integration tests: a chat app mounted on a real
 * `http.Server` on 127.0.0.1, and a peer that records every frame it reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dial, HandshakeError, rejectUpgrade, type Conn, type DialOptions } from 'wskit';
import { createChat, type ChatApp, type ChatOptions } from '../../src/chat/index.js';
import type { ChatMessage } from '../../src/chat/broker.js';
import type { PresenceFrame, ServerFrame } from '../../src/chat/messages.js';
import { compareNames } from '../../src/chat/names.js';

/** A chat app listening on 127.0.0.1:port. */
export interface ChatServer {
  app: ChatApp;
  server: Server;
  port: number;
  /** `ws://127.0.0.1:port/ws?` + query. */
  wsUrl(query: Record<string, string>): string;
  /** `http://127.0.0.1:port` + path. */
  httpUrl(path: string): string;
  /** Shuts the app down and closes the server; safe to call twice. */
  stop(): Promise<void>;
}

/** Makes a temporary data directory, removed by `t.after`. */
export function tempDataDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a chat app with `options` on an ephemeral port of 127.0.0.1. */
export async function startChat(options: ChatOptions): Promise<ChatServer> {
  const app = await createChat(options);
  const server = createServer((req, res) => {
    if (!app.handleRequest(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (!app.handleUpgrade(req, socket, head)) rejectUpgrade(socket, 404, 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    app,
    server,
    port,
    wsUrl: (query) => `ws://127.0.0.1:${port}/ws?${new URLSearchParams(query)}`,
    httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
    stop() {
      stopping ??= (async () => {
        await app.shutdown();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return stopping;
    },
  };
}

/**
 * refusal dials `url` with `headers` and returns the HandshakeError it gets;
 * throws when the server accepts (the connection is dropped first) or the
 * dial fails some other way.
 */
export async function refusal(url: string, headers: Record<string, string> = {}): Promise<HandshakeError> {
  try {
    const { conn } = await dial(url, { headers });
    conn.terminate();
  } catch (err) {
    if (err instanceof HandshakeError) return err;
    throw err;
  }
  throw new Error(`${url} was accepted; a refusal was expected`);
}

/** Waits for `predicate` to hold, polling every 5 ms; rejects with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * What a client knows of its room's presence, built from the frames as a
 * client must: a snapshot, then changes applied to it, or a count. Anything
 * a correct stream of frames never does (a change before a snapshot, a
 * joined name already listed, a left one not listed, a change to a count)
 * is recorded in `errors`.
 */
export class PresenceView {
  names: Set<string> | undefined;
  count: number | undefined;
  readonly errors: string[] = [];

  /** apply takes one presence frame. */
  apply(frame: PresenceFrame): void {
    if ('users' in frame) {
      this.names = new Set(frame.users);
      this.count = frame.users.length;
      if (this.names.size !== frame.users.length) this.errors.push(`snapshot lists a name twice: ${frame.users.join(',')}`);
    } else if ('count' in frame) {
      this.names = undefined;
      this.count = frame.count;
    } else if (this.names === undefined) {
      this.errors.push(`change ${JSON.stringify(frame)} without a list of names`);
    } else {
      for (const name of frame.joined) {
        if (this.names.has(name)) this.errors.push(`joined ${name}, already listed`);
        this.names.add(name);
      }
      for (const name of frame.left) {
        if (!this.names.delete(name)) this.errors.push(`left ${name}, not listed`);
      }
      this.count = this.names.size;
    }
  }

  /** The names listed, sorted as the server sorts them; undefined before a snapshot or while counted. */
  users(): string[] | undefined {
    return this.names && [...this.names].sort(compareNames);
  }
}

/** A chat client over the library's `dial` that reads and records every frame. */
export class Peer {
  readonly frames: ServerFrame[] = [];
  /** The room's presence as the frames so far describe it. */
  readonly presence = new PresenceView();
  readonly conn: Conn;
  readonly #waiters = new Set<() => void>();
  /** Settles when the connection has ended, with the close code and reason. */
  readonly ended: Promise<{ code: number; reason: string }>;

  private constructor(conn: Conn, read: boolean) {
    this.conn = conn;
    if (read) void this.#readAll();
    this.ended = conn.closed.then((err) => ({ code: err.closeCode, reason: err.reason }));
  }

  /** Connects to `url`; with `read: false` it never reads (a stalled client). */
  static async connect(url: string, options: DialOptions & { read?: boolean } = {}): Promise<Peer> {
    const { read = true, ...dialOptions } = options;
    const { conn } = await dial(url, dialOptions);
    return new Peer(conn, read);
  }

  async #readAll(): Promise<void> {
    try {
      for (;;) {
        const message = await this.conn.read();
        const frame = JSON.parse(message.data.toString('utf8')) as ServerFrame;
        this.frames.push(frame);
        if (frame.type === 'presence') this.presence.apply(frame);
        for (const check of this.#waiters) check();
      }
    } catch {
      // closed: `ended` reports how
    }
  }

  /** Resolves as soon as `predicate` holds after a frame arrives; rejects with `what` after `timeoutMs`. */
  waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  /** Starts reading a peer created with `read: false`. */
  startReading(): void {
    void this.#readAll();
  }

  /** Sends a chat message. */
  say(text: string): Promise<void> {
    return this.conn.writeJSON({ type: 'message', text });
  }

  of<T extends ServerFrame['type']>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);
  }

  /** Live messages received (not history). */
  messages(): ChatMessage[] {
    return this.of('message');
  }

  texts(): string[] {
    return this.messages().map((m) => m.text);
  }

  /** The names online as presence frames told them, sorted; undefined before the first or while the room is counted. */
  users(): string[] | undefined {
    return this.presence.users();
  }

  /** Waits until presence lists exactly `users`. */
  waitUsers(users: string[], timeoutMs = 5000): Promise<void> {
    const want = JSON.stringify(users);
    return this.waitFor(() => JSON.stringify(this.users()) === want, `presence ${want}, have ${JSON.stringify(this.users())}`, timeoutMs);
  }

  /** Waits until presence is a count of exactly `count` (the room is above the threshold). */
  waitCount(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.presence.names === undefined && this.presence.count === count, `a presence count of ${count}, have ${this.presence.count}`, timeoutMs);
  }

  /** Sends `{"type":"who"}` and resolves with the answer. */
  async who(after?: string, limit?: number, timeoutMs = 5000): Promise<{ users: string[]; next: string | null }> {
    const before = this.of('who').length;
    await this.conn.writeJSON({ type: 'who', ...(after !== undefined ? { after } : {}), ...(limit !== undefined ? { limit } : {}) });
    await this.waitFor(() => this.of('who').length > before, 'a who answer', timeoutMs);
    return this.of('who')[before]!;
  }

  /** Waits until `count` live messages have arrived. */
  waitMessages(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.messages().length >= count, `${count} messages`, timeoutMs);
  }

  /** Closes normally and waits for the end. */
  async close(): Promise<void> {
    await this.conn.close(1000, 'bye').catch(() => {});
  }
}
