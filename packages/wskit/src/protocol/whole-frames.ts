/**
 * The common case in one pass: a read that starts at a frame boundary and
 * holds whole messages of one frame each (FIN set, no extension bits, text
 * or binary, masked as the role requires, a 7- or 16-bit length within the
 * size limit). Each is unmasked in place and queued as a message event
 * straight away, with no header object, handler calls or per-frame state.
 * The first frame that is anything else (a fragment, a control frame, a
 * compressed or oversized message, one cut off by the end of the read, a
 * broken rule) stops the pass untouched, and the full parser reads it and
 * what follows, so every rule and every error stays the parser's. The one
 * check made here, UTF-8, fails with the error the parser would give.
 * A property test holds the two paths to the same events and errors.
 */
import { isUtf8 } from 'node:buffer';
import { MessageType, Opcode } from '../constants.js';
import type { ConnectionEvent } from './connection.js';
import { applyMaskAt } from './mask.js';
import { invalidText, Utf8Validator } from './utf8.js';

/**
 * takeWholeFrames queues a message event for each whole one-frame message
 * at the start of `chunk` and returns how many bytes they took (0 when the
 * first frame needs the parser). `masked`: frames must be masked (we are a
 * server). Throws the parser's ProtocolError for a text message that is
 * not UTF-8; the bytes before it have been queued.
 */
export function takeWholeFrames(chunk: Buffer, masked: boolean, maxMessageSize: number, events: ConnectionEvent[]): number {
  const end = chunk.length;
  let at = 0;
  while (end - at >= 2) {
    const b0 = chunk[at]!;
    const opcode = b0 & 0x0f;
    // FIN set and RSV1–3 clear; a text or binary opcode.
    if ((b0 & 0xf0) !== 0x80 || (opcode !== Opcode.Text && opcode !== Opcode.Binary)) break;
    const b1 = chunk[at + 1]!;
    if ((b1 & 0x80) !== (masked ? 0x80 : 0)) break;
    let length = b1 & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (end - at < 4) break;
      length = (chunk[at + 2]! << 8) | chunk[at + 3]!;
      start = at + 4;
    } else if (length === 127) {
      break;
    }
    const key = start;
    if (masked) start += 4;
    const stop = start + length;
    if (stop > end || length > maxMessageSize) break;
    const data = chunk.subarray(start, stop);
    if (masked) applyMaskAt(data, chunk, key);
    if (opcode === Opcode.Text && !isUtf8(data)) {
      // The parser's two errors: bytes that can never be UTF-8, or a message cut inside a code point.
      throw invalidText(new Utf8Validator().feed(data));
    }
    events.push({ kind: 'message', type: opcode === Opcode.Text ? MessageType.Text : MessageType.Binary, data, compressed: false });
    at = stop;
  }
  return at;
}
