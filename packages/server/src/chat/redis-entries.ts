/**
 * Reading the entries of a room's Redis stream (`XRANGE`, `XREAD` replies)
 * as chat messages.
 */
import type { ChatMessage } from './broker.js';

/** One stream entry: its id and its flat field/value list. */
export type StreamEntry = [id: string, fields: unknown[]];

/** The entries of an `XRANGE`/`XREVRANGE` reply, or of one stream of an `XREAD` reply; [] for anything else. */
export function parseEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry) => {
    const [id, fields] = entry as [unknown, unknown];
    return [String(id), Array.isArray(fields) ? fields : []];
  });
}

/** The chat message an entry of `room`'s stream holds. */
export function entryMessage(room: string, id: string, fields: unknown[]): ChatMessage {
  return toMessage(room, id, fieldValue(fields, 'from') ?? '', fieldValue(fields, 'text') ?? '');
}

/** The value of field `name` of an entry; undefined when it has none. */
export function fieldValue(fields: unknown[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (String(fields[i]) === name) return String(fields[i + 1]);
  }
  return undefined;
}

/** A message with id `id`. The id's millisecond part is Redis's clock at XADD: the same timestamp on every node. */
export function toMessage(room: string, id: string, from: string, text: string): ChatMessage {
  return { type: 'message', id, room, from, text, ts: Number(id.split('-')[0]) };
}
