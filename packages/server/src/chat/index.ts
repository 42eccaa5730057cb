/**
 * The chat app of `wskit serve`: an HTTP request handler and an upgrade
 * handler to mount on any `http.Server`.
 *
 * Routes: `GET /` and the page's files (the browser page), `GET /healthz`,
 * `GET /metrics` (Prometheus), the WebSocket `/ws?room=&name=[&since=]`, and
 * with an API key the server API under `/api/` (`api.ts`).
 * The protocol is in `messages.ts`, the guarantees in `hub.ts`, liveness
 * and eviction in `client.ts`, tokens (`--auth-*`) in `auth.ts`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { resolve } from 'node:path';
import { CloseCode, type Conn, PreparedMessage, Upgrader, rejectUpgrade } from 'wskit';
import { ApiKey, ChatApi, MEMBER_REMOVED, isApiPath } from './api.js';
import { AuthFailures } from './auth-failures.js';
import { AUTH_LEEWAY_SECONDS, TokenVerifier, allowsRoom, grantExpiresAt, tokenFromRequest, type Grant } from './auth.js';
import type { Broker } from './broker.js';
import { ChatClient, type ClientAuth } from './client.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { Hub } from './hub.js';
import { chatRules, parseJoinQuery } from './messages.js';
import { ChatMetrics } from './metrics.js';
import { resolveChatOptions, type ChatOptions, type ResolvedChatOptions } from './options.js';
import { checkOrigin } from './origin.js';
import { defaultPageDir, pageFile, servePageFile, servePageScript } from './static-files.js';

/**
 * The page's facts from the server, served as /chat-rules.js: the name, room
 * and text rules made from src/chat/messages.ts, and whether `/ws` requires a
 * token (with the cookie that may carry it and the clock leeway).
 */
function pageScript(verifier: TokenVerifier | undefined): string {
  const auth = { required: verifier !== undefined, cookie: verifier?.cookie ?? null, leewaySeconds: AUTH_LEEWAY_SECONDS };
  return `window.WSKIT_CHAT_RULES = ${JSON.stringify(chatRules())};\nwindow.WSKIT_CHAT_AUTH = ${JSON.stringify(auth)};\n`;
}

/** The start-up line of a chat without auth flags. */
const AUTH_OFF_LINE = 'chat: auth off: /ws is open to anyone under any name; --auth-secret-file FILE or --auth-jwks-file FILE requires a JSON Web Token';
/** The WWW-Authenticate header of a 401 (RFC 6750 §3). */
const BEARER_CHALLENGE = 'Bearer realm="wskit chat"';

export { CHAT_DEFAULTS, CHAT_FLAGS, chatOptionsFromFlags, parseCount, parseDuration } from './options.js';
export type { ChatAuthOptions, ChatFlagValues, ChatOptions } from './options.js';

/** How long a client may take to finish the closing handshake at shutdown or eviction. */
const CLOSE_GRACE_MS = 2_000;

