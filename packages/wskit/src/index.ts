/**
 * wskit: a strict, fast WebSocket toolkit for Node.js (RFC 6455, RFC 7692).
 *
 * ## Overview
 * A server upgrades HTTP requests with an {@link Upgrader}; a client opens a
 * connection with {@link dial}. Both give a {@link Conn}: read messages with
 * `read()`, `readJSON()` or `for await`, or have each handed to a callback
 * with `onMessage(handler, onEnd)` (the same messages and backpressure, and
 * less memory per idle connection: nothing stays suspended between
 * messages); send with `write()`, `writeJSON()` or `writePrepared()`, close
 * with `close(code, reason)`.
 *
 * ## Data messages
 * A message is `{ type: 'text' | 'binary', data: Buffer }`. Text is checked as
 * UTF-8 as it arrives; a message larger than `maxMessageSize` (default 1 MiB,
 * counted after decompression), or made of more frames than `maxFragments`
 * (default 16,384, empty ones included), closes the connection with 1009.
 *
 * ## Control messages
 * Pings are answered with pongs unless `setPingHandler` replaces that;
 * `setPongHandler` observes pongs (extend a read deadline there for liveness).
 * `close()` runs the closing handshake; reads then reject with a
 * {@link CloseError}. `isUnexpectedCloseError(err, 1000, 1001)` tells a
 * normal goodbye from a failure.
 *
 * ## Concurrency and backpressure
 * Writes may be issued without awaiting and go out in order; awaiting them
 * waits while more than `writeBufferSize` bytes are queued. A connection whose
 * messages are not read pauses its socket, so the sender meets TCP
 * backpressure and memory stays bounded.
 *
 * ## Deadlines
 * `setReadDeadline` and `setWriteDeadline` take a Date or epoch ms; once one
 * passes, the pending call rejects with {@link TimeoutError} and the
 * connection is dropped, as in gorilla/websocket.
 *
 * ## Origin
 * By default the Upgrader refuses (403) a request whose Origin host differs
 * from its Host, which stops cross-site WebSocket hijacking. Pass
 * `checkOrigin` to allow others.
 *
 * ## Compression
 * permessage-deflate is off unless `compression` is set on both ends.
 * Messages under the threshold (1 KiB) are sent uncompressed.
 *
 * ## HTTP/2
 * A WebSocket can also be one stream of an HTTP/2 connection (RFC 8441), as
 * browsers open it when the page's own HTTP/2 connection allows: no TCP or
 * TLS handshake per socket. A server made with `http2.createSecureServer`
 * (or `createServer`) and `settings: { enableConnectProtocol: true }` gets
 * each one as a `'connect'` event, and `upgrader.upgrade(req, req.stream)`
 * turns it into the same {@link Conn}. `dial(url, { http2: true })` opens
 * one; dials to one origin share one session. `conn.httpVersion` tells
 * which kind a connection is.
 *
 * @module
 */
export { CloseCode, Defaults, MessageType, Opcode, WEBSOCKET_GUID } from './constants.js';
export {
  CloseError,
  HandshakeError,
  isCloseError,
  isUnexpectedCloseError,
  ProtocolError,
  TimeoutError,
  WebSocketError,
} from './errors.js';
export { Conn, type ConnOptions, type EndHandler, type Message, type MessageHandler } from './conn.js';
export { PreparedMessage } from './prepared-message.js';
export { rejectUpgrade, sameOrigin, Upgrader, type UpgraderOptions, type UpgradeRequest } from './upgrader.js';
export { dial, type DialOptions, type DialResult, type HandshakeResponse } from './dial.js';
export { parseJSON } from './json.js';
export type { DeflateOptions } from './protocol/extensions.js';
export { CloseEvent, type CloseEventInit, type BinaryType, WebSocket, type WebSocketData, type WebSocketHandler, type WebSocketOptions } from './websocket.js';
