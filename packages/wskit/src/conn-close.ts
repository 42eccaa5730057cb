/**
 * The closing handshake of a {@link Conn} (RFC 6455 §7): `close` sends a
 * close frame and waits for the peer's; a close frame from the peer is
 * answered; a protocol error fails the connection with its close code. The
 * server closes TCP first; after the close timeout the socket is dropped.
 */
import { CloseCode, Opcode } from './constants.js';
import { rejectReaders } from './conn-read.js';
import type { ConnState, Transport } from './conn-state.js';
import { closedPromise, drop } from './conn-teardown.js';
import { enqueue, writeControl } from './conn-write.js';
import { CloseError, type ProtocolError } from './errors.js';
import { encodeClosePayload, isValidCloseCode, MAX_CLOSE_REASON, truncateReason } from './protocol/close.js';

/**
 * closePayload is the payload of the close frame `close(code, reason)` sends.
 * Throws RangeError for a code that may not be sent or a reason that does
 * not fit, before anything is sent.
 */
export function closePayload(code: number, reason: string): Buffer {
  if (code === CloseCode.NoStatusReceived || code === CloseCode.AbnormalClosure || code === CloseCode.TLSHandshake) {
    // RFC 6455 §7.4.1: these report a close that carried no code, or none at all; an endpoint must not send them.
    throw new RangeError(`Invalid close code ${code}: 1005, 1006 and 1015 may not be sent (RFC 6455 §7.4.1)`);
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new RangeError(`Invalid close code ${code}: only 1000–1003, 1007–1014 and 3000–4999 may be sent (RFC 6455 §7.4)`);
  }
  const length = Buffer.byteLength(reason);
  if (length > MAX_CLOSE_REASON) {
    // RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
    throw new RangeError(`Invalid close reason: ${length} bytes of UTF-8, over the limit of ${MAX_CLOSE_REASON} (RFC 6455 §5.5)`);
  }
  return encodeClosePayload(code, reason);
}

/**
 * startClose sends a close frame with `payload` (after writes still queued)
 * and resolves once TCP has closed. Does nothing more once a close frame was
 * sent or the socket is gone.
 */
export function startClose(c: ConnState, payload: Buffer): Promise<void> {
  const done = closedPromise(c).then(() => undefined);
  if (c.closeSent || c.socket.destroyed) return done;
  c.closeSent = true;
  const send = () => {
    writeControl(c, Opcode.Close, payload);
    armCloseTimer(c);
  };
  if (c.sendChain !== null) enqueue(c, send).catch(() => {});
  else send();
  return done;
}

/** onCloseFrame acts on the peer's close frame: answer it (once), then close TCP (the server first). */
export function onCloseFrame(c: ConnState, code: number, reason: string): void {
  c.closeResult = new CloseError(code, reason);
  c.terminal ??= c.closeResult;
  rejectReaders(c);
  c.sink?.closeFrame(code, reason);
  // RFC 6455 §5.5.1: answer with a close frame, echoing the code (and, as ws does, in push mode the reason).
  const answer = c.closeSent ? null : code === CloseCode.NoStatusReceived ? Buffer.alloc(0) : encodeClosePayload(code, c.sink !== null ? reason : '');
  c.closeSent = true;
  const finish = () => {
    if (answer !== null) writeControl(c, Opcode.Close, answer);
    // RFC 6455 §7.1.1: the server closes TCP first; a client waits for it.
    if (c.settings.role === 'server') c.socket.end();
  };
  // Messages still compressing when the close frame came go out before the answer, as in fail().
  if (c.sendChain !== null) enqueue(c, finish).catch(() => {});
  else finish();
  armCloseTimer(c);
}

/** fail fails the connection (RFC 6455 §7.1.7): a close frame with the error's code, then close TCP. */
export function fail(c: ConnState, err: ProtocolError): void {
  c.core.stop();
  c.terminal ??= err;
  const code = c.sink !== null ? c.sink.closeCodeFor(err) : err.closeCode;
  c.closeResult ??= new CloseError(code, err.message);
  rejectReaders(c);
  const sendClose = !c.closeSent;
  c.closeSent = true;
  const finish = () => {
    // Our own message may run long: cut to fit rather than fail the failing. In push mode (ws) the code goes alone.
    if (sendClose) writeControl(c, Opcode.Close, encodeClosePayload(code, c.sink !== null ? '' : truncateReason(err.message)));
    c.socket.end();
    armCloseTimer(c);
  };
  // Writes queued before the failure (a message still compressing) go out before the close frame.
  if (c.sendChain !== null) enqueue(c, finish).catch(() => {});
  else finish();
  c.sink?.error(err);
}

function armCloseTimer(c: ConnState): void {
  if (c.closeTimer !== null) return;
  c.closeTimer = setTimeout(() => drop(c), c.settings.closeTimeout);
  c.closeTimer.unref();
}

/**
 * onSocketEnd is the 'end' listener every connection's socket shares: the
 * peer closed its side of TCP (or sent END_STREAM, RFC 8441 §5), so finish
 * ours once queued bytes are out.
 */
export function onSocketEnd(this: Transport): void {
  this.end();
}
