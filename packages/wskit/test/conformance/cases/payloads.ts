/**
 * Deterministic payloads for the cases: pseudo-random bytes (so compression
 * has real work and corruption shows), and text of an exact byte length that
 * mixes 1- to 4-byte UTF-8 characters.
 */

/** bytes returns `n` pseudo-random bytes from `seed` (xorshift32). */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-';
/** Characters of 2, 3 and 4 bytes sprinkled through the text. */
const WIDE = ['é', 'ß', '€', 'κ', '😀', '中'];

/** text returns a string of exactly `n` UTF-8 bytes, pseudo-random, with multi-byte characters. */
export function text(n: number, seed = 1): Buffer {
  const random = bytes(n, seed);
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  let r = 0;
  while (at < n) {
    const pick = random[r++ % n]!;
    if (pick < 16) {
      const wide = Buffer.from(WIDE[pick % WIDE.length]!, 'utf8');
      if (at + wide.length <= n) {
        wide.copy(out, at);
        at += wide.length;
        continue;
      }
    }
    out[at++] = ALPHABET.charCodeAt(pick % ALPHABET.length);
  }
  return out;
}

/** hex turns "ce ba e1" (spaces allowed) into bytes. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}
