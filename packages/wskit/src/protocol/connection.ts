/**
 * Connection: the receiving half of RFC 6455 as a state machine. Feed it
 * the bytes read from the socket with {@link Connection.receive}; it checks
 * every rule of framing, fragmentation, masking, UTF-8, size, fragment count
 * and closing, and queues events (messages, pings, pongs, a close) in
 * {@link Connection.events}.
 * It never touches a socket or a clock, so every rule is testable with bytes.
 *
 * A broken rule throws a {@link ProtocolError} whose `closeCode` is the
 * code to close with; nothing is parsed after it, nor after a close frame.
 */
import { CloseCode, Defaults, MAX_CONTROL_PAYLOAD, MessageType, Opcode } from '../constants.js';
import { ProtocolError } from '../errors.js';
import { parseClosePayload } from './close.js';
import type { FrameHeader } from './frame.js';
import { type FrameHandler, FrameParser } from './parser.js';
import { takeWholeFrames } from './whole-frames.js';
import { invalidText, Utf8Validator } from './utf8.js';

/** Something the peer sent that the shell must act on. */
export type ConnectionEvent =
  | {
      /** A whole data message, its fragments joined. */
      kind: 'message';
      /** Text or binary, from the opcode of the first frame. */
      type: MessageType;
      /** The payload, unmasked. */
      data: Buffer;
      /** RSV1 was set: `data` is still deflated and its size and UTF-8 are unchecked. */
      compressed: boolean;
    }
  | {
      /** A ping; the shell answers it with a pong carrying `data`. */
      kind: 'ping';
      /** The ping's application data (at most 125 bytes). */
      data: Buffer;
    }
  | {
      /** A pong. */
      kind: 'pong';
      /** The pong's application data (at most 125 bytes). */
      data: Buffer;
    }
  | {
      /** A close frame, already validated (RFC 6455 §5.5.1, §7.4). */
      kind: 'close';
      /** The peer's close code, or 1005 when its close frame had no payload. */
      code: number;
      /** The peer's close reason, valid UTF-8. */
      reason: string;
    };

/** Settings of a {@link Connection}. */
export interface ConnectionOptions {
  /** Which end we are: a server requires masked frames, a client unmasked ones. */
  role: 'server' | 'client';
  /** Largest message in bytes (over it: 1009). */
  maxMessageSize: number;
  /**
   * Most frames one data message may have, its first frame and continuations,
   * empty ones too (over it: 1009). Default `Defaults.maxFragments` (16,384).
   */
  maxFragments?: number;
  /** permessage-deflate was negotiated, so RSV1 may be set on a message's first frame. */
  compression: boolean;
}

const NO_MESSAGE = 0;
const EMPTY = Buffer.alloc(0);

/** Connection parses and validates what the peer sends. */
export class Connection implements FrameHandler {
  /** Events produced by {@link receive}, oldest first; the shell drains this array. */
  readonly events: ConnectionEvent[] = [];
  readonly #role: 'server' | 'client';
  readonly #maxMessageSize: number;
  readonly #maxFragments: number;
  readonly #compression: boolean;
  readonly #parser: FrameParser;
  #closeReceived = false;

  // The frame being read.
  #frameOpcode = 0;
  #control: Buffer | null = null;
  #controlLength = 0;

  // The message being assembled: the opcode of its first frame, or NO_MESSAGE.
  #messageOpcode: number = NO_MESSAGE;
  #messageCompressed = false;
  #messageFin = false;
  #messageSize = 0;
  /** Frames of the message so far, its first included. */
  #messageFrames = 0;
  #validateText = false;
  /** Made with the first text message: a connection that never gets one never needs it. */
  #utf8: Utf8Validator | null = null;
  /** The message's bytes so far while they lie in one place, kept as a view (no copy). */
  #single: Buffer | null = null;
  /** Contiguous storage once a message has more than one piece: its bytes, not an object per fragment. */
  #joined: Buffer | null = null;
  #joinedLength = 0;

  constructor(options: ConnectionOptions) {
    this.#role = options.role;
    this.#maxMessageSize = options.maxMessageSize;
    this.#maxFragments = options.maxFragments ?? Defaults.maxFragments;
    this.#compression = options.compression;
    this.#parser = new FrameParser(this);
  }

