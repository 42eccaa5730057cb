/**
 * Checks of the options that `Upgrader`, `dial` and the browser-style
 * `WebSocket` take, run once when the object is made (never per
 * message). Each options type is a table of one rule per field; the compiler
 * keeps each table in step with its interface. A wrong argument throws as
 * Node's own APIs do: TypeError for an unknown name, a wrong type or a
 * malformed string, RangeError for a number outside its range. `undefined`
 * always means "the default".
 */
import { getDefaultHighWaterMark } from 'node:stream';
import type { DialOptions } from './dial.js';
import { type DeflateOptions, TOKEN } from './protocol/extensions.js';
import type { UpgraderOptions } from './upgrader.js';
import type { WebSocketOptions } from './websocket.js';

/**
 * Rule checks the value of one option (never `undefined`) and throws a
 * TypeError or RangeError that names `owner` (`'Upgrader'`, `'dial'`,
 * `'WebSocket'`) and the option's `path` (`'compression.level'`).
 */
export type Rule = (value: unknown, path: string, owner: string) => void;

/** Rules is the table for options type `T`: a rule for each field, and none more. */
export type Rules<T> = { readonly [K in keyof T]-?: Rule };

/**
 * MAX_SIZE is the largest byte count an option takes: 2 GiB - 1, the int32
 * range. A message is assembled in one Buffer, so no useful limit lies beyond.
 */
export const MAX_SIZE = 2 ** 31 - 1;

/**
 * MAX_DELAY is the longest time in ms an option takes: Node's `setTimeout`
 * fires after 1 ms instead for anything longer (about 24.8 days).
 */
export const MAX_DELAY = 2 ** 31 - 1;

/** How `value` reads in an error: `null`, `an array`, a class name (`Headers`, `Map`) or its `typeof`. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name !== 'Object' ? name : 'object';
  }
  return typeof value;
}

function option(owner: string, path: string): string {
  return `${owner} option "${path}"`;
}

function wrongType(owner: string, path: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${option(owner, path)} must be ${expected}, got ${describe(value)}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * integer accepts a whole number from `min` to `max`, written in `unit`
 * (`' ms'`, `' bytes'`); `note` explains a special value in the error
 * (`'0 turns it off'`). Not a number: TypeError; NaN, a fraction, Infinity
 * or out of range: RangeError.
 */
export function integer(min: number, max: number, unit = '', note = ''): Rule {
  const range = `an integer from ${min} to ${max}${unit}${note === '' ? '' : ` (${note})`}`;
  return (value, path, owner) => {
    if (typeof value !== 'number') throw wrongType(owner, path, 'a number', value);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${option(owner, path)} must be ${range}, got ${value}`);
    }
  };
}

/** boolean accepts true and false. */
export const boolean: Rule = (value, path, owner) => {
  if (typeof value !== 'boolean') throw wrongType(owner, path, 'a boolean', value);
};

/** func accepts a function. */
export const func: Rule = (value, path, owner) => {
  if (typeof value !== 'function') throw wrongType(owner, path, 'a function', value);
};

/** object accepts any object but an array, its contents left to whoever reads it (Node's TLS options). */
export const object: Rule = (value, path, owner) => {
  if (!isObject(value)) throw wrongType(owner, path, 'an object', value);
};

/** http2Option accepts true, false, or an HTTP/2 client session (anything with a `request` method, as `http2.connect` returns). */
export const http2Option: Rule = (value, path, owner) => {
  if (typeof value === 'boolean') return;
  if (!isObject(value) || typeof value.request !== 'function') {
    throw wrongType(owner, path, 'a boolean or an HTTP/2 session from http2.connect', value);
  }
};

/** abortSignal accepts an AbortSignal. */
export const abortSignal: Rule = (value, path, owner) => {
  if (!(value instanceof AbortSignal)) throw wrongType(owner, path, 'an AbortSignal', value);
};

/** Characters Node refuses in a header value (its `checkInvalidHeaderChar`): controls but tab. */
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * headerRecord accepts HTTP header fields as a plain object: names that are
 * HTTP tokens, string values without CR, LF or other control characters. A
 * `Headers` or `Map` is refused, as its entries are not own properties and
 * would be dropped without a word.
 */
export const headerRecord: Rule = (value, path, owner) => {
  const proto: unknown = isObject(value) ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw wrongType(owner, path, 'a plain object of header names to strings', value);
  }
  for (const [name, field] of Object.entries(value as Record<string, unknown>)) {
    if (!TOKEN.test(name)) throw new TypeError(`${option(owner, path)} has an invalid header name ${JSON.stringify(name)}: not an HTTP token`);
    if (typeof field !== 'string') throw wrongType(owner, `${path}.${name}`, 'a string', field);
    if (BAD_HEADER_VALUE.test(field)) throw new TypeError(`${option(owner, `${path}.${name}`)} must not contain CR, LF or other control characters`);
  }
};

/**
 * subprotocolProblem says why `names` is not a valid subprotocol list (RFC
 * 6455 §4.1: each an HTTP token, none twice), or returns null when it is.
 */
export function subprotocolProblem(names: readonly string[]): string | null {
  const seen = new Set<string>();
  for (const name of names) {
    if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not an HTTP token`;
    if (seen.has(name)) return `${JSON.stringify(name)} is listed twice`;
    seen.add(name);
  }
  return null;
}

