/**
 * The ws side of the fan-out row: a broadcast server written on `ws` the
 * usual way, speaking wskit chat's JSON envelope. Clients join a room with
 * `/ws?room=R&name=N`; each `{"type":"message","text"}` they send is
 * stringified once as `{"type":"message","id","room","from","text","ts"}`
 * and sent with `client.send` to every member of the room.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { startHarness, type Counter } from './harness.js';

const MAX_PAYLOAD = 64 * 1024;
const counter: Counter = { open: 0 };
const rooms = new Map<string, Set<WebSocket>>();
let nextId = 1;

const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, path: '/ws', maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const query = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
  const room = query.get('room') ?? 'lobby';
  const name = query.get('name') ?? `anon${nextId}`;
  let members = rooms.get(room);
  if (!members) rooms.set(room, (members = new Set()));
  members.add(ws);
  counter.open++;
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let msg: { type?: unknown; text?: unknown };
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (msg.type !== 'message' || typeof msg.text !== 'string') return;
    const frame = JSON.stringify({ type: 'message', id: String(nextId++), room, from: name, text: msg.text, ts: Date.now() });
    for (const client of members!) client.send(frame);
  });
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    counter.open--;
    members!.delete(ws);
    if (members!.size === 0) rooms.delete(room);
  });
});
startHarness(server, counter);