  /** True once a close frame arrived; later bytes are ignored. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }

  /** Parse bytes from the peer. Throws ProtocolError when they break the protocol. */
  receive(chunk: Buffer): void {
    let taken = 0;
    if (this.#messageOpcode === NO_MESSAGE && this.#parser.idle) {
      // Between messages and frames, whole one-frame messages are read in one pass (whole-frames.ts);
      // whatever follows them goes through the parser.
      try {
        taken = takeWholeFrames(chunk, this.#role === 'server', this.#maxMessageSize, this.events);
      } catch (err) {
        this.#parser.stop();
        throw err;
      }
      if (taken === chunk.length) return;
    }
    this.#parser.push(taken === 0 ? chunk : chunk.subarray(taken));
  }

  /** Stop parsing (the connection is closing for another reason). */
  stop(): void {
    this.#parser.stop();
  }

  /** @internal FrameHandler: validate a header before any of its payload is read. */
  onFrameHeader(header: FrameHeader): void {
    const { opcode } = header;
    if (header.rsv2 || header.rsv3) {
      throw new ProtocolError('ERR_RSV', 'Invalid frame: RSV2 and RSV3 must be 0, no extension defines them');
    }
    // RFC 6455 §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved. Checked before masking, as ws does,
    // so a frame that breaks both rules fails with the same error in either library.
    if ((opcode > Opcode.Binary && opcode < Opcode.Close) || opcode > Opcode.Pong) throw unknownOpcode(opcode);
    // RFC 6455 §5.1: clients mask every frame, servers none.
    if (this.#role === 'server' && header.mask === null) {
      throw new ProtocolError('ERR_UNMASKED', 'Invalid frame: client frames must be masked');
    }
    if (this.#role === 'client' && header.mask !== null) {
      throw new ProtocolError('ERR_MASKED', 'Invalid frame: server frames must not be masked');
    }
    this.#frameOpcode = opcode;
    if (opcode >= Opcode.Close) {
      // RFC 6455 §5.5: control frames are short, whole and not compressed.
      if (opcode > Opcode.Pong) throw unknownOpcode(opcode);
      if (!header.fin) throw new ProtocolError('ERR_FRAGMENTED_CONTROL', 'Invalid frame: control frames must not be fragmented');
      if (header.length > MAX_CONTROL_PAYLOAD) {
        throw new ProtocolError(
          'ERR_CONTROL_TOO_LONG',
          `Invalid frame: control frame payload is ${header.length} bytes, over the limit of ${MAX_CONTROL_PAYLOAD}`,
        );
      }
      if (header.rsv1) throw new ProtocolError('ERR_RSV', 'Invalid frame: RSV1 is set on a control frame');
      this.#control = header.length === 0 ? EMPTY : Buffer.allocUnsafe(header.length);
      this.#controlLength = 0;
      return;
    }
    if (opcode === Opcode.Continuation) {
      if (this.#messageOpcode === NO_MESSAGE) {
        throw new ProtocolError('ERR_UNEXPECTED_CONTINUATION', 'Invalid frame: continuation frame with no message to continue');
      }
      // RFC 7692 §6.1: RSV1 marks only the first frame of a compressed message.
      if (header.rsv1) throw new ProtocolError('ERR_RSV', 'Invalid frame: RSV1 is set on a continuation frame');
      // Empty fragments cost no memory, but without this a message of endless ones never ends.
      if (++this.#messageFrames > this.#maxFragments) {
        throw new ProtocolError(
          'ERR_TOO_MANY_FRAGMENTS',
          `Cannot read message: more than ${this.#maxFragments} fragments`,
          CloseCode.MessageTooBig,
        );
      }
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.#messageOpcode !== NO_MESSAGE) {
        throw new ProtocolError('ERR_EXPECTED_CONTINUATION', 'Invalid frame: a new message began before the previous one finished');
      }
      if (header.rsv1 && !this.#compression) {
        throw new ProtocolError('ERR_RSV', 'Invalid frame: RSV1 is set but no extension was negotiated');
      }
      this.#messageOpcode = opcode;
      this.#messageFrames = 1;
      this.#messageCompressed = header.rsv1;
      this.#validateText = opcode === Opcode.Text && !header.rsv1;
      if (this.#validateText) (this.#utf8 ??= new Utf8Validator()).reset();
    } else {
      throw unknownOpcode(opcode);
    }
    this.#messageFin = header.fin;
    // Checked before a byte of payload is stored, so an announced 1 GiB costs nothing.
    // The limit is on the inflated size (checked while inflating); deflate may expand
    // incompressible data slightly, so a compressed message may be that much larger on the wire.
    const size = this.#messageSize + header.length;
    const limit = this.#messageCompressed ? deflateBound(this.#maxMessageSize) : this.#maxMessageSize;
    if (size > limit) {
      throw new ProtocolError(
        'ERR_MESSAGE_TOO_BIG',
        `${this.#messageCompressed ? 'Compressed message' : 'Message'} of ${size} bytes or more exceeds the limit of ${limit}`,
        CloseCode.MessageTooBig,
      );
    }
    this.#messageSize = size;
  }

  /** @internal FrameHandler: store and check a piece of unmasked payload. */
  onPayload(piece: Buffer): void {
    if (this.#frameOpcode >= Opcode.Close) {
      piece.copy(this.#control!, this.#controlLength);
      this.#controlLength += piece.length;
      return;
    }
    if (this.#validateText && !this.#utf8!.feed(piece)) {
      throw invalidText(false);
    }
    if (this.#joined === null) {
      const single = this.#single;
      if (single === null) {
        this.#single = piece;
        return;
      }
      if (piece.buffer === single.buffer && piece.byteOffset === single.byteOffset + single.length) {
        // The parser put this piece right after the last one (a frame spanning reads): widen the view, copy nothing.
        this.#single = Buffer.from(single.buffer, single.byteOffset, single.length + piece.length);
        return;
      }
    }
    this.#append(piece);
  }

  /** @internal FrameHandler: a frame is complete. */
  onFrameEnd(): void {
    const opcode = this.#frameOpcode;
    if (opcode >= Opcode.Close) {
      const data = this.#control!;
      this.#control = null;
      if (opcode === Opcode.Ping) this.events.push({ kind: 'ping', data });
      else if (opcode === Opcode.Pong) this.events.push({ kind: 'pong', data });
      else {
        const { code, reason } = parseClosePayload(data);
        this.#closeReceived = true;
        this.#parser.stop();
        this.events.push({ kind: 'close', code, reason });
      }
      return;
    }
    if (!this.#messageFin) return;
    if (this.#validateText && !this.#utf8!.complete) {
      throw invalidText(true);
    }
    let data: Buffer;
    if (this.#joined !== null) data = this.#joined.subarray(0, this.#joinedLength);
    else data = this.#single ?? EMPTY;
    this.events.push({
      kind: 'message',
      type: this.#messageOpcode === Opcode.Text ? MessageType.Text : MessageType.Binary,
      data,
      compressed: this.#messageCompressed,
    });
    this.#messageOpcode = NO_MESSAGE;
    this.#messageSize = 0;
    this.#single = null;
    this.#joined = null;
    this.#joinedLength = 0;
  }

  #append(piece: Buffer): void {
    const needed = this.#joinedLength + (this.#single?.length ?? 0) + piece.length;
    if (this.#joined === null || this.#joined.length < needed) {
      // Room for what the headers announced so far, doubling while fragments keep coming.
      const target = Math.max(needed, this.#messageSize, Math.min(needed * 2, this.#maxMessageSize));
      const grown = Buffer.allocUnsafe(target);
      if (this.#joined !== null) this.#joined.copy(grown, 0, 0, this.#joinedLength);
      this.#joined = grown;
    }
    if (this.#single !== null) {
      this.#single.copy(this.#joined, this.#joinedLength);
      this.#joinedLength += this.#single.length;
      this.#single = null;
    }
    piece.copy(this.#joined, this.#joinedLength);
    this.#joinedLength += piece.length;
  }
}

/**
 * deflateBound is the most bytes DEFLATE can turn `size` bytes into with any
 * zlib settings (its deflateBound for non-default memLevel or window, which
 * peers such as Python's websockets use), plus the sync flush's empty block.
 */
export function deflateBound(size: number): number {
  return size + Math.ceil(size / 8) + Math.ceil(size / 64) + 10;
}

function unknownOpcode(opcode: number): ProtocolError {
  return new ProtocolError('ERR_INVALID_OPCODE', `Invalid frame: unknown opcode 0x${opcode.toString(16)}`);
}
