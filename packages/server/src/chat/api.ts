/**
 * The server API: HTTP and JSON for the application's own backend, which
 * pushes into rooms, reads them, and removes members. Every route needs
 * `Authorization: Bearer <key>` with the key of `--api-key-file`; without
 * that flag the app does not mount the API and `/api/` paths get the
 * server's ordinary 404.
 *
 * Routes (`{room}` and `{name}` are percent-decoded path segments, checked
 * against the rules of `messages.ts`; errors are `{"error":"reason"}`):
 * - `POST /api/rooms/{room}/messages` with `{"from":"name","text":"..."}`:
 *   stores and broadcasts the message as if member `from` had sent it, and
 *   answers 201 with the stored message (its `id` included).
 * - `GET /api/rooms/{room}/messages?since=ID&limit=N`: `{"messages":[...]}`,
 *   oldest first, as the history frame of a joining member.
 * - `GET /api/rooms/{room}/presence?after=NAME&limit=N`: one page of the
 *   names online, `{"users":[...],"next":NAME|null,"count":N}`, paged as the
 *   `who` frame is (sorted by code point, at most 500 a page).
 * - `DELETE /api/rooms/{room}/members/{name}`: asks every node to close that
 *   user's connections in the room with 4003 `removed`; 204, or 404 when the
 *   user is not in the room.
 *
 * Checks run in this order: 429 (the address failed too often), 401 (key),
 * 404 (route), 405 (method), 400 (path, query, body), 415, 413, then 503
 * while the broker cannot serve.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthFailures } from './auth-failures.js';
import type { Broker, ChatMessage, UsersPage } from './broker.js';
import { checkName, checkPageRequest, checkRoom, checkText, isMessageId, type Checked } from './messages.js';

/** Largest request body the API reads: 64 KiB. Larger gets 413. */
export const MAX_API_BODY_BYTES = 64 * 1024;
/** Shortest key accepted from `--api-key-file`, in characters. */
export const MIN_API_KEY_LENGTH = 16;
/** How a member removed through the API is closed: a private-use code (RFC 6455 §7.4.2). */
export const MEMBER_REMOVED = { code: 4003, reason: 'removed' } as const;

/** Visible ASCII, as a bearer token must be to travel in a header (RFC 6750 §2.1 is stricter still). */
const KEY_PATTERN = /^[\x21-\x7e]+$/;
const BEARER = /^Bearer +(\S+)$/i;
const JSON_TYPE = /^application\/json\s*(?:;|$)/i;
const COUNT = /^\d{1,9}$/;

/**
 * ApiKey holds the SHA-256 digest of the server API key (not the key) and
 * checks presented keys against it in constant time.
 */
export class ApiKey {
  readonly #digest: Buffer;

