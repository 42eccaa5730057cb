/**
 * Close frame payloads (RFC 6455 §5.5.1 and §7.4): a 2-byte status code
 * followed by a UTF-8 reason, 125 bytes at most in all.
 */
import { isUtf8 } from 'node:buffer';
import { CloseCode, MAX_CONTROL_PAYLOAD } from '../constants.js';
import { ProtocolError } from '../errors.js';

/** Longest close reason in bytes: the control frame limit less the 2-byte code. */
export const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;

/**
 * isValidCloseCode tells whether `code` may be sent in a close frame:
 * 1000–1003, 1007–1014 (IANA-registered), or 3000–4999 (libraries and
 * applications). 1004–1006 and 1015 are reserved and never sent.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  );
}

/** A parsed close frame payload. */
export interface ClosePayload {
  /** The code, or 1005 (NoStatusReceived) when the payload was empty. */
  code: number;
  /** The reason, valid UTF-8 (checked: 1007 otherwise), or '' when none was sent. */
  reason: string;
}

/** parseClosePayload validates a received close payload; throws ProtocolError (1002 or 1007). */
export function parseClosePayload(payload: Uint8Array): ClosePayload {
  if (payload.length === 0) return { code: CloseCode.NoStatusReceived, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError('ERR_INVALID_CLOSE', 'Invalid close frame: a 1-byte payload cannot hold a status code');
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    throw new ProtocolError('ERR_INVALID_CLOSE_CODE', `Invalid close frame: status code ${code} is not allowed`);
  }
  const reasonBytes = payload.subarray(2);
  if (!isUtf8(reasonBytes)) {
    throw new ProtocolError(
      'ERR_INVALID_UTF8',
      'Invalid close frame: the reason is not valid UTF-8',
      CloseCode.InvalidPayloadData,
    );
  }
  return { code, reason: Buffer.from(reasonBytes).toString('utf8') };
}

/**
 * encodeClosePayload builds a close payload. Code 1005 means "no code" and
 * gives an empty payload. Throws RangeError for a code that may not be sent
 * or a reason over 123 bytes.
 */
export function encodeClosePayload(code: number, reason = ''): Buffer {
  if (code === CloseCode.NoStatusReceived) return Buffer.alloc(0);
  if (!isValidCloseCode(code)) throw new RangeError(`Close code ${code} may not be sent (RFC 6455 §7.4)`);
  const reasonLength = Buffer.byteLength(reason);
  if (reasonLength > MAX_CLOSE_REASON) {
    throw new RangeError(`Close reason is ${reasonLength} bytes, over the limit of ${MAX_CLOSE_REASON}`);
  }
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** truncateReason shortens a reason to fit a close frame, on a character boundary. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > MAX_CLOSE_REASON - 3) break;
    out += ch;
    bytes += size;
  }
  return `${out}...`;
}
