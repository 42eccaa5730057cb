/**
 * The chat app's settings: the options object, its defaults, and the
 * command-line flags of `wskit serve` that fill it.
 */
import { DEFAULT_REPLICAS_TIMEOUT_MS, checkReplicas, checkReplicasTimeout } from './redis-durability.js';

/** Settings of the chat app; every one is optional and bounded by default. */
export interface ChatOptions {
  /** Directory of the SQLite history (embedded broker). Unset: `./data`. */
  dataDir?: string;
  /** Messages of history kept per room and sent on join. Unset: 100. */
  historySize?: number;
  /** How often each client is pinged, in ms; must be below pongWaitMs. Unset: 54 000. */
  pingPeriodMs?: number;
  /** How long a client may stay silent (no pong) before it is dropped, in ms. Unset: 60 000. */
  pongWaitMs?: number;
  /** Longest time one write may take, in ms. Unset: 10 000. */
  writeWaitMs?: number;
  /** Frames queued per client before it is evicted as too slow. Unset: 256. */
  sendQueue?: number;
  /** Messages per second per client; 0 lifts the limit. Unset: 20. */
  rateLimit?: number;
  /** Messages a client may send at once. Unset: 40. */
  rateBurst?: number;
  /** Origins allowed besides the server's own (`https://example.com`); `*` allows any. Unset: none. */
  allowOrigins?: string[];
  /** Open chat connections at most; more get 503. Unset: 10 000. */
  maxConnections?: number;
  /** Rooms with members at most; joining a new one beyond gets 503. Unset: 10 000. */
  maxRooms?: number;
  /** Largest WebSocket message accepted, in bytes; larger closes with 1009. Unset: 64 KiB. */
  maxMessageSize?: number;
  /** Redis URL (`redis://127.0.0.1:6379`): use the Redis broker instead of the embedded one. Unset: embedded. */
  redisUrl?: string;
  /**
   * With `redisUrl`: how long the fan-out reader waits after a read that
   * found messages, so the next read takes a batch (0: never waits). A read
   * that found nothing is never followed by a wait. Unset: 2 ms, at most 50.
   */
  redisBatchWaitMs?: number;
  /**
   * With `redisUrl`: replicas that must have each message (Redis `WAIT`)
   * before it is acknowledged or shown; 0 waits for none. Every node must
   * use the same value. Unset: 0, at most 16.
   */
  redisReplicas?: number;
  /** With `redisReplicas`: how long to wait for them before refusing the message. Unset: 1000 ms, at most 10 000. */
  redisReplicasTimeoutMs?: number;
  /** Directory of the browser page. Unset: `src/chat/page` in the package root. */
  pageDir?: string;
  /** Who may connect to `/ws` and as whom (JWT). Unset: anyone, under any name. */
  auth?: ChatAuthOptions;
  /** File holding the key of the server API (`/api/...`, `Authorization: Bearer KEY`). Unset: the API is off (404). */
  apiKeyFile?: string;
  /** Failed token or API-key attempts per client address per minute; beyond it 429. Unset: 20. */
  maxAuthFailuresPerMinute?: number;
  /** Shortest time between two presence frames to one member, in ms (changes in between are coalesced). Unset: 250. */
  presenceIntervalMs?: number;
  /** Above this many names online, a room sends `{"count":N}` instead of names. Unset: 1000, at most 10 000. */
  presenceMaxUsers?: number;
  /** Receives one line per connection opened or closed and per failure. Unset: silent. */
  log?: (line: string) => void;
}

/**
 * How `/ws` checks JSON Web Tokens. Exactly one of `secretFile` and
 * `jwksFile` is set; the token comes from `Authorization: Bearer`, the
 * `token` query parameter or the cookie `cookie`.
 */
export interface ChatAuthOptions {
  /** File holding the HMAC key (HS256, HS384, HS512). */
  secretFile?: string;
  /** File holding a JWKS of public keys (RS256, ES256, EdDSA); re-read on reload (SIGHUP). */
  jwksFile?: string;
  /** Required `iss` claim. Unset: not checked. */
  issuer?: string;
  /** Required `aud` claim. Unset: not checked. */
  audience?: string;
  /** Name of a cookie that may carry the token. Unset: no cookie is read. */
  cookie?: string;
}

