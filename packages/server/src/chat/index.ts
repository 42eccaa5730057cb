/**
 * The chat app of `wskit serve`: an HTTP request handler and an upgrade
 * handler to mount on any `http.Server`.
 *
 * Routes: `GET /` and the page's files (the browser page), `GET /healthz`,
 * `GET /metrics` (Prometheus), and the WebSocket `/ws?room=&name=[&since=]`.
 * The protocol is in `messages.ts`, the guarantees in `hub.ts`, liveness
 * and eviction in `client.ts`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { resolve } from 'node:path';
import { CloseCode, PreparedMessage, Upgrader, rejectUpgrade } from 'wskit';
import { AuthFailures } from './auth-failures.js';
import type { Broker } from './broker.js';
import { ChatClient } from './client.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { Hub } from './hub.js';
import { chatRules, parseJoinQuery } from './messages.js';
import { ChatMetrics } from './metrics.js';
import { resolveChatOptions, type ChatOptions, type ResolvedChatOptions } from './options.js';
import { checkOrigin } from './origin.js';
import { defaultPageDir, pageFile, servePageFile, servePageScript } from './static-files.js';

/** The page's copy of the name, room and text rules, made from src/chat/messages.ts (served as /chat-rules.js). */
const RULES_SCRIPT = `window.WSKIT_CHAT_RULES = ${JSON.stringify(chatRules())};\n`;

export { CHAT_DEFAULTS, CHAT_FLAGS, chatOptionsFromFlags, parseCount, parseDuration } from './options.js';
export type { ChatAuthOptions, ChatFlagValues, ChatOptions } from './options.js';

/** How long a client may take to finish the closing handshake at shutdown or eviction. */
const CLOSE_GRACE_MS = 2_000;

/** The mounted chat app. */
export interface ChatApp {
  /**
   * handleRequest answers `GET /`, the page's files, `/healthz`, `/metrics`
   * and a plain `GET /ws` (426); returns false, untouched, for any other route.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, clientAddress?: string): boolean;
  /**
   * handleUpgrade takes the upgrade and returns true when the path is `/ws`;
   * false otherwise. `clientAddress` is who failed-auth limits count
   * (default: the TCP peer).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, clientAddress?: string): boolean;
  /** reload re-reads the auth JWKS file (SIGHUP); rejects, keeping the old keys, when it cannot. */
  reload(): Promise<void>;
  /**
   * shutdown refuses new connections, closes every client with 1001 and a
   * reason, flushes history and closes the broker. Repeated calls share one run.
   */
  shutdown(): Promise<void>;
}

/**
 * createChat opens the broker (the embedded SQLite one, or Redis when
 * `redisUrl` is set) and returns the app. Throws a readable Error when the
 * data directory is unusable or an option is out of range.
 */
export async function createChat(options: ChatOptions = {}): Promise<ChatApp> {
  const resolved = resolveChatOptions(options);
  const broker = await openBroker(resolved);
  return new ChatServer(resolved, broker);
}

