/**
 * A load-generator process for the echo rows. It opens its share of the
 * connections with the npm `ws` client (masked text frames, as a browser
 * sends), with the raw client of raw-client.ts (the same frames, pre-encoded,
 * for a cheaper generator) or with plain `net` sockets for the TCP ceiling, keeps `inflight`
 * messages outstanding per connection, and counts echoes between `mark` and
 * `stop`. It never imports wskit, so both servers face the same client.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { serveRequests, type Reply, type Request } from '../ipc.js';
import type { ClientHttp2Session } from 'node:http2';
import { compressMessage, maskedFrame, rawConnect } from './raw-client.js';
import { openSession, openStream } from './http2-client.js';
import { textPayload } from '../payload.js';
import { NativeLoad } from './native.js';
import { Histogram } from '../stats.js';

interface Load {
  /** Where each connection goes; `{i}` becomes the connection's index in this load (the memory probe names chat users with it). */
  url: string;
  /**
   * ws: the npm ws client; raw: pre-encoded frames over net (bench/load/raw-client.ts);
   * native: the same frames from the C generator of bench/load/native-client.c; tcp and
   * native-tcp: no framing, from Node or from the C generator; h2: the raw client's frames,
   * each connection a stream of one h2c session per worker (RFC 8441, http2-client.ts).
   */
  transport: 'ws' | 'raw' | 'native' | 'tcp' | 'native-tcp' | 'h2';
  conns: number;
  size: number;
  inflight: number;
  deflate: boolean;
}

interface Peer {
  send(): void;
  close(): void;
  sentAt: number;
}

const OPEN_BATCH = 200;
let load: Load | undefined;
let peers: Peer[] = [];
/** The h2c session an `h2` load's streams share. */
let session: ClientHttp2Session | null = null;
/** The native generator holds every connection of a `native` load itself. */
let native: NativeLoad | null = null;
let payload = Buffer.alloc(0);
let sending = false;
let measuring = false;
let echoes = 0;
/** total counts echoes since `go`, measured or not, so the runner can tell when a pipeline has filled. */
let total = 0;
let errors = 0;
let histogram = new Histogram();
let markTime = 0;
let markCpu = process.cpuUsage();
const closedLoop = () => load!.inflight === 1;

function onEcho(peer: Peer): void {
  total++;
  if (measuring) {
    echoes++;
    if (closedLoop()) histogram.record((performance.now() - peer.sentAt) * 1000);
  }
  if (sending) peer.send();
}

function openWs(l: Load): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(l.url, {
      // Clients such as browsers compress every message; the servers keep their own default thresholds.
      perMessageDeflate: l.deflate ? { threshold: 0 } : false,
      maxPayload: 64 * 1024 * 1024,
      handshakeTimeout: 10_000,
    });
    const peer: Peer = {
      sentAt: 0,
      send() {
        peer.sentAt = performance.now();
        ws.send(payload, { binary: false });
      },
      close: () => ws.terminate(),
    };
    ws.on('open', () => resolve(peer));
    ws.on('message', () => onEcho(peer));
    ws.on('error', (err) => {
      errors++;
      reject(err);
    });
  });
}

// A few masks in rotation: the server sees varying keys, the generator encodes nothing per message.
const MASKED_VARIANTS = 4;

async function openRaw(l: Load): Promise<Peer> {
  const url = new URL(l.url);
  let frames: Buffer[] = [];
  let next = 0;
  const peer: Peer = {
    sentAt: 0,
    send() {
      peer.sentAt = performance.now();
      conn.socket.write(frames[next++ % frames.length]!);
    },
    close: () => conn.socket.destroy(),
  };
  const offer = l.deflate ? 'permessage-deflate; client_no_context_takeover' : '';
  // An echo is a whole text message; uncompressed, it must be as long as what was sent.
  let messageLength = 0;
  let compressedEcho = false;
  const conn = await rawConnect(Number(url.port), url.pathname, offer, false, (fin, opcode, _payload, length, rsv1) => {
    if (opcode >= 8) return;
    if (opcode === 0x1) {
      messageLength = 0;
      compressedEcho = rsv1;
    }
    messageLength += length;
    if (!fin) return;
    if (opcode > 0x1 || (!compressedEcho && messageLength !== l.size)) errors++;
    onEcho(peer);
  });
  conn.socket.on('error', () => errors++);
  const compressed = l.deflate && conn.extensions.includes('permessage-deflate');
  const body = compressed ? compressMessage(payload) : payload;
  frames = Array.from({ length: MASKED_VARIANTS }, () => maskedFrame(0x1, body, compressed));
  return peer;
}

