/**
 * A joining process for the join-storm rows: it opens its share of the
 * room's users in waves, follows each one's presence as a client must (a
 * snapshot, then changes applied to it, or a count), counts the bytes of
 * every presence frame, and checks the publisher's messages: each client
 * must see every message after its history exactly once and in order, and
 * deliveries of messages sent during the storm feed a latency histogram.
 * Send times are process.hrtime (the machine-wide monotonic clock), so they
 * compare across processes.
 */
import { serveRequests, type Reply, type Request } from '../ipc.js';
import { Histogram } from '../stats.js';
import { rawConnect, readInt } from './raw-client.js';

/** Precedes the publisher's fields in a message: `"text":"storm <seq> <sentNs>`. */
const TEXT_MARK = Buffer.from('"text":"storm ');
const TYPE_AT = '{"type":"'.length;
const JOIN_TIMEOUT_MS = 60_000;

interface Client {
  name: string;
  close: () => void;
  joined: boolean;
  /** Names listed, or undefined while the view is a count (or before the snapshot). */
  names: Set<string> | undefined;
  count: number;
  /** Last publisher sequence number seen (history included); -1 before any. */
  lastSeq: number;
  onJoined: (() => void) | undefined;
}

let clients: Client[] = [];
let presenceBytes = 0;
let presenceFrames = 0;
/** Frames that no correct presence stream sends (a change to an unknown name, a change without a list). */
let viewErrors = 0;
let lost = 0;
let doubled = 0;
/** Clients whose connection the server closed (evicted for reading too slowly, say) before the end. */
let dropped = 0;
/** Connection attempts that failed (a handshake over 10 s, say) and were made again, as a client would. */
let retries = 0;
let closing = false;
const ATTEMPTS = 3;
let histogram = new Histogram();
/** Time from starting a connection to its presence snapshot, per user. */
let joinLatency = new Histogram();
let stormStartNs = Number.POSITIVE_INFINITY;
let stormEndNs = Number.POSITIVE_INFINITY;
let markCpu = process.cpuUsage();

function isType(payload: Buffer, type: string): boolean {
  return payload.length > TYPE_AT + type.length && payload.toString('latin1', TYPE_AT, TYPE_AT + type.length + 1) === `${type}"`;
}

function onPresence(client: Client, payload: Buffer): void {
  presenceBytes += payload.length;
  presenceFrames++;
  const frame = JSON.parse(payload.toString('utf8')) as { users?: string[]; count?: number; joined?: string[]; left?: string[] };
  if (frame.users) {
    client.names = new Set(frame.users);
  } else if (frame.count !== undefined) {
    client.names = undefined;
    client.count = frame.count;
  } else if (!client.names) {
    viewErrors++;
  } else {
    for (const name of frame.joined ?? []) {
      if (client.names.has(name)) viewErrors++;
      client.names.add(name);
    }
    for (const name of frame.left ?? []) if (!client.names.delete(name)) viewErrors++;
  }
  if (client.names) client.count = client.names.size;
  if (!client.joined) {
    client.joined = true;
    client.onJoined?.();
  }
}

function onMessage(client: Client, payload: Buffer, now: number): void {
  const at = payload.indexOf(TEXT_MARK);
  if (at < 0) return;
  const [seq, next] = readInt(payload, at + TEXT_MARK.length);
  const [sentNs] = readInt(payload, next);
  if (seq <= client.lastSeq) doubled++;
  else {
    if (client.lastSeq >= 0 && seq !== client.lastSeq + 1) lost += seq - client.lastSeq - 1;
    client.lastSeq = seq;
  }
  // Nanosecond times exceed 2^53 only after 104 days of uptime.
  if (sentNs >= stormStartNs && sentNs <= stormEndNs) histogram.record((now - sentNs) / 1000);
}

function onHistory(client: Client, payload: Buffer): void {
  // The room holds only the publisher's messages: the last one in history is where live ones continue.
  for (let at = payload.indexOf(TEXT_MARK); at >= 0; at = payload.indexOf(TEXT_MARK, at + 1)) {
    client.lastSeq = readInt(payload, at + TEXT_MARK.length)[0];
  }
}