/** subprotocolList accepts an array of distinct subprotocol names (see {@link subprotocolProblem}). */
export const subprotocolList: Rule = (value, path, owner) => {
  if (!Array.isArray(value)) throw wrongType(owner, path, 'an array of strings', value);
  value.forEach((name: unknown, i) => {
    if (typeof name !== 'string') throw wrongType(owner, `${path}[${i}]`, 'a string', name);
  });
  const problem = subprotocolProblem(value as string[]);
  if (problem !== null) throw new TypeError(`${option(owner, path)} is invalid: ${problem}`);
};

/** booleanOr accepts true, false, or an object checked field by field against `rules`. */
export function booleanOr<T>(rules: Rules<T>): Rule {
  return (value, path, owner) => {
    if (typeof value === 'boolean') return;
    if (!isObject(value)) throw wrongType(owner, path, 'a boolean or an object', value);
    checkFields(owner, rules, value, `${path}.`);
  };
}

/** Names often written for ours: the npm `ws` package's. */
const ALIASES: Record<string, string> = { perMessageDeflate: 'compression', maxPayload: 'maxMessageSize' };

/** Edit distance between `a` and `b` (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * The known name `name` is most likely a slip for: a `ws` name, the same
 * letters in another case, 1–2 edits away, or the one name containing it
 * (`windowBits`, `protocols`).
 */
