/**
 * The writing side of a {@link Conn}: messages become frames (compressed
 * when permessage-deflate was agreed) written in call order. The frames of
 * one tick leave in at most two writes (the first at once, the rest
 * together), and the answers to the messages of one read in one. A write's
 * promise waits while more than the write buffer size is queued, which is
 * how a writer slows down for a slow peer.
 */
import { CloseCode, MAX_CONTROL_PAYLOAD, MessageType, Opcode } from './constants.js';
import type { ConnState } from './conn-state.js';
import { abort } from './conn-teardown.js';
import { MIN_RAW_WINDOW_BITS, MessageDeflater } from './deflate.js';
import { CloseError, TimeoutError } from './errors.js';
import type { PreparedMessage } from './prepared-message.js';
import { COPY_PAYLOAD_MAX, encodeFrame, encodeWhole } from './protocol/frame.js';
import type { WriteCallback } from './conn-push.js';

/** What a write taken at once returns: one shared promise, so `Conn.onMessage` can tell it needs no wait. */
export const RESOLVED: Promise<void> = Promise.resolve();

/** writeMessage is `Conn.write`: checks, then compresses or writes now, or queues behind earlier sends. */
export function writeMessage(c: ConnState, type: MessageType, data: string | Uint8Array): Promise<void> {
  const opcode = type === MessageType.Text ? Opcode.Text : type === MessageType.Binary ? Opcode.Binary : -1;
  if (opcode < 0) return Promise.reject(new TypeError(`Message type must be 'text' or 'binary', not ${String(type)}`));
  const blocked = writeBlocked(c);
  if (blocked) return Promise.reject(blocked);
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const size = payload.length;
  if (c.unsent !== null) c.unsent.bytes += size;
  // An agreed 8-bit window is honoured by not compressing: zlib's smallest is 9 (RFC 7692 lets each message choose).
  if (c.deflate !== null && c.deflate.windowBits >= MIN_RAW_WINDOW_BITS && size >= c.settings.threshold) {
    c.deflater ??= new MessageDeflater(c.deflate.windowBits, c.deflate.noContextTakeover, c.settings.level);
    const deflater = c.deflater;
    const input = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    // A small message that stands alone is compressed here and now, unless earlier sends are still queued.
    const now = c.sendChain === null ? deflater.compressNow(input) : null;
    if (now !== null) {
      writeFrame(c, opcode, now, true, size);
      return flushed(c);
    }
    return enqueue(c, () =>
      deflater.compress(input).then((compressed) => {
        writeFrame(c, opcode, compressed, true, size);
      }),
    );
  }
  if (c.sendChain !== null) return enqueue(c, () => writeFrame(c, opcode, payload, false, size));
  writeFrame(c, opcode, payload, false, size);
  return flushed(c);
}

/** writePrepared is `Conn.writePrepared`: a server writes the cached frame; a client masks a fresh one. */
export function writePrepared(c: ConnState, prepared: PreparedMessage): Promise<void> {
  if (c.settings.role === 'client') return writeMessage(c, prepared.type, prepared.data);
  const blocked = writeBlocked(c);
  if (blocked) return Promise.reject(blocked);
  if (c.sendChain !== null) return enqueue(c, () => writeRaw(c, prepared.frame));
  writeRaw(c, prepared.frame);
  return flushed(c);
}

/** sendControl is `Conn.ping` and `Conn.pong`: at most 125 bytes (RFC 6455 §5.5), written at once. */
export function sendControl(c: ConnState, opcode: number, name: string, data: string | Uint8Array): Promise<void> {
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    return Promise.reject(new RangeError(`${name} data is ${payload.length} bytes, over the limit of ${MAX_CONTROL_PAYLOAD}`));
  }
  const blocked = writeBlocked(c);
  if (blocked) return Promise.reject(blocked);
  writeControl(c, opcode, payload);
  return flushed(c);
}

/** isWritable is `Conn.writable`: open, no close frame sent, write deadline not passed. */
export function isWritable(c: ConnState): boolean {
  return c.terminal === null && !c.closeSent && c.socket.writable && !c.writeDeadline?.passed;
}

