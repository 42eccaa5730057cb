/**
 * The chat app's settings: the options object, its defaults, and the
 * command-line flags of `wskit serve` that fill it.
 */

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
  /** Directory of the browser page. Unset: `src/chat/page` in the package root. */
  pageDir?: string;
  /** Receives one line per connection opened or closed and per failure. Unset: silent. */
  log?: (line: string) => void;
}

/** ChatOptions with every default filled in. */
export type ResolvedChatOptions = Required<Omit<ChatOptions, 'redisUrl' | 'pageDir' | 'log'>> &
  Pick<ChatOptions, 'redisUrl' | 'pageDir'> & { log: (line: string) => void };

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
} as const;

/**
 * CHAT_FLAGS is the `options` of `node:util` `parseArgs` for the chat
 * flags; pass the parsed `values` to {@link chatOptionsFromFlags}. No flag
 * has a parseArgs default, so unset flags take {@link CHAT_DEFAULTS}.
 */
export const CHAT_FLAGS = {
  data: { type: 'string' },
  history: { type: 'string' },
  'ping-period': { type: 'string' },
  'pong-wait': { type: 'string' },
  'write-wait': { type: 'string' },
  'send-queue': { type: 'string' },
  'rate-limit': { type: 'string' },
  'rate-burst': { type: 'string' },
  'allow-origin': { type: 'string', multiple: true },
  'max-connections': { type: 'string' },
  'max-rooms': { type: 'string' },
  redis: { type: 'string' },
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
  if (values.redis !== undefined) options.redisUrl = values.redis;
  return options;
}

/**
 * resolveChatOptions fills in the defaults and checks the values together.
 * Throws RangeError when one is out of range or pingPeriod is not below pongWait.
 */
export function resolveChatOptions(options: ChatOptions): ResolvedChatOptions {
  const resolved: ResolvedChatOptions = {
    ...CHAT_DEFAULTS,
    allowOrigins: [],
    ...withoutUndefined(options),
    log: options.log ?? (() => {}),
  };
  const positive = ['historySize', 'pingPeriodMs', 'pongWaitMs', 'writeWaitMs', 'sendQueue', 'rateBurst', 'maxConnections', 'maxRooms', 'maxMessageSize'] as const;
  for (const key of positive) {
    const value = resolved[key];
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`Invalid chat option ${key}: ${value}; it must be above 0`);
  }
  if (!Number.isFinite(resolved.rateLimit) || resolved.rateLimit < 0) {
    throw new RangeError(`Invalid chat option rateLimit: ${resolved.rateLimit}; use 0 (no limit) or more`);
  }
  if (resolved.pingPeriodMs >= resolved.pongWaitMs) {
    throw new RangeError(
      `Invalid chat timing: ping period ${resolved.pingPeriodMs} ms must be below pong wait ${resolved.pongWaitMs} ms, or live clients are dropped`,
    );
  }
  for (const origin of resolved.allowOrigins) {
    if (origin !== '*' && !URL.canParse(origin)) throw new RangeError(`Invalid allowed origin ${JSON.stringify(origin)}; use a form like https://example.com or *`);
  }
  return resolved;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** parseDuration reads `500ms`, `54s`, `1.5m` or `1h` as milliseconds; throws RangeError naming `flag` otherwise. */
export function parseDuration(flag: string, text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: use a duration with a unit, like 500ms, 54s or 1m`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
  if (ms <= 0) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: the duration must be above 0`);
  return ms;
}

function parseCount(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text.trim())) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: use a whole number, ${min} or more`);
  const value = Number(text.trim());
  if (value < min || !Number.isSafeInteger(value)) throw new RangeError(`Invalid ${flag} ${value}: use a whole number, ${min} or more`);
  return value;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