  /** Throws a RangeError when `key` is shorter than 16 characters or not visible ASCII. */
  constructor(key: string) {
    if (!KEY_PATTERN.test(key)) {
      throw new RangeError('Invalid API key: use visible ASCII characters only (no spaces), as it is sent in an HTTP header');
    }
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new RangeError(`Invalid API key: ${key.length} characters, fewer than the minimum of ${MIN_API_KEY_LENGTH}`);
    }
    this.#digest = sha256(key);
  }

  /**
   * fromFile reads the key from `path`, without its trailing line break.
   * Throws a readable Error when the file cannot be read or holds no valid key.
   */
  static fromFile(path: string): ApiKey {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`Cannot read --api-key-file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    try {
      return new ApiKey(text.replace(/\r?\n$/, ''));
    } catch (err) {
      throw new Error(`Cannot use --api-key-file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /**
   * matches tells whether `candidate` is the key. Both sides are hashed
   * first, so the comparison takes the same time whatever the candidate's
   * length or content.
   */
  matches(candidate: string): boolean {
    return timingSafeEqual(sha256(candidate), this.#digest);
  }
}

/** Settings of a {@link ChatApi}. */
export interface ChatApiOptions {
  /** Where messages are stored and sent, and presence and removals go. */
  broker: Broker;
  /** The key every request must bear. */
  key: ApiKey;
  /** Where wrong keys are counted and over-budget addresses are turned away. */
  authFailures: AuthFailures;
  /** Messages kept per room: the largest and the default `limit` of a history read. */
  historySize: number;
  /** Called with each message stored through the API (for metrics). Unset: nothing. */
  onPublish?: (message: ChatMessage) => void;
  /** Receives one line per removal and per store failure. */
  log: (line: string) => void;
}

/** The routes, each with the methods it allows (the `Allow` header of a 405). */
const ROUTES = {
  messages: ['GET', 'HEAD', 'POST'],
  presence: ['GET', 'HEAD'],
  member: ['DELETE'],
} as const;

type Route =
  | { kind: 'messages' | 'presence'; room: string }
  | { kind: 'member'; room: string; name: string };

/** A request the API refuses: the status, the reason, and any extra headers. */
class Refusal {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** isApiPath tells whether a request target belongs to the API: `/api` or anything under `/api/`. */
export function isApiPath(url: string | undefined): boolean {
  const path = rawPath(url);
  return path === '/api' || path.startsWith('/api/');
}

/** ChatApi answers the requests under `/api/`. */
export class ChatApi {
  readonly #options: ChatApiOptions;

  constructor(options: ChatApiOptions) {
    this.#options = options;
  }

  /** handle answers one request under `/api/` (see the module comment); never rejects. */
  handle(req: IncomingMessage, res: ServerResponse, clientAddress: string): void {
    this.#serve(req, res, clientAddress).catch((err: unknown) => {
      if (err instanceof Refusal) return sendError(res, err);
      this.#options.log(`chat api: ${req.method} ${rawPath(req.url)} failed: ${errorText(err)}`);
      if (!res.headersSent) sendError(res, new Refusal(500, 'Internal error; see the server log'));
      else res.destroy();
    });
  }

  async #serve(req: IncomingMessage, res: ServerResponse, clientAddress: string): Promise<void> {
    this.#authorize(req, clientAddress);
    const route = parseRoute(rawPath(req.url));
    if (route === undefined) throw new Refusal(404, `No API route ${rawPath(req.url)}; see README for the routes under /api/rooms/`);
    const allowed: readonly string[] = ROUTES[route.kind];
    const method = req.method ?? 'GET';
    if (!allowed.includes(method)) {
      throw new Refusal(405, `Method ${method} not allowed here; use ${allowed.join(', ')}`, { allow: allowed.join(', ') });
    }
    const room = checked(checkRoom(route.room));
    if (route.kind === 'member') return this.#remove(res, room, checked(checkName(route.name)));
    if (route.kind === 'presence') return this.#presence(res, room, new URLSearchParams(rawQuery(req.url)));
    if (method === 'POST') return this.#post(req, res, room);
    return this.#history(res, room, new URLSearchParams(rawQuery(req.url)));
  }

  /** Refuses with 429 an address over its failure budget, then with 401 a missing or wrong key. */
  #authorize(req: IncomingMessage, clientAddress: string): void {
    const { authFailures, key } = this.#options;
    const wait = authFailures.retryAfter(clientAddress);
    if (wait > 0) {
      throw new Refusal(429, `Too many failed API-key attempts from ${clientAddress}; try again in ${wait} s`, { 'retry-after': String(wait) });
    }
    const header = req.headers.authorization;
    // A missing key is not a guess, so only wrong ones count against the address.
    if (header === undefined || header === '') {
      throw new Refusal(401, 'Missing API key: send Authorization: Bearer <key>', { 'www-authenticate': 'Bearer realm="wskit-api"' });
    }
    const presented = BEARER.exec(header)?.[1];
    if (presented === undefined || !key.matches(presented)) {
      authFailures.fail(clientAddress);
      const reason = presented === undefined ? 'Malformed Authorization header: expected Bearer <key>' : 'Invalid API key';
      throw new Refusal(401, reason, { 'www-authenticate': 'Bearer realm="wskit-api", error="invalid_token"' });
    }
  }

  async #post(req: IncomingMessage, res: ServerResponse, room: string): Promise<void> {
    const type = req.headers['content-type'];
    if (type === undefined || !JSON_TYPE.test(type)) {
      throw new Refusal(415, `Unsupported content type ${type === undefined ? '(none)' : JSON.stringify(type)}; send application/json`);
    }
    const body = await readBody(req, MAX_API_BODY_BYTES);
    const { from, text } = parsePost(body);
    this.#assertReady();
    let message: ChatMessage;
    try {
      message = await this.#options.broker.publish(room, from, text);
    } catch (err) {
      throw this.#unavailable(`message to room "${room}" not stored`, err);
    }
    this.#options.onPublish?.(message);
    sendJson(res, 201, message);
  }

  async #history(res: ServerResponse, room: string, query: URLSearchParams): Promise<void> {
    const { historySize } = this.#options;
    for (const key of ['since', 'limit']) {
      if (query.getAll(key).length > 1) throw new Refusal(400, `Invalid query: ${key} is given more than once`);
    }
    const since = query.get('since') ?? '';
    if (since !== '' && !isMessageId(since)) throw new Refusal(400, 'Invalid since: expected a message id of the form <ms>-<seq>');
    const limitText = query.get('limit') ?? '';
    const limit = limitText === '' ? historySize : COUNT.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= historySize)) {
      throw new Refusal(400, `Invalid limit ${JSON.stringify(limitText)}: expected a whole number from 1 to ${historySize}`);
    }
    this.#assertReady();
    let messages: ChatMessage[];
    try {
      messages = await this.#options.broker.history(room, { limit, ...(since !== '' ? { since } : {}) });
    } catch (err) {
      throw this.#unavailable(`history of room "${room}" not read`, err);
    }
    sendJson(res, 200, { messages });
  }

  async #presence(res: ServerResponse, room: string, query: URLSearchParams): Promise<void> {
    for (const key of ['after', 'limit']) {
      if (query.getAll(key).length > 1) throw new Refusal(400, `Invalid query: ${key} is given more than once`);
    }
    const request = checked(checkPageRequest(query.get('after'), query.get('limit')));
    this.#assertReady();
    let page: UsersPage;
    try {
      page = await this.#options.broker.users(room, request);
    } catch (err) {
      throw this.#unavailable(`users of room "${room}" not read`, err);
    }
    sendJson(res, 200, page);
  }

  async #remove(res: ServerResponse, room: string, name: string): Promise<void> {
    this.#assertReady();
    let online: boolean;
    try {
      online = await this.#options.broker.isOnline(room, name);
    } catch (err) {
      throw this.#unavailable(`users of room "${room}" not read`, err);
    }
    if (!online) throw new Refusal(404, `${JSON.stringify(name)} is not in room "${room}"`);
    try {
      await this.#options.broker.removeMember(room, name);
    } catch (err) {
      throw this.#unavailable(`${JSON.stringify(name)} not removed from room "${room}"`, err);
    }
    this.#options.log(`chat api: removed ${JSON.stringify(name)} from room "${room}"`);
    res.writeHead(204, { 'cache-control': 'no-store' });
    res.end();
  }

  /**
   * A degraded broker would answer from this node alone (presence) or fail
   * later; refuse at once so the backend retries instead.
   */
  #assertReady(): void {
    const { state } = this.#options.broker;
    if (state !== 'ready') throw new Refusal(503, `The chat store is unavailable (broker ${state}); try again later`);
  }

  #unavailable(what: string, err: unknown): Refusal {
    this.#options.log(`chat api: ${what}: ${errorText(err)}`);
    return new Refusal(503, `The chat store is unavailable: ${errorText(err)}`);
  }
}

