/**
 * wskit/ws: the API of the npm `ws` package (version 8) on wskit's core, so
 * a program written for ws switches by changing one import:
 *
 * ```js
 * import WebSocket, { WebSocketServer } from 'wskit/ws';   // ES modules
 * const WebSocket = require('wskit/ws');                    // CommonJS: the class, with .Server etc.
 * ```
 *
 * Messages are parsed, size-limited and decompressed by the same code as
 * every wskit connection. Where wskit is stricter than ws (UTF-8 is always
 * validated, for one), the stricter rule holds.
 *
 * @module
 */
import { WebSocket } from './api.js';

export { createWebSocketStream, WebSocket, WebSocketServer } from './api.js';
export type { StreamableWebSocket } from './stream.js';
export type { BinaryType, Data, RawData, SendCallback, SendOptions } from './websocket.js';
export type { ClientOptions } from './client.js';
export type { ResolvedServerOptions, ServerOptions, VerifyClientCallback, VerifyClientInfo } from './server.js';
export type { PerMessageDeflateOptions } from './deflate-options.js';
export { WsErrorCode } from './errors.js';
export { type EventListenerLike, WsCloseEvent, WsErrorEvent, WsEvent, WsMessageEvent } from './event-target.js';
export default WebSocket;
