/**
 * Deterministic text payloads for the echo rows. Words drawn by a seeded
 * generator compress about as well as chat or JSON text (3–4×), so the
 * permessage-deflate rows do real work; incompressible or all-same bytes
 * would flatter or punish compression.
 */

const WORDS = [
  'socket', 'frame', 'message', 'server', 'client', 'room', 'hello', 'world', 'text', 'binary',
  'ping', 'pong', 'close', 'open', 'data', 'buffer', 'stream', 'deflate', 'mask', 'opcode',
  'latency', 'through', 'put', 'node', 'bench', 'fast', 'slow', 'queue', 'write', 'read',
  '{"id":', '"ts":', '"from":', '"text":', '},', '12', '345', '6789', 'a', 'the',
];

/** textPayload returns an ASCII string of exactly `size` bytes, the same for the same size. */
export function textPayload(size: number): string {
  let seed = 0x2545f491 ^ size;
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    // xorshift32: cheap, seeded, good enough to vary word order.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const word = WORDS[(seed >>> 0) % WORDS.length]!;
    parts.push(word, ' ');
    length += word.length + 1;
  }
  return parts.join('').slice(0, size);
}
