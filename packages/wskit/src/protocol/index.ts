/**
 * wskit/protocol: the sans-I/O WebSocket core that `Conn`, `Upgrader` and
 * `dial` are built on, for programs that bring their own transport or need to
 * read and write frames byte by byte (proxies, test tools, fuzzers). The
 * opening handshake is here for HTTP/1.1 (RFC 6455 §4) and for an HTTP/2
 * stream (RFC 8441: `checkConnectRequest`, `buildConnectRequest`, ...).
 *
 * Everything here is pure and synchronous: no sockets, timers, promises or
 * zlib. Feed a {@link Connection} the bytes you receive and act on the events
 * it returns; encode outgoing frames with {@link encodeFrame}. Compressed
 * frames arrive as `compressed` events, to inflate as you see fit (the
 * library's `Conn` uses node:zlib for that).
 *
 * @module
 */
export { CloseCode, MAX_CONTROL_PAYLOAD, MessageType, Opcode, WEBSOCKET_GUID } from '../constants.js';
export { encodeClosePayload, isValidCloseCode, MAX_CLOSE_REASON, parseClosePayload, truncateReason, type ClosePayload } from './close.js';
export {
  buildConnectError,
  buildConnectRequest,
  buildConnectResponse,
  checkConnectRequest,
  checkConnectResponse,
  lowerCaseHeaders,
  type ConnectCheck,
  type ConnectTarget,
  type OutgoingHeaderRecord,
} from './connect.js';
export { Connection, deflateBound, type ConnectionEvent, type ConnectionOptions } from './connection.js';
export {
  acceptDeflateAnswer,
  acceptDeflateOffer,
  deflateOfferHeader,
  parseExtensions,
  type DeflateOptions,
  type DeflateParams,
  type ExtensionOffer,
} from './extensions.js';
export { encodeFrame, encodeFrameBuffer, headerLength, writeHeader, type EncodeOptions, type FrameHeader } from './frame.js';
export {
  buildAcceptResponse,
  buildErrorResponse,
  checkAgreement,
  checkRequest,
  checkResponse,
  computeAccept,
  formatHeaders,
  generateKey,
  hasToken,
  headerValue,
  isValidKey,
  negotiate,
  type HeaderRecord,
  type Agreement,
  type Negotiation,
  type Refusal,
  type RequestCheck,
  type RequestPolicy,
  type ResponseCheck,
  type UpgradeAgreement,
} from './handshake.js';
export { applyMask, applyMaskWords, maskInto } from './mask.js';
export { FrameParser, type FrameHandler } from './parser.js';
export { isValidUtf8, Utf8Validator } from './utf8.js';
