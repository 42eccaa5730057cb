/**
 * The chat wire protocol: JSON text frames, their types, and the checks every
 * value from a client passes before the hub sees it. Pure functions, no I/O.
 *
 * Names and rooms are 1 to 64 characters (Unicode code points) from a safe
 * set: letters and combining marks of any script, digits, `_`, `-` and `.`;
 * names may also contain single spaces inside (not at either end). Anything
 * else (control characters, HTML metacharacters `<>&"'`, slashes, lone
 * surrogates, emoji) is refused, so a name is always safe to show and to log.
 * Names and rooms are case-sensitive and compared as given (no Unicode
 * normalization).
 */
import type { ChatMessage } from './broker.js';
import type { PageRequest } from './names.js';
import type { PresenceFrame, WhoFrame } from './presence-frames.js';

export type { PresenceFrame, WhoFrame } from './presence-frames.js';

/** Largest message text accepted, in UTF-8 bytes: 4 KiB. */
export const MAX_TEXT_BYTES = 4096;
/** Longest room or name, in characters (Unicode code points). */
export const MAX_NAME_LENGTH = 64;

/** Longest token a refresh frame may carry, in characters. */
export const MAX_TOKEN_LENGTH = 8192;
/** Close code of a connection whose token expired (`token expired`); an application code (RFC 6455 §7.4.2). */
export const CLOSE_TOKEN_EXPIRED = 4001;
/** Most names in one `who` page, whatever the request asks for. */
export const MAX_PAGE_SIZE = 500;
/** Names in a `who` page when the request gives no limit. */
export const DEFAULT_PAGE_SIZE = 100;

/** What a client sends: one chat message for its room. */
export interface ClientMessage {
  type: 'message';
  text: string;
}

/** What a client sends before its token expires, on a server with auth on: a fresher token for the same user. */
export interface RefreshRequest {
  type: 'refresh';
  token: string;
}

/** What a client sends for a page of its room's names: `{"type":"who","after":NAME,"limit":L}`. */
export interface WhoRequest extends PageRequest {
  type: 'who';
}

/** Every frame a client may send, as checked by {@link parseClientFrame}. */
export type ClientFrame = ClientMessage | WhoRequest | RefreshRequest;

/** Sent once right after joining: the room's recent messages, oldest first. */
export interface HistoryFrame {
  type: 'history';
  messages: ChatMessage[];
}

/** Sent when the server drops something the client sent; the connection stays open. */
export interface ErrorFrame {
  type: 'error';
  error: string;
}

/** The answer to an accepted refresh: the new token's `exp` in seconds since the epoch, or null when it has none. */
export interface RefreshedFrame {
  type: 'refreshed';
  exp: number | null;
}

/** Every frame the server sends. */
export type ServerFrame = ChatMessage | PresenceFrame | WhoFrame | HistoryFrame | ErrorFrame | RefreshedFrame;

/** A successful check carries the value; a failed one a reason meant for the client. */
export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

/** One character of a room or name (spaces aside): letters and marks of any script, digits, `_`, `.`, `-`. */
const LABEL_CHAR = '[\\p{L}\\p{M}\\p{N}_.-]';
const ROOM_PATTERN = new RegExp(`^${LABEL_CHAR}+$`, 'u');
const NAME_PATTERN = new RegExp(`^${LABEL_CHAR}+(?: ${LABEL_CHAR}+)*$`, 'u');
const ID_PATTERN = /^\d{1,16}-\d{1,16}$/;
// With the u flag a lone surrogate is a code point of category Cs; a valid pair is not.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The rules the page checks before joining or sending, taken from the
 * definitions above: the page is served them (`/chat-rules.js`) instead of
 * keeping a copy. Patterns are RegExp sources for the `u` flag.
 */
export function chatRules(): { roomPattern: string; namePattern: string; labelChar: string; loneSurrogate: string; maxNameLength: number; maxTextBytes: number } {
  return {
    roomPattern: ROOM_PATTERN.source,
    namePattern: NAME_PATTERN.source,
    labelChar: `^${LABEL_CHAR}$`,
    loneSurrogate: LONE_SURROGATE.source,
    maxNameLength: MAX_NAME_LENGTH,
    maxTextBytes: MAX_TEXT_BYTES,
  };
}

function checkLabel(kind: 'room' | 'name', value: string | null, pattern: RegExp): Checked<string> {
  if (value === null || value === '') return { ok: false, error: `Missing ${kind}: give ?${kind}=<1 to ${MAX_NAME_LENGTH} characters>` };
  const length = [...value].length;
  if (length > MAX_NAME_LENGTH) {
    return { ok: false, error: `Invalid ${kind}: ${length} characters, over the limit of ${MAX_NAME_LENGTH}` };
  }
  if (LONE_SURROGATE.test(value) || !pattern.test(value)) {
    const extra = kind === 'name' ? ', single spaces inside' : '';
    return { ok: false, error: `Invalid ${kind}: use letters, digits, "_", "-", "."${extra}` };
  }
  return { ok: true, value };
}

/** checkRoom validates a room name (no spaces); see the module comment for the set. */
export function checkRoom(room: string | null): Checked<string> {
  return checkLabel('room', room, ROOM_PATTERN);
}

/** checkName validates a user name (single inner spaces allowed). */
export function checkName(name: string | null): Checked<string> {
  return checkLabel('name', name, NAME_PATTERN);
}

/** isMessageId tells whether `id` has the server's `<ms>-<seq>` form. */
export function isMessageId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Where and as whom a connection joins, parsed from `/ws?room=&name=&since=`. */
export interface JoinRequest {
  room: string;
  name: string;
  /** Only the messages after this id are sent as history; unset: the last N. */
  since?: string;
}

