/**
 * permessage-deflate compression (RFC 7692 §7.2) over node:zlib. The only
 * file that imports zlib. The size limit is enforced on the inflated bytes as
 * they are produced, so a compression bomb stops at the limit.
 */
import { kMaxLength } from 'node:buffer';
import { constants, createDeflateRaw, createInflateRaw, deflateRawSync, inflateRawSync, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { CloseCode } from './constants.js';
import { ProtocolError } from './errors.js';

/** The four bytes every sync flush ends with, removed on send and restored on receive (§7.2.1, §7.2.2). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** An empty message compressed: one empty stored block, its sync-flush tail removed. */
const EMPTY_MESSAGE = Buffer.from([0x00]);
/**
 * Compressed messages up to this size are inflated at once on the calling
 * thread when each stands alone (the peer resets its context): a few
 * microseconds, against a round trip through zlib's thread pool. Larger ones
 * go to the pool, so a big message never stalls the event loop.
 */
export const SYNC_INFLATE_MAX = 16 * 1024;
/**
 * Messages up to this size are compressed at once on the calling thread when
 * we reset our context after each message anyway (tens of microseconds,
 * against a thread-pool round trip); larger ones go to the pool.
 */
export const SYNC_DEFLATE_MAX = 8 * 1024;
/** zlib's smallest raw DEFLATE window: an agreed 8-bit window means sending uncompressed. */
export const MIN_RAW_WINDOW_BITS = 9;

/** MessageDeflater compresses outgoing messages, one at a time. */
export class MessageDeflater {
  /** Made on first use: without context takeover, small messages never need it. */
  #stream: DeflateRaw | null = null;
  readonly #windowBits: number;
  readonly #level: number;
  readonly #noContextTakeover: boolean;
  #chunks: Buffer[] = [];
  #length = 0;
  /** Set by close: a compression still in flight then rejects instead of touching the released stream. */
  #closed = false;
  /** Rejects the compression in flight, if any. */
  #reject: ((err: Error) => void) | null = null;

  constructor(windowBits: number, noContextTakeover: boolean, level: number) {
    this.#windowBits = windowBits;
    this.#level = level;
    this.#noContextTakeover = noContextTakeover;
  }

  /**
   * compressNow compresses a small message on the calling thread when every
   * message stands alone (no context takeover), or returns null when it must
   * go through {@link compress} (context kept, or over {@link SYNC_DEFLATE_MAX}).
   */
  compressNow(data: Buffer): Buffer | null {
    if (!this.#noContextTakeover || data.length > SYNC_DEFLATE_MAX) return null;
    if (data.length === 0) return Buffer.from(EMPTY_MESSAGE);
    // A window and hash table sized to the message: the same output, less to allocate and clear
    // (1 KiB: 15 µs against 20 µs here). A window smaller than the agreed one is always allowed.
    const windowBits = Math.min(this.#windowBits, Math.max(MIN_RAW_WINDOW_BITS, Math.ceil(Math.log2(data.length))));
    const memLevel = Math.min(8, Math.max(1, windowBits - 6));
    const out = deflateRawSync(data, { windowBits, level: this.#level, memLevel, finishFlush: constants.Z_SYNC_FLUSH });
    return withoutTail(out);
  }

  /** Compress one message. Calls must not overlap: the shell sends in order. */
  compress(data: Buffer): Promise<Buffer> {
    // zlib makes nothing of an empty write; an empty stored block (RFC 7692 §7.2.3.6) is the whole message.
    if (data.length === 0) return Promise.resolve(Buffer.from(EMPTY_MESSAGE));
    if (this.#closed) return Promise.reject(new Error('Compressor closed: the connection has ended'));
    const stream = (this.#stream ??= this.#open());
    return new Promise((resolve, reject) => {
      // zlib drops the callback of a write it was working on when the stream is closed: close() rejects instead.
      this.#reject = reject;
      stream.write(data, () => {
        this.#reject = null;
        // The connection ended while zlib worked: the stream is released, so reset would crash.
        if (this.#closed) return reject(new Error('Compressor closed: the connection has ended'));
        const out = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
        this.#chunks = [];
        this.#length = 0;
        if (out.length === 0) return reject(new Error('Compressor produced no output'));
        if (this.#noContextTakeover) stream.reset();
        resolve(withoutTail(out));
      });
    });
  }

  #open(): DeflateRaw {
    // Every write ends in a sync flush: one trip through zlib per message.
    const stream = createDeflateRaw({ windowBits: this.#windowBits, level: this.#level, memLevel: 8, flush: constants.Z_SYNC_FLUSH });
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    });
    return stream;
  }

  /** Release zlib's memory. */
  close(): void {
    this.#closed = true;
    this.#stream?.close();
    this.#reject?.(new Error('Compressor closed: the connection has ended'));
    this.#reject = null;
  }
}

/** Removes the 00 00 ff ff that ends every sync flush (RFC 7692 §7.2.1). */
function withoutTail(out: Buffer): Buffer {
  return out.length >= 4 && out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
}

/** MessageInflater decompresses incoming messages, one at a time, under a size limit. */
export class MessageInflater {
  /** Made on first use: a peer that resets its context may never need one. */
  #stream: InflateRaw | null = null;
  readonly #peerResetsContext: boolean;
  #chunks: Buffer[] = [];
  #length = 0;
  #limit = 0;
  #failed: ProtocolError | null = null;
  #reject: ((err: Error) => void) | null = null;
  /** The peer ended its DEFLATE stream with a BFINAL block (RFC 7692 §7.2.3.4); its next message starts a new one. */
  #ended = false;

  /** `peerResetsContext`: the peer agreed to no context takeover, so each message inflates on its own. */
  constructor(peerResetsContext = false) {
    this.#peerResetsContext = peerResetsContext;
  }

  /**
   * inflateNow decompresses a small message that stands alone on the calling
   * thread, or returns null when the message must go through
   * {@link decompress} (the peer keeps its context, or it is over
   * {@link SYNC_INFLATE_MAX}). Throws ProtocolError (1009 or 1007).
   */
  inflateNow(data: Buffer, limit: number): Buffer | null {
    if (!this.#peerResetsContext || data.length > SYNC_INFLATE_MAX || this.#failed) return null;
    try {
      // maxOutputLength stops a bomb once it passes the limit, before the rest is made.
      return inflateRawSync(Buffer.concat([data, TAIL]), { windowBits: 15, finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.min(Math.max(limit, 1), kMaxLength) });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw tooBig(limit);
      throw new ProtocolError('ERR_INFLATE', `Invalid compressed message: ${(err as Error).message}`, CloseCode.InvalidPayloadData, { cause: err });
    }
  }

  #open(): InflateRaw {
    // A 15-bit window decodes any window the peer may use; every write ends in a sync flush.
    const stream = createInflateRaw({ windowBits: 15, flush: constants.Z_SYNC_FLUSH });
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => {
      this.#ended = true;
    });
    stream.on('error', (err: Error) => {
      this.#failed ??= new ProtocolError('ERR_INFLATE', `Invalid compressed message: ${err.message}`, CloseCode.InvalidPayloadData, { cause: err });
      this.#reject?.(this.#failed);
    });
    return stream;
  }

  #onData(chunk: Buffer): void {
    if (this.#failed) return;
    this.#length += chunk.length;
    if (this.#length > this.#limit) {
      this.#failed = tooBig(this.#limit);
      this.#chunks = [];
      // Stop zlib from producing more: the bomb is defused here, not at the end.
      this.#stream?.pause();
      this.#reject?.(this.#failed);
      return;
    }
    this.#chunks.push(chunk);
  }

  /** Decompress one message of at most `limit` bytes; rejects ProtocolError (1009 or 1007). */
  decompress(data: Buffer, limit: number): Promise<Buffer> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#ended) {
      // zlib ignores input after a stream's end, which would turn every later message into nothing.
      this.#stream?.close();
      this.#stream = null;
      this.#ended = false;
    }
    const stream = (this.#stream ??= this.#open());
    this.#limit = limit;
    return new Promise((resolve, reject) => {
      this.#reject = reject;
      stream.write(Buffer.concat([data, TAIL]), (err) => {
        this.#reject = null;
        if (err && !this.#failed) {
          this.#failed = new ProtocolError('ERR_INFLATE', `Invalid compressed message: ${err.message}`, CloseCode.InvalidPayloadData, { cause: err });
        }
        if (this.#failed) return reject(this.#failed);
        const out = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
        this.#chunks = [];
        this.#length = 0;
        resolve(out);
      });
    });
  }

  /** Release zlib's memory. */
  close(): void {
    this.#stream?.close();
  }
}

function tooBig(limit: number): ProtocolError {
  return new ProtocolError('ERR_MESSAGE_TOO_BIG', `Decompressed message of more than ${limit} bytes exceeds the limit`, CloseCode.MessageTooBig);
}