/** ChatOptions with every default filled in. */
export type ResolvedChatOptions = Required<Omit<ChatOptions, 'redisUrl' | 'pageDir' | 'log' | 'auth' | 'apiKeyFile'>> &
  Pick<ChatOptions, 'redisUrl' | 'pageDir' | 'auth' | 'apiKeyFile'> & { log: (line: string) => void };

/** The defaults of {@link ChatOptions}. */
export const CHAT_DEFAULTS = {
  dataDir: './data',
  historySize: 100,
  pingPeriodMs: 54_000,
  pongWaitMs: 60_000,
  writeWaitMs: 10_000,
  sendQueue: 256,
  rateLimit: 20,
  rateBurst: 40,
  maxConnections: 10_000,
  maxRooms: 10_000,
  maxMessageSize: 64 * 1024,
  maxAuthFailuresPerMinute: 20,
  presenceIntervalMs: 250,
  presenceMaxUsers: 1000,
  redisBatchWaitMs: 2,
  redisReplicas: 0,
  redisReplicasTimeoutMs: DEFAULT_REPLICAS_TIMEOUT_MS,
} as const;

/** Longest Redis batch wait: beyond it the wait costs more latency than batching saves. */
export const MAX_REDIS_BATCH_WAIT_MS = 50;


/** Longest presence interval: beyond a minute, presence would be stale rather than coalesced. */
export const MAX_PRESENCE_INTERVAL_MS = 60_000;
/** Highest presence threshold: a snapshot of 10,000 names of up to 64 characters is already over half a megabyte. */
export const MAX_PRESENCE_USERS = 10_000;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * CHAT_FLAGS is the `options` of `node:util` `parseArgs` for the chat
 * flags; pass the parsed `values` to {@link chatOptionsFromFlags}. No flag
 * has a parseArgs default, so unset flags take {@link CHAT_DEFAULTS}. The
 * `value`, `help` and `unset` fields (ignored by parseArgs) are what
 * `wskit serve --help` prints.
 */