/** Why a write cannot be taken now, or null when it can. */
function writeBlocked(c: ConnState): Error | null {
  if (c.terminal && !c.closeSent) return c.terminal;
  if (c.closeSent || c.terminal) {
    return new CloseError(c.closeResult?.closeCode ?? CloseCode.AbnormalClosure, c.closeResult?.reason ?? '', 'Cannot write: the connection is closing or closed');
  }
  if (c.writeDeadline?.passed) {
    const err = new TimeoutError('Cannot write: the write deadline has passed');
    abort(c, err);
    return err;
  }
  return null;
}

/**
 * Write one frame. `size` is the message's payload before compression, for
 * the unsent-payload count; 0 for control frames. Both write paths skip a socket
 * already ended or dropped (its 'close' still to come): Node would only make
 * an error of the write.
 */
function writeFrame(c: ConnState, opcode: number, payload: Uint8Array, compressed: boolean, size: number): void {
  if (!c.socket.writable) return;
  // ws writes a lone control frame at once, so its bufferedAmount is 0 right after close(); a batch already open takes it along.
  if (opcode < Opcode.Close || c.sink === null) batch(c);
  const unsent = c.unsent;
  if (payload.length <= COPY_PAYLOAD_MAX && c.settings.role === 'server') {
    // A server's usual frame: one buffer, header and payload.
    const frame = encodeWhole(opcode, payload, true, compressed, null);
    if (unsent === null || size === 0) c.socket.write(frame);
    else c.socket.write(frame, unsent.track(size));
    return;
  }
  const parts = encodeFrame(opcode, payload, { rsv1: compressed, mask: c.settings.role === 'client' });
  if (unsent === null || size === 0) {
    for (const part of parts) c.socket.write(part);
    return;
  }
  // The last part's callback runs once the whole frame has reached the kernel.
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) c.socket.write(parts[i]!);
  c.socket.write(parts[last]!, unsent.track(size));
}

/**
 * sendFrame is wskit/ws's send: one frame with ws's options, and `cb` called
 * once it is written (or with the error that stopped it) instead of a
 * promise. `compress` asks for permessage-deflate: honoured for a whole
 * message over the threshold when it was agreed. `mask` is true (a random
 * key), false, or the key itself (ws's `generateMask`). Frames keep call
 * order behind messages still compressing.
 */
export function sendFrame(c: ConnState, opcode: number, payload: Uint8Array, fin: boolean, compress: boolean, mask: boolean | Uint8Array, cb?: WriteCallback): void {
  const blocked = writeBlocked(c);
  if (blocked) {
    if (cb) process.nextTick(cb, blocked);
    return;
  }
  const size = payload.length;
  if (compress && fin && opcode !== Opcode.Continuation && c.deflate !== null && c.deflate.windowBits >= MIN_RAW_WINDOW_BITS && size >= c.settings.threshold) {
    c.deflater ??= new MessageDeflater(c.deflate.windowBits, c.deflate.noContextTakeover, c.settings.level);
    const deflater = c.deflater;
    const input = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const now = c.sendChain === null ? deflater.compressNow(input) : null;
    if (now !== null) return writeSent(c, opcode, now, true, true, mask, cb);
    return queueSend(c, size, () => deflater.compress(input).then((compressed) => writeSent(c, opcode, compressed, true, true, mask, cb)), cb);
  }
  if (c.sendChain !== null) return queueSend(c, size, () => writeSent(c, opcode, payload, fin, false, mask, cb), cb);
  writeSent(c, opcode, payload, fin, false, mask, cb);
}

/** Queue a sendFrame behind earlier sends, counting its payload in `c.queued` until it is written. */
function queueSend(c: ConnState, size: number, task: () => void | Promise<void>, cb: WriteCallback | undefined): void {
  c.queued += size;
  enqueue(c, () => {
    c.queued -= size;
    return task();
  }).catch((err: Error) => {
    if (c.socket.destroyed) err = new Error('The socket was closed while data was being compressed', { cause: err });
    cb?.(err);
  });
}