async function openH2(l: Load): Promise<Peer> {
  const url = new URL(l.url);
  session ??= await openSession(Number(url.port));
  const frames = Array.from({ length: MASKED_VARIANTS }, () => maskedFrame(0x1, payload));
  let next = 0;
  let messageLength = 0;
  const peer: Peer = {
    sentAt: 0,
    send() {
      peer.sentAt = performance.now();
      stream.write(frames[next++ % frames.length]!);
    },
    close: () => stream.destroy(),
  };
  const stream = await openStream(session, url.pathname, (fin, opcode, _payload, length) => {
    if (opcode === 0x1) messageLength = 0;
    messageLength += length;
    if (!fin) return;
    if (opcode > 0x1 || messageLength !== l.size) errors++;
    onEcho(peer);
  });
  stream.on('error', () => errors++);
  return peer;
}

function openTcp(l: Load): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: Number(new URL(l.url).port), noDelay: true });
    let received = 0;
    const peer: Peer = {
      sentAt: 0,
      send() {
        peer.sentAt = performance.now();
        socket.write(payload);
      },
      close: () => socket.destroy(),
    };
    socket.on('connect', () => resolve(peer));
    socket.on('data', (chunk) => {
      // Without framing an echo is complete when a message's worth of bytes has come back.
      received += chunk.length;
      while (received >= l.size) {
        received -= l.size;
        onEcho(peer);
      }
    });
    socket.on('error', (err) => {
      errors++;
      reject(err);
    });
  });
}

async function handle(req: Request): Promise<Reply> {
  switch (req.cmd) {
    case 'open': {
      load = req.load as Load;
      payload = Buffer.from(textPayload(load.size));
      errors = 0;
      if (load.transport === 'native' || load.transport === 'native-tcp') {
        const url = new URL(load.url);
        const path = load.transport === 'native' ? url.pathname : null;
        native = await NativeLoad.open(Number(url.port), path, load.conns, load.size, load.inflight, payload, load.deflate ? compressMessage(payload) : null);
        return { ok: true };
      }
      const open = load.transport === 'tcp' ? openTcp : load.transport === 'raw' ? openRaw : load.transport === 'h2' ? openH2 : openWs;
      peers = [];
      // Connect in batches so thousands of SYNs do not overflow the server's accept backlog.
      for (let done = 0; done < load.conns; done += OPEN_BATCH) {
        const batch = Math.min(OPEN_BATCH, load.conns - done);
        const at = done;
        peers.push(...(await Promise.all(Array.from({ length: batch }, (_, j) => open({ ...load!, url: load!.url.replaceAll('{i}', String(at + j)) })))));
      }
      return { ok: true };
    }
    case 'go':
      if (native) {
        await native.command('go');
        return { ok: true };
      }
      total = 0;
      sending = true;
      for (const peer of peers) for (let i = 0; i < load!.inflight; i++) peer.send();
      return { ok: true };
    case 'once': {
      // Every connection sends one message and waits for its echo: the memory row's "after traffic" reading.
      total = 0;
      sending = false;
      for (const peer of peers) peer.send();
      const deadline = performance.now() + 30_000;
      while (total < peers.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return { ok: total >= peers.length, echoed: total, error: total >= peers.length ? undefined : `${total} of ${peers.length} echoes within 30 s` };
    }
    case 'count':
      return native ? { ok: true, ...(await native.count()) } : { ok: true, total, echoes };
    case 'mark':
      if (native) {
        await native.command('mark');
        return { ok: true };
      }
      echoes = 0;
      histogram = new Histogram();
      measuring = true;
      markTime = performance.now();
      markCpu = process.cpuUsage();
      return { ok: true };
    case 'stop': {
      if (native) {
        const r = await native.stop();
        const counts = new Histogram().counts;
        for (const [i, n] of r.buckets) counts[i] = n;
        return { ok: true, echoes: r.echoes, elapsedMs: r.elapsedMs, cpuMs: r.cpuMs, errors: r.errors, histogram: counts };
      }
      measuring = false;
      sending = false;
      const elapsedMs = performance.now() - markTime;
      const cpu = process.cpuUsage(markCpu);
      return { ok: true, echoes, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000, errors, histogram: histogram.counts };
    }
    case 'close':
      if (native) {
        await native.close();
        native = null;
      }
      for (const peer of peers) peer.close();
      peers = [];
      session?.destroy();
      session = null;
      return { ok: true };
    default:
      return { ok: false, error: `unknown command ${req.cmd}` };
  }
}

serveRequests(handle);