/**
 * parseRoute maps a raw path (not normalized, so a room named `..` stays
 * addressable) to a route; undefined for any other path. Throws a 400 when a
 * segment is not valid percent-encoding.
 */
function parseRoute(path: string): Route | undefined {
  const parts = path.split('/');
  if (parts[0] !== '' || parts[1] !== 'api' || parts[2] !== 'rooms') return undefined;
  const kind = parts[4];
  if (parts.length === 5 && (kind === 'messages' || kind === 'presence')) return { kind, room: decodeSegment('room', parts[3]!) };
  if (parts.length === 6 && kind === 'members') {
    return { kind: 'member', room: decodeSegment('room', parts[3]!), name: decodeSegment('name', parts[5]!) };
  }
  return undefined;
}

function decodeSegment(kind: 'room' | 'name', segment: string): string {
  if (segment === '') throw new Refusal(400, `Missing ${kind}: the path segment is empty`);
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new Refusal(400, `Invalid ${kind}: ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

/** The body of a POST: a JSON object with a valid `from` name and message `text`. */
function parsePost(body: Buffer): { from: string; text: string } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new Refusal(400, 'Invalid body: not UTF-8 JSON; send {"from":"name","text":"..."}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Refusal(400, 'Invalid body: expected a JSON object {"from":"name","text":"..."}');
  }
  const { from, text } = value as Record<string, unknown>;
  if (typeof from !== 'string' || from === '') throw new Refusal(400, 'Invalid body: from must be a non-empty string, the sender\'s name');
  return { from: checked(checkName(from)), text: checked(checkText(text)) };
}

/**
 * readBody collects a request body of at most `limit` bytes. Past the limit
 * (by Content-Length up front, or while reading) it stops collecting and
 * refuses with 413; the response closes the connection, so the rest of the
 * body is never buffered.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (size: string) =>
    new Refusal(413, `Body too large: ${size}, over the limit of ${limit} bytes`, { connection: 'close' });
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(`${declared} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      cleanup();
      chunks.length = 0;
      reject(tooLarge(`more than ${limit} bytes`));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onClose = () => {
      cleanup();
      // Answered into a closed socket, which is harmless; nothing to log.
      reject(new Refusal(400, 'The request body ended early: the client closed the connection'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

function checked<T>(result: Checked<T>): T {
  if (!result.ok) throw new Refusal(400, result.error);
  return result.value;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) return void res.destroy();
  sendJson(res, refusal.status, { error: refusal.reason }, refusal.headers);
}

/** The path of a request target as sent: no normalization of `.`/`..` segments, no decoding. */
function rawPath(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

function rawQuery(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query < 0 ? '' : target.slice(query + 1);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
