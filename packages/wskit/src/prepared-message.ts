/**
 * PreparedMessage: a message encoded once and written to many connections,
 * as gorilla's PreparedMessage. Broadcast then costs one encoding, not one
 * per receiver.
 */
import { MessageType, Opcode } from './constants.js';
import { encodeFrameBuffer } from './protocol/frame.js';

/** PreparedMessage caches the server frame of a message for {@link Conn.writePrepared}. */
export class PreparedMessage {
  /** `'text'` or `'binary'`. */
  readonly type: MessageType;
  /** The payload. */
  readonly data: Buffer;
  /**
   * The unmasked, uncompressed frame a server sends. Clients must mask each
   * frame with a fresh key, so they encode `data` again instead.
   */
  readonly frame: Buffer;

  /** Prepare `data` (a string is sent as UTF-8 text) for sending as a `type` message. */
  constructor(type: MessageType, data: string | Uint8Array) {
    if (type !== MessageType.Text && type !== MessageType.Binary) {
      throw new TypeError(`Message type must be 'text' or 'binary', not ${String(type)}`);
    }
    this.type = type;
    this.data = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.length);
    this.frame = encodeFrameBuffer(type === MessageType.Text ? Opcode.Text : Opcode.Binary, this.data);
  }
}
