/**
 * The ceiling for the echo rows: a plain `net` server that writes every byte
 * back, with no WebSocket framing, masking or validation.
 */
import { createServer } from 'node:net';
import { startHarness, type Counter } from './harness.js';

const counter: Counter = { open: 0 };
const server = createServer((socket) => {
  counter.open++;
  socket.setNoDelay(true);
  socket.pipe(socket);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => counter.open--);
});
startHarness(server, counter);
