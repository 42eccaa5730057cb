/**
 * The CommonJS entry of wskit/ws: as with ws, `require('wskit/ws')` returns
 * the WebSocket class itself, with `WebSocket.Server`,
 * `WebSocket.WebSocketServer` and `WebSocket.WebSocket` as statics. Built
 * only by the CommonJS build (tsconfig.cjs.json).
 *
 * @module
 */
import api = require('./api.js');
// An import alias keeps both meanings of the name: the class and its instance type.
import WebSocket = api.WebSocket;

export = WebSocket;
