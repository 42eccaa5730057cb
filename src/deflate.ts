/**
 * permessage-deflate compression (RFC 7692 §7.2) over node:zlib. The only
 * file that imports zlib. The size limit is enforced on the inflated bytes as
 * they are produced, so a compression bomb stops at the limit.
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { CloseCode } from './constants.js';
import { ProtocolError } from './errors.js';

/** The four bytes every sync flush ends with, removed on send and restored on receive (§7.2.1, §7.2.2). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** MessageDeflater compresses outgoing messages, one at a time. */
export class MessageDeflater {
  readonly #stream: DeflateRaw;
  readonly #noContextTakeover: boolean;
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(windowBits: number, noContextTakeover: boolean, level: number) {
    this.#stream = createDeflateRaw({ windowBits, level, memLevel: 8 });
    this.#noContextTakeover = noContextTakeover;
    this.#stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    });
  }

  /** Compress one message. Calls must not overlap: the shell sends in order. */
  compress(data: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#stream.write(data);
      this.#stream.flush(constants.Z_SYNC_FLUSH, () => {
        let out = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
        this.#chunks = [];
        this.#length = 0;
        if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
        else if (out.length === 0) return reject(new Error('Compressor produced no output'));
        if (this.#noContextTakeover) this.#stream.reset();
        resolve(out);
      });
    });
  }

  /** Release zlib's memory. */
  close(): void {
    this.#stream.close();
  }
}

/** MessageInflater decompresses incoming messages, one at a time, under a size limit. */
export class MessageInflater {
  #stream: InflateRaw;
  #chunks: Buffer[] = [];
  #length = 0;
  #limit = 0;
  #failed: ProtocolError | null = null;
  #reject: ((err: Error) => void) | null = null;
  /** The peer ended its DEFLATE stream with a BFINAL block (RFC 7692 §7.2.3.4); its next message starts a new one. */
  #ended = false;

  constructor() {
    this.#stream = this.#open();
  }

  #open(): InflateRaw {
    // A 15-bit window decodes any window the peer may use.
    const stream = createInflateRaw({ windowBits: 15 });
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => {
      this.#ended = true;
    });
    stream.on('error', (err: Error) => {
      const protocolError = new ProtocolError(
        'ERR_INFLATE',
        `Invalid compressed message: ${err.message}`,
        CloseCode.InvalidPayloadData,
      );
      this.#failed = protocolError;
      this.#reject?.(protocolError);
    });
    return stream;
  }

  #onData(chunk: Buffer): void {
    if (this.#failed) return;
    this.#length += chunk.length;
    if (this.#length > this.#limit) {
      this.#failed = new ProtocolError(
        'ERR_MESSAGE_TOO_BIG',
        `Decompressed message of more than ${this.#limit} bytes exceeds the limit`,
        CloseCode.MessageTooBig,
      );
      this.#chunks = [];
      // Stop zlib from producing more: the bomb is defused here, not at the end.
      this.#stream.pause();
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
      this.#stream.close();
      this.#stream = this.#open();
      this.#ended = false;
    }
    this.#limit = limit;
    return new Promise((resolve, reject) => {
      this.#reject = reject;
      this.#stream.write(data);
      this.#stream.write(TAIL);
      this.#stream.flush(() => {
        this.#reject = null;
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
    this.#stream.close();
  }
}
