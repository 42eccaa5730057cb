/**
 * Redis Cluster hash slots: which of the 16384 slots a key belongs to, as
 * Redis computes it (Redis Cluster specification, "Keys distribution model"):
 * CRC16 (XMODEM) of the key's hash tag, modulo 16384. The hash tag is the part
 * between the first `{` and the first `}` after it, when not empty; otherwise
 * the whole key.
 */

/** Number of hash slots in a Redis Cluster. */
export const SLOT_COUNT = 16_384;

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/** The hash slot of `key` (its UTF-8 bytes), honouring a `{tag}`. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % SLOT_COUNT;
  }
  return crc16(bytes) % SLOT_COUNT;
}
