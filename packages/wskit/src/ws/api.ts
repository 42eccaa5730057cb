/**
 * The pieces of wskit/ws joined as ws joins them: the WebSocket class carries
 * the server and the stream helper as statics, so `require('wskit/ws')`
 * alone gives the whole API. Both entries (index.ts for ES modules,
 * index.cts for CommonJS) load this module.
 */
import { WebSocketServer } from './server.js';
import { createWebSocketStream } from './stream.js';
import { WebSocket } from './websocket.js';

Object.defineProperties(WebSocket, {
  WebSocket: { value: WebSocket, enumerable: true, configurable: true, writable: true },
  WebSocketServer: { value: WebSocketServer, enumerable: true, configurable: true, writable: true },
  Server: { value: WebSocketServer, enumerable: true, configurable: true, writable: true },
  createWebSocketStream: { value: createWebSocketStream, enumerable: true, configurable: true, writable: true },
});

export { createWebSocketStream, WebSocket, WebSocketServer };
