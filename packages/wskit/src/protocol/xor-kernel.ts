/**
 * A WebAssembly SIMD kernel that XORs a block of its own memory with a
 * repeated 32-bit key, 16 bytes per instruction. JavaScript has no vector
 * XOR: copying into this memory, XORing and copying out is still more than
 * twice as fast as the best JavaScript word loop from a few hundred bytes up
 * (the core rows of `npm run bench` give both). Masking is protocol work, so
 * the kernel is ours: nine instructions, assembled by hand below.
 */

/**
 * The module, in WebAssembly text format:
 *
 *   (module
 *     (memory (export "memory") 2)
 *     (func (export "xor") (param $len i32) (param $key i32)
 *       (local $i i32) (local $k v128)
 *       (local.set $k (i32x4.splat (local.get $key)))
 *       (block $done
 *         (loop $next
 *           (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
 *           (v128.store (local.get $i) (v128.xor (v128.load (local.get $i)) (local.get $k)))
 *           (local.set $i (i32.add (local.get $i) (i32.const 16)))
 *           (br $next)))))
 *
 * `xor` rounds `len` up to 16 bytes; callers copy back only what they put in.
 */
const MODULE = new Uint8Array([
  // Header: "\0asm", version 1.
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // Type section: one type, (i32, i32) -> ().
  0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  // Function section: one function of type 0.
  0x03, 0x02, 0x01, 0x00,
  // Memory section: one memory of 2 pages (128 KiB).
  0x05, 0x03, 0x01, 0x00, 0x02,
  // Export section: "memory" (memory 0) and "xor" (function 0).
  0x07, 0x10, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x03, 0x78, 0x6f, 0x72, 0x00, 0x00,
  // Code section: one body of 50 bytes; locals: one i32, one v128.
  0x0a, 0x34, 0x01, 0x32, 0x02, 0x01, 0x7f, 0x01, 0x7b,
  0x20, 0x01, 0xfd, 0x11, 0x21, 0x03, // k = i32x4.splat(key)
  0x02, 0x40, 0x03, 0x40, // block, loop
  0x20, 0x02, 0x20, 0x00, 0x4f, 0x0d, 0x01, // if i >= len: break
  0x20, 0x02, 0x20, 0x02, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x00, // mem[i] ^= k
  0x20, 0x02, 0x41, 0x10, 0x6a, 0x21, 0x02, // i += 16
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // continue; end loop, block, function
]);

/** The kernel's working area: one block of at most {@link XOR_BLOCK} bytes at a time. */
export const XOR_BLOCK = 64 * 1024;

/** XorKernel is the instantiated module: XOR the first `length` bytes of `memory` with `key`. */
export interface XorKernel {
  memory: Uint8Array;
  xor(length: number, key: number): void;
}

// The global WebAssembly object, typed here: the Node type definitions used by this project leave it out.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { memory: { buffer: ArrayBuffer }; xor: (length: number, key: number) => void } };
};

let kernel: XorKernel | null | undefined;

/**
 * xorKernel returns the kernel, made on first use, or null where
 * WebAssembly or its SIMD instructions are unavailable (for example under
 * `node --jitless`); callers then XOR in JavaScript.
 */
export function xorKernel(): XorKernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    kernel = { memory: new Uint8Array(exports.memory.buffer), xor: exports.xor };
  } catch {
    kernel = null;
  }
  return kernel;
}