/** Opens one user, trying again (up to ATTEMPTS in all) when the handshake fails. */
async function openWithRetry(port: number, room: string, name: string): Promise<Client> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open(port, room, name);
    } catch (err) {
      if (attempt >= ATTEMPTS) throw err;
      retries++;
    }
  }
}

async function open(port: number, room: string, name: string): Promise<Client> {
  const started = process.hrtime.bigint();
  const client: Client = { name, close: () => {}, joined: false, names: undefined, count: 0, lastSeq: -1, onJoined: undefined };
  const joined = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} got no presence snapshot within ${JOIN_TIMEOUT_MS} ms`)), JOIN_TIMEOUT_MS);
    client.onJoined = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  const conn = await rawConnect(port, `/ws?room=${room}&name=${encodeURIComponent(name)}`, '', true, (_fin, _opcode, payload) => {
    if (!payload) return;
    if (isType(payload, 'message')) onMessage(client, payload, Number(process.hrtime.bigint()));
    else if (isType(payload, 'presence')) onPresence(client, payload);
    else if (isType(payload, 'history')) onHistory(client, payload);
  });
  conn.socket.on('error', () => conn.socket.destroy());
  conn.socket.on('close', () => {
    if (!closing) dropped++;
  });
  client.close = () => conn.socket.destroy();
  await joined;
  joinLatency.record(Number(process.hrtime.bigint() - started) / 1000);
  return client;
}

/** What a client's view must end as: every name, or their number above the threshold. */
interface Expected {
  names?: string[];
  count: number;
}

function exact(client: Client, expected: Expected, names: Set<string> | undefined): boolean {
  if (!names) return client.names === undefined && client.count === expected.count;
  if (!client.names || client.names.size !== names.size) return false;
  for (const name of names) if (!client.names.has(name)) return false;
  return true;
}

async function handle(req: Request): Promise<Reply> {
  switch (req.cmd) {
    case 'start':
      stormStartNs = req.startNs as number;
      stormEndNs = Number.POSITIVE_INFINITY;
      markCpu = process.cpuUsage();
      return { ok: true };
    case 'open': {
      const { port, room, names, wave } = req as unknown as { port: number; room: string; names: string[]; wave: number };
      for (let done = 0; done < names.length; done += wave) {
        clients.push(...(await Promise.all(names.slice(done, done + wave).map((name) => openWithRetry(port, room, name)))));
      }
      return { ok: true, doneNs: Number(process.hrtime.bigint()) };
    }
    case 'end':
      stormEndNs = req.endNs as number;
      return { ok: true };
    case 'check': {
      const expected = req.expected as Expected;
      const names = expected.names ? new Set(expected.names) : undefined;
      const wrong = clients.filter((c) => !exact(c, expected, names));
      return { ok: true, exact: clients.length - wrong.length, example: wrong[0] ? `${wrong[0].name} sees ${wrong[0].names ? `${wrong[0].names.size} names` : `count ${wrong[0].count}`}` : '' };
    }
    case 'caught-up':
      return { ok: true, behind: clients.filter((c) => c.lastSeq < (req.lastSeq as number)).length };
    case 'report': {
      const last = req.lastSeq as number;
      // Messages not arrived yet (behind) are late, not lost: a later one would show a gap.
      const late = clients.reduce((n, c) => n + Math.max(0, last - c.lastSeq), 0);
      const cpu = process.cpuUsage(markCpu);
      return { ok: true, clients: clients.length, dropped, retries, presenceBytes, presenceFrames, viewErrors, lost, late, doubled, histogram: histogram.counts, joinLatency: joinLatency.counts, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case 'close':
      closing = true;
      for (const client of clients) client.close();
      closing = false;
      dropped = 0;
      retries = 0;
      clients = [];
      presenceBytes = 0;
      presenceFrames = 0;
      viewErrors = 0;
      lost = 0;
      doubled = 0;
      histogram = new Histogram();
      joinLatency = new Histogram();
      return { ok: true };
    default:
      return { ok: false, error: `unknown command ${req.cmd}` };
  }
}

serveRequests(handle);
