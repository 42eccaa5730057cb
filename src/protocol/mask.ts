/**
 * Masking (RFC 6455 §5.3): XOR each payload byte with the 4-byte key,
 * cycling from a phase so a payload can be unmasked in pieces as it arrives.
 */

/** Payloads shorter than this are masked a byte at a time; the word loop does not pay off below it. */
const WORD_LOOP_MIN = 32;
const scratch = new Uint8Array(4);
const scratchWord = new Uint32Array(scratch.buffer);

/**
 * applyMask XORs `data` in place with `key`, starting at key byte `phase`
 * (0–3: how many payload bytes came before this piece). Masking and
 * unmasking are the same operation.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, phase = 0): void {
  const length = data.length;
  let i = 0;
  if (length >= WORD_LOOP_MIN) {
    // Align to 4 bytes so the middle can be XORed a 32-bit word at a time.
    const head = (4 - (data.byteOffset & 3)) & 3;
    for (; i < head; i++) data[i]! ^= key[(i + phase) & 3]!;
    // The word holds the key rotated to this position; building it through a
    // byte view keeps it right on either endianness.
    for (let k = 0; k < 4; k++) scratch[k] = key[(i + k + phase) & 3]!;
    const word = scratchWord[0]!;
    const words = new Uint32Array(data.buffer, data.byteOffset + i, (length - i) >>> 2);
    for (let w = 0; w < words.length; w++) words[w]! ^= word;
    i += words.length << 2;
  }
  for (; i < length; i++) data[i]! ^= key[(i + phase) & 3]!;
}

/** maskSimple is the byte-at-a-time reference for {@link applyMask}; tests compare the two. */
export function maskSimple(data: Uint8Array, key: Uint8Array, phase = 0): void {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[(i + phase) & 3]!;
}
