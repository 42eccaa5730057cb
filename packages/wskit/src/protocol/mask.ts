/**
 * Masking (RFC 6455 §5.3): XOR each payload byte with the 4-byte key,
 * cycling from a phase so a payload can be unmasked in pieces as it arrives,
 * either in place or into another buffer. Longer payloads go through a
 * WebAssembly SIMD kernel (xor-kernel.ts).
 */
import { XOR_BLOCK, type XorKernel, xorKernel } from './xor-kernel.js';

/** Payloads shorter than this are masked a byte at a time; the word loop does not pay off below it. */
const WORD_LOOP_MIN = 64;
const scratch = new Uint8Array(4);
// Int32, not Uint32: V8 keeps int32 values unboxed, while a Uint32 above 2^31 becomes a double.
const scratchWord = new Int32Array(scratch.buffer);

/** Payloads at least this long go through the SIMD kernel when there is one; below it the two copies cost more than they save. */
const KERNEL_MIN = 256;

/**
 * applyMask XORs `data` in place with `key`, starting at key byte `phase`
 * (0–3: how many payload bytes came before this piece). Masking and
 * unmasking are the same operation.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, phase = 0): void {
  const kernel = data.length >= KERNEL_MIN ? xorKernel() : null;
  if (kernel !== null) maskThroughKernel(kernel, data, data, key, phase);
  else applyMaskWords(data, key, phase);
}

/**
 * applyMaskAt is {@link applyMask} from key byte 0 with the key read from
 * `source` at `offset` (the header of the frame `data` came in), so a short
 * payload is unmasked without a view of its key being made.
 */
export function applyMaskAt(data: Uint8Array, source: Uint8Array, offset: number): void {
  const length = data.length;
  if (length >= WORD_LOOP_MIN) return applyMask(data, source.subarray(offset, offset + 4));
  const k0 = source[offset]!;
  const k1 = source[offset + 1]!;
  const k2 = source[offset + 2]!;
  const k3 = source[offset + 3]!;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    data[i]! ^= k0;
    data[i + 1]! ^= k1;
    data[i + 2]! ^= k2;
    data[i + 3]! ^= k3;
  }
  if (i < length) data[i]! ^= k0;
  if (i + 1 < length) data[i + 1]! ^= k1;
  if (i + 2 < length) data[i + 2]! ^= k2;
}

/**
 * maskInto writes `source` XOR `key` (from key byte `phase`) into `target`,
 * which must be as long, leaving `source` as it was: for a payload that must
 * be copied anyway (a frame spanning reads, a client's outgoing frame), the
 * copy and the (un)masking are one step.
 */
export function maskInto(source: Uint8Array, target: Uint8Array, key: Uint8Array, phase = 0): void {
  const kernel = source.length >= KERNEL_MIN ? xorKernel() : null;
  if (kernel !== null) {
    maskThroughKernel(kernel, source, target, key, phase);
  } else {
    target.set(source);
    applyMaskWords(target, key, phase);
  }
}

/** Copies `source` through the kernel's memory a block at a time, XORed, into `target` (which may be `source`). */
function maskThroughKernel(kernel: XorKernel, source: Uint8Array, target: Uint8Array, key: Uint8Array, phase: number): void {
  // The kernel reads its memory little-endian. Blocks are a multiple of 4 bytes long, so each starts at the same key byte.
  const word = key[phase & 3]! | (key[(phase + 1) & 3]! << 8) | (key[(phase + 2) & 3]! << 16) | (key[(phase + 3) & 3]! << 24);
  const { memory } = kernel;
  for (let at = 0; at < source.length; at += XOR_BLOCK) {
    const size = Math.min(XOR_BLOCK, source.length - at);
    memory.set(at === 0 && size === source.length ? source : source.subarray(at, at + size));
    kernel.xor(size, word);
    target.set(memory.subarray(0, size), at);
  }
}

/**
 * applyMaskWords is applyMask in JavaScript, a 32-bit word at a time: the
 * path for short payloads and where WebAssembly is unavailable.
 */
export function applyMaskWords(data: Uint8Array, key: Uint8Array, phase = 0): void {
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
    const words = new Int32Array(data.buffer, data.byteOffset + i, (length - i) >>> 2);
    const count = words.length;
    let w = 0;
    // Four words per turn: about twice the throughput of one (6 against 3.5 GB/s here).
    for (; w + 4 <= count; w += 4) {
      words[w]! ^= word;
      words[w + 1]! ^= word;
      words[w + 2]! ^= word;
      words[w + 3]! ^= word;
    }
    for (; w < count; w++) words[w]! ^= word;
    i += count << 2;
  }
  for (; i < length; i++) data[i]! ^= key[(i + phase) & 3]!;
}

/** maskSimple is the byte-at-a-time reference for {@link applyMask}; tests compare the two. */
export function maskSimple(data: Uint8Array, key: Uint8Array, phase = 0): void {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[(i + phase) & 3]!;
}
