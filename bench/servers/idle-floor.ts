/**
 * The floor for the memory row: a `node:http` server that completes the
 * opening handshake on /echo by hand and then only holds the socket, with no
 * WebSocket state, parser or buffers (it reads and discards, so a close is
 * still seen). Whatever it costs per idle connection, every WebSocket server
 * built on `node:http` and `net.Socket` pays too.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { startHarness, type Counter } from './harness.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const counter: Counter = { open: 0 };
// Listeners shared by every socket, so the floor holds no closure per connection.
/** Bytes after the handshake are read and dropped: reading is how a close is seen. */
function discard(): void {}
function destroySocket(this: Socket): void {
  this.destroy();
}
function countClose(): void {
  counter.open--;
}
const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket) => {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || key === '') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  counter.open++;
  socket.on('error', destroySocket);
  socket.on('data', discard);
  // node:http sockets are half-open capable: the peer's FIN alone closes nothing.
  socket.on('end', destroySocket);
  socket.on('close', countClose);
});
startHarness(server, counter);
