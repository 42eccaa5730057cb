/**
 * Micro-benchmarks of the sans-I/O core in src/protocol/: frame parsing (the
 * bare parser and the full receive path with validation), frame encoding,
 * masking and UTF-8 validation, per MB and per frame. They guard the hot
 * paths against regressions; `npm run bench -- --core` runs only these.
 */
import { performance } from 'node:perf_hooks';
import {
  applyMask,
  applyMaskWords,
  Connection,
  encodeFrame,
  FrameParser,
  isValidUtf8,
  maskInto,
  Opcode,
  Utf8Validator,
  type FrameHeader,
} from 'wskit/protocol';
import { textPayload } from './payload.js';
import { median } from './stats.js';

/** CoreResult is one micro-benchmark's median rate. */
export interface CoreResult {
  name: string;
  size: number;
  mbPerSec: number;
  framesPerSec: number;
  nsPerFrame: number;
}

const SIZES = [32, 1024, 64 * 1024, 1024 * 1024];
// Small frames are fed in batches of about this many bytes, like a socket read.
const BATCH_BYTES = 64 * 1024;
/** The most one socket read delivers (libuv reads 64 KiB at a time). */
const READ_SIZE = 64 * 1024;

/**
 * measure runs `op` (which handles `frames` frames of `bytes` bytes in all)
 * for about `budgetMs`, in five timed slices, and returns the median rate.
 */
function measure(name: string, size: number, bytes: number, frames: number, budgetMs: number, op: () => void): CoreResult {
  // Calibrate: how many ops fit in a slice, after a short warm-up that lets the JIT settle.
  let n = 0;
  const warmEnd = performance.now() + Math.min(50, budgetMs / 4);
  while (performance.now() < warmEnd && n < 1e7) {
    op();
    n++;
  }
  const sliceMs = budgetMs / 5;
  const perSlice = Math.max(1, Math.round((n / Math.min(50, budgetMs / 4)) * sliceMs));
  const rates: number[] = [];
  for (let s = 0; s < 5; s++) {
    const t0 = performance.now();
    for (let i = 0; i < perSlice; i++) op();
    rates.push(perSlice / ((performance.now() - t0) / 1000));
  }
  const opsPerSec = median(rates);
  return { name, size, mbPerSec: (opsPerSec * bytes) / 1e6, framesPerSec: opsPerSec * frames, nsPerFrame: 1e9 / (opsPerSec * frames) };
}

function maskedBatch(size: number): { batch: Buffer; frames: number } {
  const payload = Buffer.from(textPayload(size));
  const frames = Math.max(1, Math.floor(BATCH_BYTES / (size + 14)));
  const one = encodeFrame(Opcode.Text, payload, { mask: true })[0]!;
  return { batch: Buffer.concat(Array.from({ length: frames }, () => one)), frames };
}

const noop = { onFrameHeader(_h: FrameHeader) {}, onPayload(_p: Buffer) {}, onFrameEnd() {} };

/** runCore runs every core micro-benchmark with about `budgetMs` each and returns the results. */
export function runCore(budgetMs: number, log: (line: string) => void): CoreResult[] {
  const results: CoreResult[] = [];
  const add = (r: CoreResult) => {
    results.push(r);
    log(`  core ${r.name.padEnd(34)} ${String(r.size).padStart(8)} B ${r.mbPerSec.toFixed(0).padStart(7)} MB/s ${r.nsPerFrame.toFixed(0).padStart(9)} ns/frame`);
  };
  for (const size of SIZES) {
    const { batch, frames } = maskedBatch(size);
    const pristine = Buffer.from(batch);
    const parser = new FrameParser(noop);
    // Unmasking happens in place, so repeated passes toggle the payload; the bare parser does not care.
    add(measure('parse masked (FrameParser)', size, frames * size, frames, budgetMs, () => parser.push(batch)));
    // The full receive path validates UTF-8, so each pass gets a fresh masked copy (a memcpy, counted in).
    const work = Buffer.allocUnsafe(pristine.length);
    const conn = new Connection({ role: 'server', maxMessageSize: 16 * 1024 * 1024, compression: false });
    add(
      measure('receive text (Connection, + copy)', size, frames * size, frames, budgetMs, () => {
        pristine.copy(work);
        conn.receive(work);
        conn.events.length = 0;
      }),
    );
    if (size >= READ_SIZE) {
      // A large frame arrives over several socket reads: it is unmasked as it is copied into one buffer.
      const reads = Array.from({ length: Math.ceil(pristine.length / READ_SIZE) }, (_, i) => pristine.subarray(i * READ_SIZE, (i + 1) * READ_SIZE));
      add(
        measure('receive text in 64 KiB reads (Connection)', size, frames * size, frames, budgetMs, () => {
          for (const read of reads) conn.receive(read);
          conn.events.length = 0;
        }),
      );
    }
  }
  for (const size of SIZES) {
    const payload = Buffer.from(textPayload(size));
    add(measure('encode server frame (unmasked)', size, size, 1, budgetMs, () => encodeFrame(Opcode.Text, payload)));
    add(measure('encode client frame (masked)', size, size, 1, budgetMs, () => encodeFrame(Opcode.Text, payload, { mask: true })));
  }
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  for (const size of SIZES) {
    const data = Buffer.from(textPayload(size));
    const target = Buffer.allocUnsafe(size);
    add(measure('applyMask (SIMD kernel from 256 B)', size, size, 1, budgetMs, () => applyMask(data, key)));
    add(measure('maskInto (copy and unmask)', size, size, 1, budgetMs, () => maskInto(data, target, key)));
    add(measure('applyMaskWords (JS word loop)', size, size, 1, budgetMs, () => applyMaskWords(data, key)));
  }
  const ascii = Buffer.from(textPayload(64 * 1024));
  const mixed = Buffer.from('héllo wörld — 日本語のテキスト 😀 '.repeat(2048)).subarray(0, 64 * 1024 - 64);
  // Cut on a code point boundary so the sample stays valid.
  let end = mixed.length;
  while (end > 0 && (mixed[end]! & 0xc0) === 0x80) end--;
  const multi = mixed.subarray(0, end);
  const validator = new Utf8Validator();
  for (const [label, bytes] of [['ASCII', ascii], ['multi-byte', multi]] as const) {
    add(
      measure(`Utf8Validator.feed ${label}`, bytes.length, bytes.length, 1, budgetMs, () => {
        validator.reset();
        if (!validator.feed(bytes)) throw new Error('sample is not valid UTF-8');
      }),
    );
    add(measure(`isValidUtf8 ${label}`, bytes.length, bytes.length, 1, budgetMs, () => isValidUtf8(bytes)));
  }
  return results;
}