export const CHAT_FLAGS = {
  data: { type: 'string', value: 'DIR', help: 'directory of the SQLite chat history', unset: CHAT_DEFAULTS.dataDir },
  history: { type: 'string', value: 'N', help: 'messages kept per room and sent on join', unset: String(CHAT_DEFAULTS.historySize) },
  'ping-period': { type: 'string', value: 'D', help: 'how often each client is pinged; below --pong-wait', unset: formatDuration(CHAT_DEFAULTS.pingPeriodMs) },
  'pong-wait': { type: 'string', value: 'D', help: 'silence allowed before a client is dropped', unset: formatDuration(CHAT_DEFAULTS.pongWaitMs) },
  'write-wait': { type: 'string', value: 'D', help: 'longest time one write may take', unset: formatDuration(CHAT_DEFAULTS.writeWaitMs) },
  'send-queue': { type: 'string', value: 'N', help: 'frames queued per client before it is evicted with 1008', unset: String(CHAT_DEFAULTS.sendQueue) },
  'rate-limit': { type: 'string', value: 'N', help: 'messages per second per client; 0 lifts the limit', unset: String(CHAT_DEFAULTS.rateLimit) },
  'rate-burst': { type: 'string', value: 'N', help: 'messages a client may send at once', unset: String(CHAT_DEFAULTS.rateBurst) },
  'allow-origin': { type: 'string', multiple: true, value: 'URL', help: 'an origin allowed besides the server\'s own; * allows any', unset: 'none' },
  'max-connections': { type: 'string', value: 'N', help: 'WebSocket connections on all routes; more get 503', unset: String(CHAT_DEFAULTS.maxConnections) },
  'max-rooms': { type: 'string', value: 'N', help: 'rooms with members; a new one beyond gets 503', unset: String(CHAT_DEFAULTS.maxRooms) },
  redis: { type: 'string', value: 'URL', help: 'share rooms through Redis, or a Redis Cluster given by any node: redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB]', unset: 'none, the embedded broker' },
  'redis-batch-wait': { type: 'string', value: 'D', help: 'with --redis, after a read that found messages, wait this long so the next read takes a batch (0: never); never after an idle read', unset: formatDuration(CHAT_DEFAULTS.redisBatchWaitMs) },
  'redis-replicas': { type: 'string', value: 'N', help: 'with --redis, acknowledge and show a message only once N replicas have it (Redis WAIT); every node must use the same N', unset: String(CHAT_DEFAULTS.redisReplicas) },
  'redis-replicas-timeout': { type: 'string', value: 'D', help: 'with --redis-replicas, how long to wait for the replicas before the message is refused (at most 10s)', unset: formatDuration(CHAT_DEFAULTS.redisReplicasTimeoutMs) },
  'auth-secret-file': { type: 'string', value: 'PATH', help: '/ws needs a JWT signed with the HMAC key in this file (HS256/384/512)', unset: 'none, open to any name' },
  'auth-jwks-file': { type: 'string', value: 'PATH', help: '/ws needs a JWT signed by a key of this JWKS (RS256/ES256/EdDSA); re-read on SIGHUP', unset: 'none, open to any name' },
  'auth-issuer': { type: 'string', value: 'ISS', help: 'the iss claim tokens must carry', unset: 'not checked' },
  'auth-audience': { type: 'string', value: 'AUD', help: 'the aud claim tokens must carry', unset: 'not checked' },
  'auth-cookie': { type: 'string', value: 'NAME', help: 'a cookie that may carry the token', unset: 'none' },
  'max-auth-failures': { type: 'string', value: 'N', help: 'failed token or API-key attempts per client address per minute; more get 429', unset: String(CHAT_DEFAULTS.maxAuthFailuresPerMinute) },
  'api-key-file': { type: 'string', value: 'PATH', help: 'turn on the server API (/api/...) with the bearer key in this file', unset: 'none, the API answers 404' },
  'presence-interval': { type: 'string', value: 'D', help: 'shortest time between two presence frames to a member; changes in between are coalesced', unset: formatDuration(CHAT_DEFAULTS.presenceIntervalMs) },
  'presence-max-users': { type: 'string', value: 'N', help: 'above this many names a room sends counts instead of names (0: always counts)', unset: String(CHAT_DEFAULTS.presenceMaxUsers) },
} as const;

/** The values parseArgs yields for {@link CHAT_FLAGS}. */
export type ChatFlagValues = Partial<Record<Exclude<keyof typeof CHAT_FLAGS, 'allow-origin'>, string>> & {
  'allow-origin'?: string[];
};

/**
 * chatOptionsFromFlags turns parsed flags into {@link ChatOptions}.
 * Durations take a unit (`54s`, `500ms`, `1m`, `1h`). Throws RangeError
 * naming the flag when a value is malformed.
 */
