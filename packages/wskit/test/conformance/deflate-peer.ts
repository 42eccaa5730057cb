/**
 * The fuzzer's own permessage-deflate (RFC 7692 §7.2), written on node:zlib
 * independently of wskit's src/deflate.ts so the two check each other.
 *
 * The inflater is built with the peer's agreed window: a peer that ignored
 * `*_max_window_bits` produces back-references zlib cannot resolve ("invalid
 * distance too far back"). With `noContext` every message is inflated by a
 * fresh inflater, so a peer that ignored `*_no_context_takeover` fails too.
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** How one side compresses: its window and whether it keeps context between messages. */
export interface DeflateSide {
  windowBits: number;
  noContext: boolean;
}

function flushStream(stream: DeflateRaw | InflateRaw, input: Buffer[], flush?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const onError = (err: Error) => {
      stream.off('data', onData);
      reject(err);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    for (const piece of input) stream.write(piece);
    const done = () => {
      stream.off('data', onData);
      stream.off('error', onError);
      resolve(Buffer.concat(chunks));
    };
    if (flush === undefined) stream.flush(done);
    else stream.flush(flush, done);
  });
}

/** PeerDeflater compresses the fuzzer's messages. */
export class PeerDeflater {
  readonly #side: DeflateSide;
  #stream: DeflateRaw | null = null;

  constructor(side: DeflateSide) {
    this.#side = side;
  }

  /** compress one message: deflate, sync flush, drop the 4-byte tail (§7.2.1). */
  async compress(data: Buffer): Promise<Buffer> {
    if (this.#stream === null || this.#side.noContext) {
      this.#stream?.close();
      this.#stream = createDeflateRaw({ windowBits: this.#side.windowBits, level: 6 });
    }
    const out = await flushStream(this.#stream, [data], constants.Z_SYNC_FLUSH);
    if (!out.subarray(out.length - 4).equals(TAIL)) throw new Error('zlib sync flush did not end with 00 00 ff ff');
    return out.subarray(0, out.length - 4);
  }

  close(): void {
    this.#stream?.close();
  }
}

/** PeerInflater decompresses the peer's messages under its agreed window and context rule. */
export class PeerInflater {
  readonly #side: DeflateSide;
  #stream: InflateRaw | null = null;

  constructor(side: DeflateSide) {
    this.#side = side;
  }

  /** decompress one message: append the tail back (§7.2.2) and inflate. */
  async decompress(data: Buffer): Promise<Buffer> {
    if (this.#stream === null || this.#side.noContext) {
      this.#stream?.close();
      this.#stream = createInflateRaw({ windowBits: this.#side.windowBits });
    }
    try {
      return await flushStream(this.#stream, [data, TAIL]);
    } catch (err) {
      throw new Error(
        `Cannot inflate the peer's message with window ${this.#side.windowBits}` +
          `${this.#side.noContext ? ' and no context takeover' : ''}: ${(err as Error).message}`,
      );
    }
  }

  close(): void {
    this.#stream?.close();
  }
}
