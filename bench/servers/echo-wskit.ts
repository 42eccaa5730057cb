/**
 * The wskit side of the echo rows: an `Upgrader` on /echo that sends each
 * message back with its type, written the way wskit's documentation shows:
 * a `for await` loop per connection, or with `--on-message` one
 * `conn.onMessage` handler for every connection (the echo rows' default,
 * bench/options.ts `--wskit-style`). `--deflate` accepts permessage-deflate
 * with wskit's default settings.
 */
import { createServer } from 'node:http';
import { rejectUpgrade, Upgrader } from 'wskit';
import { hasFlag, startHarness, type Counter } from './harness.js';
import { echoUpgrade } from './wskit-echo.js';

const MAX_PAYLOAD = 16 * 1024 * 1024;
const counter: Counter = { open: 0 };
const [echo, refused] = echoUpgrade(counter);
const upgrader = new Upgrader({ maxMessageSize: MAX_PAYLOAD, compression: hasFlag('deflate') });
const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => {
  if (!req.url?.startsWith('/echo')) {
    rejectUpgrade(socket, 404, `No WebSocket endpoint at ${req.url}`);
    return;
  }
  upgrader.upgrade(req, socket, head).then(echo, refused);
});
startHarness(server, counter);