/** Write one frame of a sendFrame; a socket already gone gets the callback an error instead. */
function writeSent(c: ConnState, opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean, mask: boolean | Uint8Array, cb: WriteCallback | undefined): void {
  if (!c.socket.writable) {
    if (cb) process.nextTick(cb, new Error('The socket is closed: the frame was not sent'));
    return;
  }
  const parts = encodeFrame(opcode, payload, { fin, rsv1, mask: mask !== false, maskKey: typeof mask === 'object' ? mask : undefined });
  if (opcode < Opcode.Close) batch(c);
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) c.socket.write(parts[i]!);
  c.socket.write(parts[last]!, cb);
}

/** Write an encoded frame (a server's prepared message). */
function writeRaw(c: ConnState, frame: Buffer): void {
  if (!c.socket.writable) return;
  batch(c);
  c.socket.write(frame);
}

/** writeControl writes a control frame (ping, pong, close) at once, ahead of queued sends. */
export function writeControl(c: ConnState, opcode: number, payload: Uint8Array): void {
  writeFrame(c, opcode, payload, false, 0);
}

/**
 * Connections that wrote in this tick: `tickWriters[0 .. tickCount)`. Two
 * arrays are used in turn, so a connection that writes while the list is
 * being worked through lands in the next tick's; neither is ever shrunk, so
 * registering costs no allocation. One `process.nextTick` serves every
 * connection: a broadcast to 1,000 members schedules one, not 1,000.
 */
let tickWriters: (ConnState | null)[] = [];
let spareWriters: (ConnState | null)[] = [];
let tickCount = 0;

/**
 * The first frame a connection writes in a tick goes to the socket at once:
 * most ticks write one frame to a connection (an echo, one broadcast), and
 * corking would only add a buffered entry and an uncork. A second frame in
 * the same tick corks the socket, so it and every later frame of the tick
 * leave in one write when the tick ends.
 */
function batch(c: ConnState): void {
  if (c.corked) return;
  if (c.wrote) {
    c.corked = true;
    c.socket.cork();
    return;
  }
  c.wrote = true;
  endTickFor(c);
}

/**
 * corkForBurst is for a read that brought more than one message: the answers
 * its readers write (at once, or from `for await` bodies in the microtasks
 * that follow) leave in one write, after the microtasks are done.
 */
export function corkForBurst(c: ConnState): void {
  if (c.corked) return;
  c.corked = true;
  c.wrote = true;
  c.socket.cork();
  // Ticks run before microtasks: registered from a microtask, the uncork waits for the readers.
  queueMicrotask(() => endTickFor(c));
}

function endTickFor(c: ConnState): void {
  if (tickCount === 0) process.nextTick(endTick);
  tickWriters[tickCount++] = c;
}

function endTick(): void {
  const writers = tickWriters;
  const count = tickCount;
  tickWriters = spareWriters;
  spareWriters = writers;
  tickCount = 0;
  for (let i = 0; i < count; i++) {
    const c = writers[i]!;
    writers[i] = null;
    c.wrote = false;
    if (c.corked) {
      c.corked = false;
      try {
        c.socket.uncork();
      } catch (err) {
        // Never expected (write errors reach the stream's callbacks), but the rest of the list must still be uncorked.
        c.socket.destroy(err as Error);
      }
    }
  }
}

/** enqueue runs `task` after every earlier queued send; keeps frames in call order while compressing. */
export function enqueue(c: ConnState, task: () => void | Promise<void>): Promise<void> {
  c.sendQueued++;
  const chain = (c.sendChain ?? RESOLVED).then(task).finally(() => {
    if (--c.sendQueued === 0 && c.sendChain === chain) c.sendChain = null;
  });
  c.sendChain = chain;
  return chain.then(() => flushed(c));
}

/**
 * flushed resolves at once below the write buffer size, else once the socket
 * drains. A socket below its own high-water mark never emits 'drain', so it
 * counts as flushed too: waiting there would hang for good.
 */
function flushed(c: ConnState): Promise<void> {
  if (c.socket.writableLength <= c.settings.writeBufferSize || !c.socket.writableNeedDrain) return RESOLVED;
  if (c.drain === null) {
    c.drain = new Promise((resolve, reject) => {
      c.resolveDrain = resolve;
      c.rejectDrain = reject;
    });
    // Callers that do not await a write must not turn a dropped connection into a crash.
    c.drain.catch(() => {});
    c.socket.once('drain', () => {
      c.drain = null;
      c.resolveDrain?.();
    });
  }
  return c.drain;
}
