/**
 * The HTTP/2 side of the bench's h2 row: the same echo as echo-wskit.ts, but
 * every WebSocket is a stream of an h2c connection (RFC 8441): a node:http2
 * server that allows extended CONNECT hands each stream to `Upgrader` from
 * its `connect` event.
 */
import http2 from 'node:http2';
import { rejectUpgrade, Upgrader } from 'wskit';
import { startHarness, type Counter } from './harness.js';
import { echoUpgrade } from './wskit-echo.js';

const MAX_PAYLOAD = 16 * 1024 * 1024;
const counter: Counter = { open: 0 };
const [echo, refused] = echoUpgrade(counter);
const upgrader = new Upgrader({ maxMessageSize: MAX_PAYLOAD });
const server = http2.createServer({ settings: { enableConnectProtocol: true } }, (_req, res) => res.writeHead(404).end());
server.on('connect', (req) => {
  if (!req.url.startsWith('/echo')) {
    rejectUpgrade(req.stream, 404, `No WebSocket endpoint at ${req.url}`);
    return;
  }
  upgrader.upgrade(req, req.stream).then(echo, refused);
});
startHarness(server, counter);
