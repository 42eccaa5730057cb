/**
 * Incremental UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires for text
 * messages): bytes are checked as they arrive, across frame and fragment
 * boundaries, so an invalid message fails at the first bad piece rather than
 * once it is complete.
 */
import { isUtf8 } from 'node:buffer';
import { CloseCode } from '../constants.js';
import { ProtocolError } from '../errors.js';

/**
 * invalidText is the error for a text message that is not UTF-8 (close
 * code 1007): `truncated` when the bytes were valid but the message ended
 * inside a code point.
 */
export function invalidText(truncated: boolean): ProtocolError {
  return new ProtocolError(
    'ERR_INVALID_UTF8',
    truncated ? 'Invalid text message: ends inside a UTF-8 sequence' : 'Invalid text message: not valid UTF-8',
    CloseCode.InvalidPayloadData,
  );
}

/** Utf8Validator checks a byte stream fed to it in pieces. */
export class Utf8Validator {
  /** Continuation bytes still expected for the current code point. */
  #need = 0;
  /** Allowed range of the next continuation byte (narrowed after E0, ED, F0, F4). */
  #lower = 0x80;
  #upper = 0xbf;

  /** True when the bytes so far end on a code point boundary. */
  get complete(): boolean {
    return this.#need === 0;
  }

  /** Forget all state, ready for a new message. */
  reset(): void {
    this.#need = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }

  /** Feed the next piece; false as soon as it cannot be valid UTF-8, whatever follows. */
  feed(bytes: Uint8Array): boolean {
    // A stream that failed stays failed until reset, whatever follows.
    if (this.#need < 0) return false;
    if (this.#need === 0) {
      // Fast path: the native validator takes whole pieces; only a piece
      // that ends inside a code point needs the byte loop, and only its tail.
      if (isUtf8(bytes)) return true;
      const tail = sequenceStart(bytes);
      if (tail > 0 && isUtf8(bytes.subarray(0, tail))) return this.#scan(bytes, tail);
      return this.#scan(bytes, 0);
    }
    return this.#scan(bytes, 0);
  }

  #scan(bytes: Uint8Array, from: number): boolean {
    let need = this.#need;
    let lower = this.#lower;
    let upper = this.#upper;
    for (let i = from; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (need === 0) {
        if (b < 0x80) continue;
        if (b >= 0xc2 && b <= 0xdf) {
          need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          need = 2;
          // E0 would allow overlong forms; ED would allow surrogates (U+D800–DFFF).
          if (b === 0xe0) lower = 0xa0;
          else if (b === 0xed) upper = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3;
          // F0 would allow overlong forms; F4 would go beyond U+10FFFF.
          if (b === 0xf0) lower = 0x90;
          else if (b === 0xf4) upper = 0x8f;
        } else {
          this.#fail();
          return false;
        }
      } else {
        if (b < lower || b > upper) {
          this.#fail();
          return false;
        }
        lower = 0x80;
        upper = 0xbf;
        need--;
      }
    }
    this.#need = need;
    this.#lower = lower;
    this.#upper = upper;
    return true;
  }

  #fail(): void {
    // Stay failed-looking for `complete` checks: a failed stream never completes.
    this.#need = -1;
  }
}

/** Index of the last code point's lead byte when the piece may end inside it, else 0. */
function sequenceStart(bytes: Uint8Array): number {
  const end = bytes.length;
  for (let i = end - 1; i >= 0 && i >= end - 3; i--) {
    const b = bytes[i]!;
    if (b >= 0xc0) return i;
    if (b < 0x80) return 0;
  }
  return 0;
}

/** isValidUtf8 checks a complete byte sequence. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
