/**
 * The ceiling for the echo rows: a plain `net` server that writes every chunk
 * back as it arrives, with no WebSocket framing, masking or validation. It
 * does not pause reading while writes are queued (`socket.pipe` would, at 16
 * KiB, once per 64 KiB read): the load generator bounds what is in flight, so
 * nothing here slows the ceiling down that a WebSocket server does not also do.
 */
import { createServer, type Socket } from 'node:net';
import { startHarness, type Counter } from './harness.js';

const counter: Counter = { open: 0 };
function echo(this: Socket, chunk: Buffer): void {
  this.write(chunk);
}
const server = createServer((socket) => {
  counter.open++;
  socket.setNoDelay(true);
  socket.on('data', echo);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => counter.open--);
});
startHarness(server, counter);
