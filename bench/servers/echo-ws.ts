/**
 * The ws side of the echo rows: a `ws` WebSocketServer on /echo that sends
 * each message back as it came, written the way the ws README shows.
 * `--deflate` turns on permessage-deflate with ws's default options.
 * `--wskit-ws` runs the same program on 'wskit/ws' instead of 'ws', as a
 * program moving to wskit's compatibility layer would: only the module differs.
 */
import { createServer } from 'node:http';
import { hasFlag, startHarness, type Counter } from './harness.js';

const { WebSocketServer } = (await import(hasFlag('wskit-ws') ? 'wskit/ws' : 'ws')) as typeof import('ws');
const MAX_PAYLOAD = 16 * 1024 * 1024;
const counter: Counter = { open: 0 };
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, path: '/echo', maxPayload: MAX_PAYLOAD, perMessageDeflate: hasFlag('deflate') });
wss.on('connection', (ws) => {
  counter.open++;
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
  ws.on('close', () => counter.open--);
});
startHarness(server, counter);
