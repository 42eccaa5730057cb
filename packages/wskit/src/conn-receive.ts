/**
 * Receiving for a {@link Conn}: socket bytes go to the protocol core, and
 * the events it produces are acted on in order: messages are inflated when
 * compressed and delivered, pings answered, pongs reported, a close frame
 * handed to the closing handshake. A protocol error fails the connection
 * once the events before it have been handled.
 */
import { isUtf8 } from 'node:buffer';
import { CloseCode, MessageType, Opcode } from './constants.js';
import { fail, onCloseFrame } from './conn-close.js';
import { deliver } from './conn-read.js';
import { type ConnState, OWNER, type OwnedSocket } from './conn-state.js';
import { corkForBurst, writeControl } from './conn-write.js';
import { MessageInflater } from './deflate.js';
import { ProtocolError } from './errors.js';
import type { ConnectionEvent } from './protocol/connection.js';
import { invalidText } from './protocol/utf8.js';

/** onSocketData is the 'data' listener every connection's socket shares. */
export function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  receive(this[OWNER], chunk);
}

/** receive feeds bytes read from the socket (or past the handshake) to the core and acts on its events. */
export function receive(c: ConnState, chunk: Buffer): void {
  if (c.pendingError) return;
  try {
    c.core.receive(chunk);
  } catch (err) {
    c.pendingError = err as Error;
  }
  if (c.core.events.length > 1) corkForBurst(c);
  drainEvents(c);
}

function drainEvents(c: ConnState): void {
  const events = c.core.events;
  while (events.length > 0 && !c.inflating) handle(c, events.shift()!);
  // V8 keeps an array's spare room after shift() empties it; setting the length to 0 gives it back,
  // so a connection that has gone quiet does not hold it (about 140 B per array).
  if (events.length === 0) events.length = 0;
  if (events.length === 0 && !c.inflating && c.pendingError && !c.failScheduled) {
    c.failScheduled = true;
    const err = c.pendingError;
    // Fail after the current microtasks: readers woken by messages that came before the error
    // act on them first, so an echo of earlier data leaves before the close frame (Autobahn 3.2, 4.1.3, 5.15).
    const failNow = () =>
      fail(c, err instanceof ProtocolError ? err : new ProtocolError('ERR_INTERNAL', String(err), CloseCode.InternalServerError));
    // In push mode the listeners have already run, and ws reports the error as the bytes arrive.
    if (c.sink !== null) failNow();
    else setImmediate(failNow);
  }
  if (c.endPending !== null && events.length === 0 && !c.inflating) {
    // Push mode: TCP closed while these messages inflated (and failed, if one was bad); now the sink hears of the end.
    const result = c.endPending;
    c.endPending = null;
    c.inflater?.close();
    c.sink!.closed(result);
  }
}

function handle(c: ConnState, event: ConnectionEvent): void {
  switch (event.kind) {
    case 'message':
      if (event.compressed) return inflate(c, event.type, event.data);
      return deliver(c, { type: event.type, data: event.data });
    case 'ping':
      if (c.pingHandler) c.pingHandler(event.data);
      else if (!c.closeSent) writeControl(c, Opcode.Pong, event.data);
      return;
    case 'pong':
      c.pongHandler?.(event.data);
      return;
    case 'close':
      return onCloseFrame(c, event.code, event.reason);
  }
}

function inflate(c: ConnState, type: MessageType, data: Buffer): void {
  c.inflater ??= new MessageInflater(c.deflate?.peerNoContextTakeover ?? false);
  let now: Buffer | null;
  try {
    now = c.inflater.inflateNow(data, c.settings.maxMessageSize);
  } catch (err) {
    return inflateFailed(c, err as Error);
  }
  if (now !== null) return inflated(c, type, now);
  c.inflating = true;
  c.inflater.decompress(data, c.settings.maxMessageSize).then(
    (inflatedData) => {
      c.inflating = false;
      inflated(c, type, inflatedData);
      drainEvents(c);
    },
    (err: Error) => {
      c.inflating = false;
      inflateFailed(c, err);
      drainEvents(c);
    },
  );
}

function inflated(c: ConnState, type: MessageType, data: Buffer): void {
  if (type === MessageType.Text && !isUtf8(data)) {
    inflateFailed(c, invalidText(false));
  } else {
    deliver(c, { type, data });
  }
}

/** Nothing after a message that cannot be inflated is delivered: the connection fails with its code. */
function inflateFailed(c: ConnState, err: Error): void {
  c.core.events.length = 0;
  c.pendingError = err;
}
