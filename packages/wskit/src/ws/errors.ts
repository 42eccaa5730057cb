/**
 * ws's error codes: the `WS_ERR_*` strings ws documents on the errors its
 * receiver emits, mapped from the codes of wskit's {@link ProtocolError}, so
 * code that checks `err.code` keeps working. The close code sent to the
 * peer stays the one the core chose, but for too many fragments: ws's 1008.
 */
import { CloseCode } from '../constants.js';
import { ProtocolError } from '../errors.js';

/** The `WS_ERR_*` codes ws documents. */
export const WsErrorCode = {
  /** A control frame without FIN (fragmented). */
  ExpectedFin: 'WS_ERR_EXPECTED_FIN',
  /** An unmasked frame reached a server. */
  ExpectedMask: 'WS_ERR_EXPECTED_MASK',
  /** A close frame carried a code that may not be sent. */
  InvalidCloseCode: 'WS_ERR_INVALID_CLOSE_CODE',
  /** A control frame longer than 125 bytes, or a close frame of 1 byte. */
  InvalidControlPayloadLength: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  /** A reserved opcode, or a continuation where none (or a new message where one) was expected. */
  InvalidOpcode: 'WS_ERR_INVALID_OPCODE',
  /** A text message or close reason that is not valid UTF-8. */
  InvalidUtf8: 'WS_ERR_INVALID_UTF8',
  /** A masked frame reached a client. */
  UnexpectedMask: 'WS_ERR_UNEXPECTED_MASK',
  /** RSV1 set without permessage-deflate, or on a control or continuation frame. */
  UnexpectedRsv1: 'WS_ERR_UNEXPECTED_RSV_1',
  /** RSV2 or RSV3 set: no extension defines them. */
  UnexpectedRsv23: 'WS_ERR_UNEXPECTED_RSV_2_3',
  /** A 64-bit length beyond 2^53 − 1. */
  UnsupportedDataPayloadLength: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
  /** A message over `maxPayload`. */
  UnsupportedMessageLength: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  /** A message of more frames than `maxFragments`. */
  TooManyBufferedParts: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
} as const;
/** One of ws's error codes. */
export type WsErrorCode = (typeof WsErrorCode)[keyof typeof WsErrorCode];

/** An error as ws's receiver emits it: a RangeError (Error for UTF-8) with `code` and the close code sent. */
export type WsError = (RangeError | Error) & { code: string; closeCode: number; cause?: unknown };

function make(kind: 'range' | 'plain', code: string, message: string, closeCode: number, cause: Error): WsError {
  const err = (kind === 'range' ? new RangeError(message, { cause }) : new Error(message, { cause })) as WsError;
  err.code = code;
  err.closeCode = closeCode;
  return err;
}

/** The opcode named in a core message ("unknown opcode 0x5"), as ws reports it: decimal. */
function opcodeOf(message: string): string {
  const match = /opcode 0x([0-9a-f]+)/i.exec(message);
  return match ? String(parseInt(match[1]!, 16)) : '?';
}

/**
 * toWsError turns the core's ProtocolError into the error ws would emit for
 * the same frame; other errors pass through unchanged.
 */
export function toWsError(err: Error): Error {
  if (!(err instanceof ProtocolError)) return err;
  const frame = (text: string) => `Invalid WebSocket frame: ${text}`;
  switch (err.code) {
    case 'ERR_RSV':
      // The core uses one code for the RSV bits; its message names which (RSV1, or RSV2 and RSV3).
      return /RSV1/.test(err.message)
        ? make('range', WsErrorCode.UnexpectedRsv1, frame('RSV1 must be clear'), err.closeCode, err)
        : make('range', WsErrorCode.UnexpectedRsv23, frame('RSV2 and RSV3 must be clear'), err.closeCode, err);
    case 'ERR_UNMASKED':
      return make('range', WsErrorCode.ExpectedMask, frame('MASK must be set'), err.closeCode, err);
    case 'ERR_MASKED':
      return make('range', WsErrorCode.UnexpectedMask, frame('MASK must be clear'), err.closeCode, err);
    case 'ERR_INVALID_OPCODE':
      return make('range', WsErrorCode.InvalidOpcode, frame(`invalid opcode ${opcodeOf(err.message)}`), err.closeCode, err);
    case 'ERR_UNEXPECTED_CONTINUATION':
      return make('range', WsErrorCode.InvalidOpcode, frame('invalid opcode 0'), err.closeCode, err);
    case 'ERR_EXPECTED_CONTINUATION':
      return make('range', WsErrorCode.InvalidOpcode, frame('invalid opcode (a new message began before the previous one finished)'), err.closeCode, err);
    case 'ERR_FRAGMENTED_CONTROL':
      return make('range', WsErrorCode.ExpectedFin, frame('FIN must be set'), err.closeCode, err);
    case 'ERR_CONTROL_TOO_LONG': {
      const length = /(\d+) bytes/.exec(err.message)?.[1] ?? '?';
      return make('range', WsErrorCode.InvalidControlPayloadLength, frame(`invalid payload length ${length}`), err.closeCode, err);
    }
    case 'ERR_INVALID_CLOSE':
      return make('range', WsErrorCode.InvalidControlPayloadLength, frame('invalid payload length 1'), err.closeCode, err);
    case 'ERR_INVALID_CLOSE_CODE': {
      const code = /status code (\d+)/.exec(err.message)?.[1] ?? '?';
      return make('range', WsErrorCode.InvalidCloseCode, frame(`invalid status code ${code}`), err.closeCode, err);
    }
    case 'ERR_INVALID_UTF8':
      return make('plain', WsErrorCode.InvalidUtf8, frame('invalid UTF-8 sequence'), err.closeCode, err);
    case 'ERR_INVALID_LENGTH':
      return make('range', WsErrorCode.UnsupportedDataPayloadLength, 'Unsupported WebSocket frame: payload length > 2^53 - 1', err.closeCode, err);
    case 'ERR_MESSAGE_TOO_BIG':
      // The parser also uses this code for a 64-bit length beyond 2^53 - 1.
      return /beyond any supported size/.test(err.message)
        ? make('range', WsErrorCode.UnsupportedDataPayloadLength, 'Unsupported WebSocket frame: payload length > 2^53 - 1', err.closeCode, err)
        : make('range', WsErrorCode.UnsupportedMessageLength, 'Max payload size exceeded', err.closeCode, err);
    case 'ERR_TOO_MANY_FRAGMENTS':
      // ws closes with 1008 here where wskit's core says 1009; the compatibility layer follows ws.
      return make('range', WsErrorCode.TooManyBufferedParts, 'Too many message fragments', CloseCode.PolicyViolation, err);
    case 'ERR_INFLATE': {
      // ws emits zlib's own error (code Z_DATA_ERROR and the like); the core keeps it as the cause.
      const zlib = err.cause as (Error & { code?: string; errno?: number }) | undefined;
      if (!(zlib instanceof Error) || zlib.code === undefined) return err;
      const out = make('plain', zlib.code, zlib.message, err.closeCode, err) as WsError & { errno?: number };
      out.errno = zlib.errno;
      return out;
    }
    default:
      return err;
  }
}