/**
 * parseJoinQuery reads room, name and the optional `since` from a request's
 * query string. With `verifiedName` (the `sub` of a checked token) the
 * query's `name` is ignored and that name is used. A failure carries the
 * reason for the 400 response.
 */
export function parseJoinQuery(search: URLSearchParams, verifiedName?: string): Checked<JoinRequest> {
  for (const key of verifiedName === undefined ? ['room', 'name', 'since'] : ['room', 'since']) {
    if (search.getAll(key).length > 1) return { ok: false, error: `Invalid query: ${key} is given more than once` };
  }
  const room = checkRoom(search.get('room'));
  if (!room.ok) return room;
  const name = verifiedName === undefined ? checkName(search.get('name')) : ({ ok: true, value: verifiedName } as const);
  if (!name.ok) return name;
  const since = search.get('since');
  if (since === null || since === '') return { ok: true, value: { room: room.value, name: name.value } };
  if (!isMessageId(since)) return { ok: false, error: 'Invalid since: expected a message id of the form <ms>-<seq>' };
  return { ok: true, value: { room: room.value, name: name.value, since } };
}

const FRAME_FORMS = '{"type":"message","text":"..."}, {"type":"who","after":NAME,"limit":L} or {"type":"refresh","token":"..."}';

/**
 * parseClientFrame checks one text frame from a client: a chat message
 * (`{"type":"message","text":"..."}` with 1 to 4096 bytes of well-formed
 * text), a request for names (`{"type":"who","after":NAME,"limit":L}`), or
 * on a server with auth a fresher token (`{"type":"refresh","token":"..."}`,
 * 1 to {@link MAX_TOKEN_LENGTH} characters, checked by the server's
 * verifier, not here). Anything else fails with a reason for an error frame.
 */
export function parseClientFrame(data: string): Checked<ClientFrame> {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { ok: false, error: `Invalid frame: not JSON; send ${FRAME_FORMS}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: `Invalid frame: expected a JSON object, ${FRAME_FORMS}` };
  }
  const frame = value as Record<string, unknown>;
  if (frame.type === 'message') {
    const text = checkText(frame.text);
    return text.ok ? { ok: true, value: { type: 'message', text: text.value } } : text;
  }
  if (frame.type === 'who') {
    const page = checkPageRequest(frame.after, frame.limit);
    return page.ok ? { ok: true, value: { type: 'who', ...page.value } } : page;
  }
  if (frame.type === 'refresh') {
    const token = frame.token;
    if (typeof token !== 'string' || token === '') return { ok: false, error: 'Invalid refresh: token must be a non-empty string' };
    if (token.length > MAX_TOKEN_LENGTH) {
      return { ok: false, error: `Invalid refresh: the token is ${token.length} characters, over the limit of ${MAX_TOKEN_LENGTH}` };
    }
    return { ok: true, value: { type: 'refresh', token } };
  }
  return { ok: false, error: `Invalid frame: unknown type ${JSON.stringify(frame.type) ?? 'undefined'}; only "message", "who" and "refresh" are accepted` };
}

/** checkText validates a message's text: a non-empty, well-formed string of at most 4096 UTF-8 bytes. */
export function checkText(text: unknown): Checked<string> {
  if (typeof text !== 'string') return { ok: false, error: 'Invalid message: text must be a string' };
  if (text.length === 0) return { ok: false, error: 'Invalid message: text is empty' };
  if (LONE_SURROGATE.test(text)) return { ok: false, error: 'Invalid message: text contains a lone UTF-16 surrogate' };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_TEXT_BYTES) {
    return { ok: false, error: `Message too long: text is ${bytes} bytes, over the limit of ${MAX_TEXT_BYTES}` };
  }
  return { ok: true, value: text };
}

/** historyFrame builds the frame of recent messages sent after joining. */
export function historyFrame(messages: ChatMessage[]): HistoryFrame {
  return { type: 'history', messages };
}

/** refreshedFrame builds the answer to an accepted refresh; `exp` is the new token's, in seconds, or undefined when it has none. */
export function refreshedFrame(exp: number | undefined): RefreshedFrame {
  return { type: 'refreshed', exp: exp ?? null };
}

/** errorFrame builds an error frame with a reason for the client. */
export function errorFrame(error: string): ErrorFrame {
  return { type: 'error', error };
}

/**
 * checkPageRequest reads the cursor and size of a page of names, from a
 * `who` frame or a query string (`?after=&limit=`): `after` is absent, null,
 * empty or a valid name; `limit` is absent (100) or a whole number from 1,
 * lowered to 500. A failure carries a reason meant for the client.
 */
export function checkPageRequest(after: unknown, limit: unknown): Checked<PageRequest> {
  let size: number = DEFAULT_PAGE_SIZE;
  if (limit !== undefined && limit !== null && limit !== '') {
    const value = typeof limit === 'string' && /^\d{1,9}$/.test(limit) ? Number(limit) : limit;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      return { ok: false, error: `Invalid limit ${JSON.stringify(limit)}: use a whole number from 1 to ${MAX_PAGE_SIZE}` };
    }
    size = Math.min(value, MAX_PAGE_SIZE);
  }
  if (after === undefined || after === null || after === '') return { ok: true, value: { limit: size } };
  if (typeof after !== 'string') return { ok: false, error: 'Invalid after: expected a name (the "next" of the previous page)' };
  const name = checkName(after);
  if (!name.ok) return { ok: false, error: `Invalid after: not a name of 1 to ${MAX_NAME_LENGTH} allowed characters` };
  return { ok: true, value: { after: name.value, limit: size } };
}