function suggest(name: string, known: readonly string[]): string | undefined {
  const alias = ALIASES[name];
  if (alias !== undefined && known.includes(alias)) return alias;
  const lower = name.toLowerCase();
  const containing = known.filter((candidate) => lower.length >= 4 && candidate.toLowerCase().includes(lower));
  if (containing.length === 1) return containing[0];
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === lower ? 0 : distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function checkFields<T>(owner: string, rules: Rules<T>, options: Record<string, unknown>, prefix: string): void {
  for (const name of Object.keys(options)) {
    if (Object.hasOwn(rules, name)) continue;
    const close = suggest(name, Object.keys(rules));
    const hint = close === undefined ? '' : ` (did you mean "${prefix}${close}"?)`;
    throw new TypeError(`Unknown ${option(owner, prefix + name)}${hint}`);
  }
  // Read through the prototype as the consumer does, so an inherited value is checked too.
  for (const [name, rule] of Object.entries(rules) as [string, Rule][]) {
    const value = options[name];
    if (value !== undefined) rule(value, prefix + name, owner);
  }
}

/**
 * checkOptions checks `options`, given to `owner`, against `rules`: it must
 * be an object (or undefined, meaning all defaults) whose own names all have
 * a rule and whose values pass them. Returns the options, typed.
 */
export function checkOptions<T>(owner: string, rules: Rules<T>, options: unknown): T {
  if (options === undefined) return {} as T;
  if (!isObject(options)) throw new TypeError(`${owner} options must be an object, got ${describe(options)}`);
  checkFields(owner, rules, options, '');
  return options as T;
}

/** pick takes the rules of `keys`, for an options type made with `Pick`. */
function pick<T, K extends keyof T>(rules: Rules<T>, keys: readonly K[]): Rules<Pick<T, K>> {
  const out = {} as Record<K, Rule>;
  for (const key of keys) out[key] = rules[key];
  return out as Rules<Pick<T, K>>;
}

/** Bytes of unread messages queued before reading pauses; 0: as soon as one waits. */
const readBufferSize = integer(0, MAX_SIZE, ' bytes');

/**
 * MIN_WRITE_BUFFER is the smallest `writeBufferSize`: a socket's default
 * high-water mark (16 KiB on Node 20, 64 KiB from Node 22). A write waits
 * for the socket's `drain`, which Node emits only once a write has reached
 * that mark, so below it the socket's own mark decides and a smaller size
 * would promise a bound it cannot keep.
 */
export const MIN_WRITE_BUFFER = getDefaultHighWaterMark(false);

/** Bytes queued in the socket before `write` waits. */
const writeBufferSize = integer(MIN_WRITE_BUFFER, MAX_SIZE, ' bytes', "the socket's high-water mark upward");

/**
 * A size limit (`maxMessageSize`, `maxHeaderSize`). 0 is refused: it reads
 * as "no limit" (ws's `maxPayload: 0`), yet here it would refuse every
 * message, and Node takes a `maxHeaderSize` of 0 as its own default.
 */
const limit = integer(1, MAX_SIZE, ' bytes');

/** maxFragments: frames per message. 0 is refused as for `limit` (ws's `maxFragments: 0` means no limit). */
const fragmentLimit = integer(1, MAX_SIZE, ' fragments');

/** handshakeTimeout: 0 turns the timeout off (as Node's `headersTimeout` 0 does). */
const handshakeTimeout = integer(0, MAX_DELAY, ' ms', '0 turns it off');

/**
 * closeTimeout: 0 is refused, as it reads as "no timeout" while a timer of
 * 0 drops the connection after 1 ms; waiting for ever on a silent peer is not
 * offered.
 */
const closeTimeout = integer(1, MAX_DELAY, ' ms');

/** The rules of {@link DeflateOptions}, the `compression` object. */
export const DEFLATE_RULES: Rules<DeflateOptions> = {
  noContextTakeover: boolean,
  requestNoContextTakeover: boolean,
  // RFC 7692 §7.1.2: 8 to 15. zlib's raw deflate needs 9, so at 8 messages go out uncompressed.
  maxWindowBits: integer(8, 15, ' bits'),
  // 0: compress every message.
  threshold: integer(0, MAX_SIZE, ' bytes'),
  // zlib's levels, 0 (stored, no compression) to 9 (smallest, slowest).
  level: integer(0, 9),
};

/** The options Upgrader and dial both take: the handshake and the Conn it makes. */
type SharedOptions = Pick<UpgraderOptions, keyof UpgraderOptions & keyof DialOptions>;

/** The rules of {@link SharedOptions}, one table for both. */
const SHARED_RULES: Rules<SharedOptions> = {
  maxMessageSize: limit,
  maxFragments: fragmentLimit,
  readBufferSize,
  writeBufferSize,
  closeTimeout,
  handshakeTimeout,
  subprotocols: subprotocolList,
  compression: booleanOr(DEFLATE_RULES),
};

/** The rules of {@link UpgraderOptions}. */
export const UPGRADER_RULES: Rules<UpgraderOptions> = {
  ...SHARED_RULES,
  checkOrigin: func,
  onError: func,
};

/** The rules of {@link DialOptions}. */
export const DIAL_RULES: Rules<DialOptions> = {
  ...SHARED_RULES,
  headers: headerRecord,
  maxHeaderSize: limit,
  tls: object,
  signal: abortSignal,
  http2: http2Option,
  http1Fallback: boolean,
};

/** The rules of {@link WebSocketOptions}: those of the dial options it picks. */
export const WEBSOCKET_RULES: Rules<WebSocketOptions> = pick<DialOptions, keyof WebSocketOptions>(DIAL_RULES, [
  'headers',
  'handshakeTimeout',
  'maxMessageSize',
  'maxFragments',
  'tls',
  'readBufferSize',
  'writeBufferSize',
  'compression',
]);