export function chatOptionsFromFlags(values: ChatFlagValues): ChatOptions {
  const options: ChatOptions = {};
  if (values.data !== undefined) options.dataDir = values.data;
  if (values.history !== undefined) options.historySize = parseCount('--history', values.history, 1);
  if (values['ping-period'] !== undefined) options.pingPeriodMs = parseDuration('--ping-period', values['ping-period']);
  if (values['pong-wait'] !== undefined) options.pongWaitMs = parseDuration('--pong-wait', values['pong-wait']);
  if (values['write-wait'] !== undefined) options.writeWaitMs = parseDuration('--write-wait', values['write-wait']);
  if (values['send-queue'] !== undefined) options.sendQueue = parseCount('--send-queue', values['send-queue'], 1);
  if (values['rate-limit'] !== undefined) options.rateLimit = parseCount('--rate-limit', values['rate-limit'], 0);
  if (values['rate-burst'] !== undefined) options.rateBurst = parseCount('--rate-burst', values['rate-burst'], 1);
  if (values['allow-origin'] !== undefined) options.allowOrigins = values['allow-origin'];
  if (values['max-connections'] !== undefined) options.maxConnections = parseCount('--max-connections', values['max-connections'], 1);
  if (values['max-rooms'] !== undefined) options.maxRooms = parseCount('--max-rooms', values['max-rooms'], 1);
  if (values.redis !== undefined) options.redisUrl = checkRedisUrl('--redis', values.redis);
  if (values['redis-batch-wait'] !== undefined) {
    const text = values['redis-batch-wait'];
    options.redisBatchWaitMs = text.trim() === '0' ? 0 : parseDuration('--redis-batch-wait', text);
  }
  if (values['redis-replicas'] !== undefined) options.redisReplicas = parseCount('--redis-replicas', values['redis-replicas'], 0);
  if (values['redis-replicas'] !== undefined) checkReplicas(options.redisReplicas!, '--redis-replicas');
  if (values['redis-replicas-timeout'] !== undefined) {
    options.redisReplicasTimeoutMs = checkReplicasTimeout(parseDuration('--redis-replicas-timeout', values['redis-replicas-timeout']), '--redis-replicas-timeout');
  }
  const auth: ChatAuthOptions = {};
  if (values['auth-secret-file'] !== undefined) auth.secretFile = values['auth-secret-file'];
  if (values['auth-jwks-file'] !== undefined) auth.jwksFile = values['auth-jwks-file'];
  if (values['auth-issuer'] !== undefined) auth.issuer = values['auth-issuer'];
  if (values['auth-audience'] !== undefined) auth.audience = values['auth-audience'];
  if (values['auth-cookie'] !== undefined) auth.cookie = values['auth-cookie'];
  if (Object.keys(auth).length > 0) options.auth = auth;
  if (values['max-auth-failures'] !== undefined) options.maxAuthFailuresPerMinute = parseCount('--max-auth-failures', values['max-auth-failures'], 1);
  if (values['api-key-file'] !== undefined) options.apiKeyFile = values['api-key-file'];
  if (values['presence-interval'] !== undefined) options.presenceIntervalMs = parseDuration('--presence-interval', values['presence-interval']);
  if (values['presence-max-users'] !== undefined) options.presenceMaxUsers = parseCount('--presence-max-users', values['presence-max-users'], 0);
  return options;
}

/**
 * resolveChatOptions fills in the defaults and checks the values together.
 * Throws RangeError when one is out of range, pingPeriod is not below
 * pongWait, or redisUrl is not a redis:// or rediss:// URL with a host.
 */