/** The mounted chat app. */
export interface ChatApp {
  /**
   * handleRequest answers `GET /`, the page's files, `/healthz`, `/metrics`,
   * a plain `GET /ws` (426) and, with an API key, every path under `/api/`;
   * returns false, untouched, for any other route (`/api/` without a key too).
   * `clientAddress` is who failed API-key limits count (default: the TCP peer).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, clientAddress?: string): boolean;
  /**
   * handleUpgrade takes the upgrade and returns true when the path is `/ws`;
   * false otherwise. `clientAddress` is who failed-auth limits count
   * (default: the TCP peer).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, clientAddress?: string): boolean;
  /**
   * countWebSocket counts a WebSocket of another route (`/add`, `/echo`) in
   * `/metrics` as opened and open, by protocol (h1 or h2); the caller, which
   * watches `conn.closed` already, calls {@link ChatApp.uncountWebSocket} when
   * it closes, so an open connection carries one close handler, not two.
   */
  countWebSocket(conn: Conn): void;
  /** uncountWebSocket counts a WebSocket passed to countWebSocket as no longer open. */
  uncountWebSocket(conn: Conn): void;
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
 * data directory is unusable, an auth key file cannot be used, or an option
 * is out of range. Logs one line saying whether `/ws` requires a token.
 */
export async function createChat(options: ChatOptions = {}): Promise<ChatApp> {
  const resolved = resolveChatOptions(options);
  // Read before the broker opens, so a bad key file leaves nothing open.
  const apiKey = resolved.apiKeyFile === undefined ? undefined : ApiKey.fromFile(resolved.apiKeyFile);
  const verifier = resolved.auth === undefined ? undefined : await TokenVerifier.load(resolved.auth);
  const broker = await openBroker(resolved);
  resolved.log(verifier === undefined ? AUTH_OFF_LINE : `chat: ${verifier.describe()}`);
  return new ChatServer(resolved, broker, apiKey, verifier);
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
  return new module.RedisBroker({
    url: options.redisUrl,
    historySize: options.historySize,
    readBatchWaitMs: options.redisBatchWaitMs,
    replicas: options.redisReplicas,
    replicasTimeoutMs: options.redisReplicasTimeoutMs,
    log: options.log,
  });
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
  /** The server API; undefined without an API key, and `/api/` paths are then left to the server's 404. */
  readonly #api: ChatApi | undefined;
  /** Checks the tokens of `/ws`; undefined when auth is off. */
  readonly #verifier: TokenVerifier | undefined;
  /** The body of /chat-rules.js. */
  readonly #pageScript: string;
  #pending = 0;
  #shutdown: Promise<void> | undefined;

  constructor(options: ResolvedChatOptions, broker: Broker, apiKey?: ApiKey, verifier?: TokenVerifier) {
    this.#options = options;
    this.#verifier = verifier;
    this.#pageScript = pageScript(verifier);
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
      ...(broker.readStats ? { readStats: () => broker.readStats!() } : {}),
      ...(broker.replicaWaitTimeouts ? { replicaWaitTimeouts: () => broker.replicaWaitTimeouts!() } : {}),
    });
    this.#upgrader = new Upgrader({
      maxMessageSize: options.maxMessageSize,
      // checked in #upgrade, before anything else, to answer with a reason
      checkOrigin: () => true,
      closeTimeout: CLOSE_GRACE_MS,
    });
    this.#api = apiKey === undefined ? undefined : new ChatApi({
      broker,
      key: apiKey,
      authFailures: this.#authFailures,
      historySize: options.historySize,
      onPublish: () => this.#metrics.messagesIn.inc(),
      log: options.log,
    });
    // Every node honours removals, also one without the API: any node's API may ask.
    broker.watchRemovals((room, name) => this.#removeMember(room, name));
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, clientAddress: string = req.socket.remoteAddress ?? 'unknown'): boolean {
    if (isApiPath(req.url)) {
      this.#api?.handle(req, res, clientAddress);
      return this.#api !== undefined;
    }
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname === '/healthz') return this.#only(req, res, () => this.#health(res));
    if (pathname === '/metrics') return this.#only(req, res, () => void this.#metricsText(res));
    if (pathname === '/chat-rules.js') return this.#only(req, res, () => servePageScript(req, res, this.#pageScript));
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

  countWebSocket(conn: Conn): void {
    this.#metrics.countWebSocket(conn, false);
  }

  uncountWebSocket(conn: Conn): void {
    this.#metrics.uncountWebSocket(conn);
  }

  async reload(): Promise<void> {
    if (this.#verifier === undefined) return;
    try {
      const line = await this.#verifier.reload();
      if (line !== undefined) this.#options.log(`reload: ${line}`);
    } catch (err) {
      this.#options.log(`reload: keeping the old auth keys: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
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
    let grant: Grant | undefined;
    if (this.#verifier !== undefined) {
      const checked = await this.#checkToken(this.#verifier, req, query, clientAddress);
      if (!checked.ok) return rejectUpgrade(socket, 401, checked.error, { 'WWW-Authenticate': checked.challenge });
      grant = checked.value;
      if (this.#shutdown) return rejectUpgrade(socket, 503, 'Server is shutting down');
    }
    // With a token, the name is its sub and the query's name is ignored.
    const join = parseJoinQuery(query, grant?.name);
    if (!join.ok) return rejectUpgrade(socket, 400, join.error);
    if (grant !== undefined && !allowsRoom(grant, join.value.room)) {
      return rejectUpgrade(socket, 403, `Forbidden: the token of ${JSON.stringify(grant.name)} does not allow the room ${JSON.stringify(join.value.room)}`);
    }
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
    this.#metrics.countWebSocket(conn);
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
      auth: grant && this.#clientAuth(grant, join.value.room, clientAddress),
    });
    this.#clients.add(client);
    void client.run().finally(() => this.#clients.delete(client));
    if (this.#shutdown) void client.close(CloseCode.GoingAway, 'Server is shutting down');
  }

  /**
   * Finds and verifies the token of an upgrade: its grant, or the 401's
   * reason and challenge (`invalid_token` once a token was given, RFC 6750
   * §3.1). Each failure counts against `clientAddress`'s budget and is logged.
   */
  async #checkToken(
    verifier: TokenVerifier,
    req: IncomingMessage,
    query: URLSearchParams,
    clientAddress: string,
  ): Promise<{ ok: true; value: Grant } | { ok: false; error: string; challenge: string }> {
    const found = tokenFromRequest(req.headers, query, verifier.cookie);
    const checked = found.ok ? await verifier.verify(found.value) : found;
    if (checked.ok) return checked;
    this.#authFailures.fail(clientAddress);
    this.#options.log(`chat: refused a token from ${clientAddress}: ${checked.error}`);
    return { ok: false, error: checked.error, challenge: found.ok ? `${BEARER_CHALLENGE}, error="invalid_token"` : BEARER_CHALLENGE };
  }

  /** The session of a connection opened with `grant`: its expiry, and refreshes checked for the same user and room. */
  #clientAuth(grant: Grant, room: string, clientAddress: string): ClientAuth {
    return {
      expiresAt: grantExpiresAt(grant),
      refresh: async (token) => {
        const wait = this.#authFailures.retryAfter(clientAddress);
        if (wait > 0) return { ok: false, error: `too many failed sign-in attempts from ${clientAddress}; try again in ${wait} s` };
        const checked = await this.#verifier!.verify(token);
        if (!checked.ok) {
          this.#authFailures.fail(clientAddress);
          return checked;
        }
        const fresh = checked.value;
        if (fresh.name !== grant.name) return { ok: false, error: `the token is for ${JSON.stringify(fresh.name)}, not ${JSON.stringify(grant.name)}` };
        if (!allowsRoom(fresh, room)) return { ok: false, error: `the token does not allow the room ${JSON.stringify(room)}` };
        return { ok: true, value: { exp: fresh.exp, expiresAt: grantExpiresAt(fresh) } };
      },
    };
  }

  /** Closes this node's connections of `name` in `room` (a removal through the server API, from any node). */
  #removeMember(room: string, name: string): void {
    const members = [...this.#clients].filter((client) => client.room === room && client.name === name);
    if (members.length === 0) return;
    this.#options.log(`chat: removing ${members.length} connection(s) of ${JSON.stringify(name)} from ${JSON.stringify(room)} (server API)`);
    for (const client of members) void client.close(MEMBER_REMOVED.code, MEMBER_REMOVED.reason);
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
      ...(this.#broker.topology ? { redis: this.#broker.topology() } : {}),
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