async function openBroker(options: ResolvedChatOptions): Promise<Broker> {
  if (options.redisUrl === undefined) {
    return new EmbeddedBroker({ dataDir: options.dataDir, historySize: options.historySize, log: options.log });
  }
  let module: typeof import('./redis-broker.js');
  try {
    module = await import('./redis-broker.js');
  } catch (err) {
    throw new Error(`Cannot use --redis: the Redis broker could not be loaded (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return new module.RedisBroker({ url: options.redisUrl, historySize: options.historySize, log: options.log });
}

class ChatServer implements ChatApp {
  readonly #options: ResolvedChatOptions;
  readonly #broker: Broker;
  readonly #hub: Hub<PreparedMessage>;
  readonly #metrics: ChatMetrics;
  readonly #upgrader: Upgrader;
  readonly #pageDir: string;
  readonly #clients = new Set<ChatClient>();
  /** Failed token (`/ws`) and API-key attempts per client address; shared so one limit covers both. */
  readonly #authFailures: AuthFailures;
  #pending = 0;
  #shutdown: Promise<void> | undefined;

  constructor(options: ResolvedChatOptions, broker: Broker) {
    this.#options = options;
    this.#broker = broker;
    this.#pageDir = resolve(options.pageDir ?? defaultPageDir());
    this.#authFailures = new AuthFailures({ perMinute: options.maxAuthFailuresPerMinute });
    this.#hub = new Hub({
      broker,
      historySize: options.historySize,
      presenceIntervalMs: options.presenceIntervalMs,
      presenceMaxUsers: options.presenceMaxUsers,
      encode: (json) => new PreparedMessage('text', json),
      log: options.log,
    });
    this.#metrics = new ChatMetrics({
      connections: () => this.#clients.size,
      rooms: () => this.#hub.roomCount,
      brokerState: () => broker.state,
    });
    this.#upgrader = new Upgrader({
      maxMessageSize: options.maxMessageSize,
      // checked in #upgrade, before anything else, to answer with a reason
      checkOrigin: () => true,
      closeTimeout: CLOSE_GRACE_MS,
    });
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, clientAddress: string = req.socket.remoteAddress ?? 'unknown'): boolean {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname === '/healthz') return this.#only(req, res, () => this.#health(res));
    if (pathname === '/metrics') return this.#only(req, res, () => void this.#metricsText(res));
    if (pathname === '/chat-rules.js') return this.#only(req, res, () => servePageScript(req, res, RULES_SCRIPT));
    if (pathname === '/ws') {
      return this.#only(req, res, () => plain(res, 426, 'Upgrade Required: connect with a WebSocket client to /ws?room=<room>&name=<name>\n', { upgrade: 'websocket' }));
    }
    const file = pageFile(this.#pageDir, pathname);
    if (file === undefined) return false;
    return this.#only(req, res, () => servePageFile(req, res, file));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, clientAddress: string = req.socket.remoteAddress ?? 'unknown'): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return false;
    void this.#upgrade(req, socket, head, url.searchParams, clientAddress);
    return true;
  }

  async reload(): Promise<void> {
    // TODO(auth): re-read the JWKS
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      const clients = [...this.#clients];
      await Promise.all(clients.map((client) => client.close(CloseCode.GoingAway, 'Server is shutting down')));
      await this.#hub.close();
      await this.#broker.close();
    })();
    return this.#shutdown;
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams, clientAddress: string): Promise<void> {
    const { allowOrigins, maxConnections, maxRooms } = this.#options;
    if (this.#shutdown) return rejectUpgrade(socket, 503, 'Server is shutting down');
    const wait = this.#authFailures.retryAfter(clientAddress);
    if (wait > 0) {
      return rejectUpgrade(socket, 429, `Too many failed sign-in attempts from ${clientAddress}; try again in ${wait} s`, { 'Retry-After': String(wait) });
    }
    const refused = checkOrigin(
      { origin: req.headers.origin, host: req.headers.host, secure: 'encrypted' in req.socket && req.socket.encrypted === true },
      allowOrigins,
    );
    if (refused !== undefined) return rejectUpgrade(socket, 403, refused);
    const join = parseJoinQuery(query);
    if (!join.ok) return rejectUpgrade(socket, 400, join.error);
    const open = this.#clients.size + this.#pending;
    if (open >= maxConnections) return rejectUpgrade(socket, 503, `Too many connections: ${open} open, the limit is ${maxConnections}`);
    if (!this.#hub.hasRoom(join.value.room) && this.#hub.roomCount >= maxRooms) {
      return rejectUpgrade(socket, 503, `Too many rooms: ${this.#hub.roomCount} active, the limit is ${maxRooms}`);
    }

    this.#pending++;
    let conn;
    try {
      conn = await this.#upgrader.upgrade(req, socket, head);
    } catch {
      return; // the upgrader has answered with the HTTP error
    } finally {
      this.#pending--;
    }
    const { sendQueue, pingPeriodMs, pongWaitMs, writeWaitMs, rateLimit, rateBurst, log } = this.#options;
    const client = new ChatClient(conn, join.value, this.#hub, this.#metrics, {
      sendQueue,
      pingPeriodMs,
      pongWaitMs,
      writeWaitMs,
      rateLimit,
      rateBurst,
      closeGraceMs: CLOSE_GRACE_MS,
      log,
    });
    this.#clients.add(client);
    void client.run().finally(() => this.#clients.delete(client));
    if (this.#shutdown) void client.close(CloseCode.GoingAway, 'Server is shutting down');
  }

  #only(req: IncomingMessage, res: ServerResponse, serve: () => void): true {
    if (req.method === 'GET' || req.method === 'HEAD') serve();
    else plain(res, 405, `Method ${req.method} not allowed; use GET\n`, { allow: 'GET, HEAD' });
    return true;
  }

  #health(res: ServerResponse): void {
    const state = this.#broker.state;
    const ok = state === 'ready' && !this.#shutdown;
    const body = JSON.stringify({
      status: ok ? 'ok' : 'degraded',
      broker: state,
      connections: this.#clients.size,
      rooms: this.#hub.roomCount,
    });
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  }

  async #metricsText(res: ServerResponse): Promise<void> {
    try {
      const text = await this.#metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.#metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    } catch (err) {
      plain(res, 500, `Cannot collect metrics: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}