export function resolveChatOptions(options: ChatOptions): ResolvedChatOptions {
  const resolved: ResolvedChatOptions = {
    ...CHAT_DEFAULTS,
    allowOrigins: [],
    ...withoutUndefined(options),
    log: options.log ?? (() => {}),
  };
  const positive = [
    'historySize', 'pingPeriodMs', 'pongWaitMs', 'writeWaitMs', 'sendQueue', 'rateBurst', 'maxConnections', 'maxRooms', 'maxMessageSize',
    'maxAuthFailuresPerMinute',
  ] as const;
  for (const key of positive) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`Invalid chat option ${key}: ${value}; it must be above 0`);
  }
  if (!Number.isInteger(resolved.presenceIntervalMs) || resolved.presenceIntervalMs < 1 || resolved.presenceIntervalMs > MAX_PRESENCE_INTERVAL_MS) {
    throw new RangeError(`Invalid chat option presenceIntervalMs: ${resolved.presenceIntervalMs}; use whole milliseconds from 1 to ${MAX_PRESENCE_INTERVAL_MS}`);
  }
  if (!Number.isInteger(resolved.presenceMaxUsers) || resolved.presenceMaxUsers < 0 || resolved.presenceMaxUsers > MAX_PRESENCE_USERS) {
    throw new RangeError(`Invalid chat option presenceMaxUsers: ${resolved.presenceMaxUsers}; use a whole number from 0 to ${MAX_PRESENCE_USERS}`);
  }
  if (!Number.isInteger(resolved.redisBatchWaitMs) || resolved.redisBatchWaitMs < 0 || resolved.redisBatchWaitMs > MAX_REDIS_BATCH_WAIT_MS) {
    throw new RangeError(`Invalid chat option redisBatchWaitMs: ${resolved.redisBatchWaitMs}; use whole milliseconds from 0 to ${MAX_REDIS_BATCH_WAIT_MS}`);
  }
  checkReplicas(resolved.redisReplicas, 'chat option redisReplicas');
  checkReplicasTimeout(resolved.redisReplicasTimeoutMs, 'chat option redisReplicasTimeoutMs');
  if (resolved.redisReplicas > 0 && resolved.redisUrl === undefined) {
    throw new RangeError(`Invalid chat option redisReplicas: ${resolved.redisReplicas} needs redisUrl (--redis); the embedded broker has no replicas`);
  }
  if (!Number.isFinite(resolved.rateLimit) || resolved.rateLimit < 0) {
    throw new RangeError(`Invalid chat option rateLimit: ${resolved.rateLimit}; use 0 (no limit) or more`);
  }
  if (resolved.pingPeriodMs >= resolved.pongWaitMs) {
    throw new RangeError(
      `Invalid chat timing: ping period ${resolved.pingPeriodMs} ms must be below pong wait ${resolved.pongWaitMs} ms, or live clients are dropped`,
    );
  }
  if (resolved.redisUrl !== undefined) checkRedisUrl('chat option redisUrl', resolved.redisUrl);
  const auth = resolved.auth;
  if (auth !== undefined && (auth.secretFile === undefined) === (auth.jwksFile === undefined)) {
    throw new RangeError('Invalid auth options: set exactly one of --auth-secret-file (HMAC) and --auth-jwks-file (public keys)');
  }
  for (const origin of resolved.allowOrigins) {
    if (origin !== '*' && !URL.canParse(origin)) throw new RangeError(`Invalid allowed origin ${JSON.stringify(origin)}; use a form like https://example.com or *`);
  }
  return resolved;
}

/** parseDuration reads `500ms`, `54s`, `1.5m` or `1h` as milliseconds; throws RangeError naming `flag` otherwise. */
export function parseDuration(flag: string, text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: use a duration with a unit, like 500ms, 54s or 1m`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
  if (ms <= 0) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: the duration must be above 0`);
  return ms;
}

/** formatDuration writes `ms` the way {@link parseDuration} reads it, in the largest whole unit: `54s`, `1m`, `500ms`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', UNIT_MS.h], ['m', UNIT_MS.m], ['s', UNIT_MS.s]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * checkRedisUrl returns `text` when it is a URL the Redis broker accepts:
 * `redis://` or `rediss://` (TLS), optional `USER:PASSWORD@`, a host, an
 * optional port and an optional database number path (`/2`). Throws
 * RangeError naming `flag` otherwise, before anything connects. The
 * password is masked in the message.
 */
export function checkRedisUrl(flag: string, text: string): string {
  const form = 'use redis://HOST:PORT or rediss://HOST:PORT (optionally redis://USER:PASSWORD@HOST:PORT/DB)';
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url?.password) url.password = '***';
  const shown = JSON.stringify(url?.password ? url.href : text);
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    throw new RangeError(`Invalid ${flag} ${shown}: ${form}`);
  }
  if (url.hostname === '') throw new RangeError(`Invalid ${flag} ${shown}: the host is missing; ${form}`);
  if (!/^\/?$|^\/\d+$/.test(url.pathname)) {
    throw new RangeError(`Invalid ${flag} ${shown}: the path must be a database number, like /0; ${form}`);
  }
  return text;
}

/** parseCount reads a whole number of at least `min`; throws RangeError naming `flag` otherwise. */
export function parseCount(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text.trim())) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: use a whole number, ${min} or more`);
  const value = Number(text.trim());
  if (value < min || !Number.isSafeInteger(value)) throw new RangeError(`Invalid ${flag} ${value}: use a whole number, ${min} or more`);
  return value;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
