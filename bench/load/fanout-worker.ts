/**
 * A subscriber process for the fan-out row: it holds its share of the room's
 * clients, finds the bench messages among the frames they receive (chat
 * history and presence frames are ignored), and records how many arrived per
 * trial and how long each took from the publisher's send. Send times are
 * process.hrtime, which reads the machine-wide monotonic clock, so they
 * compare across processes. Each client also checks that the bench messages
 * of a trial reach it in sequence: a message seen twice or out of order is
 * counted in `repeats`, so a trial can demand exactly-once delivery.
 */
import WebSocket from 'ws';
import { serveRequests, type Reply, type Request } from '../ipc.js';
import { Histogram } from '../stats.js';
import { rawConnect, readInt } from './raw-client.js';

/** TEXT_MARK precedes the bench fields in a delivered envelope: `"text":"bench <trial> <seq> <sentNs>`. */
const TEXT_MARK = Buffer.from('"text":"bench ');
const OPEN_BATCH = 100;

let closers: Array<() => void> = [];
let trial = -1;
let delivered = 0;
let stray = 0;
let repeats = 0;
let histogram = new Histogram();
let markCpu = process.cpuUsage();

/** Seen is one client's progress through the current trial: the last sequence number it got. */
interface Seen {
  trial: number;
  last: number;
}

function onFrame(payload: Buffer, seen: Seen): void {
  const at = payload.indexOf(TEXT_MARK);
  if (at < 0) return;
  const [t, next] = readInt(payload, at + TEXT_MARK.length);
  if (t !== trial) {
    stray++;
    return;
  }
  const [seq, next2] = readInt(payload, next);
  // The publisher numbers each trial's messages 0, 1, 2, … and a room keeps one order, so anything not above the last is a repeat.
  if (seen.trial !== trial) {
    seen.trial = trial;
    seen.last = -1;
  }
  if (seq <= seen.last) repeats++;
  else seen.last = seq;
  // Nanosecond times exceed 2^53 only after 104 days of uptime; Number keeps µs precision until then.
  const [sentNs] = readInt(payload, next2);
  delivered++;
  histogram.record((Number(process.hrtime.bigint()) - sentNs) / 1000);
}

function openWs(url: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
    const seen: Seen = { trial: -1, last: -1 };
    ws.on('open', () => resolve(() => ws.terminate()));
    ws.on('message', (data) => onFrame(data as Buffer, seen));
    ws.on('error', reject);
  });
}

async function openRaw(port: number, path: string): Promise<() => void> {
  const seen: Seen = { trial: -1, last: -1 };
  const conn = await rawConnect(port, path, '', true, (_fin, _opcode, payload) => onFrame(payload!, seen));
  conn.socket.on('error', () => conn.socket.destroy());
  return () => conn.socket.destroy();
}

async function handle(req: Request): Promise<Reply> {
  switch (req.cmd) {
    case 'open': {
      const { port, from, count, transport, room } = req as unknown as { port: number; from: number; count: number; transport: 'ws' | 'raw'; room: string };
      for (let done = 0; done < count; done += OPEN_BATCH) {
        const batch = Array.from({ length: Math.min(OPEN_BATCH, count - done) }, (_, k) => {
          const path = `/ws?room=${room}&name=c${from + done + k}`;
          return transport === 'raw' ? openRaw(port, path) : openWs(`ws://127.0.0.1:${port}${path}`);
        });
        closers.push(...(await Promise.all(batch)));
      }
      return { ok: true };
    }
    case 'trial':
      trial = req.trial as number;
      delivered = 0;
      stray = 0;
      repeats = 0;
      histogram = new Histogram();
      markCpu = process.cpuUsage();
      return { ok: true };
    case 'count':
      return { ok: true, delivered };
    case 'report': {
      const cpu = process.cpuUsage(markCpu);
      return { ok: true, delivered, stray, repeats, histogram: histogram.counts, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case 'close':
      for (const close of closers) close();
      closers = [];
      return { ok: true };
    default:
      return { ok: false, error: `unknown command ${req.cmd}` };
  }
}

serveRequests(handle);
