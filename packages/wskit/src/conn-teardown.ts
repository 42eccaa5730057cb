/**
 * How a {@link Conn} ends without a closing handshake, and what happens when
 * its TCP connection closes however it ended: `terminate`, a passed read or
 * write deadline, and the socket's 'close', which settles reads, writes and
 * `closed` and frees the zlib streams.
 */
import type { Http2Stream } from 'node:http2';
import { CloseCode, RST_CANCEL } from './constants.js';
import { rejectReaders } from './conn-read.js';
import { type ConnState, OWNER, type OwnedSocket, remoteAddress } from './conn-state.js';
import { Deadline } from './deadline.js';
import { CloseError, TimeoutError } from './errors.js';

/**
 * drop ends the transport at once: destroys the socket (TCP RST or FIN), or
 * resets the HTTP/2 stream with CANCEL, which is how RFC 8441 §5 carries
 * TCP's RST; the session and its other streams go on.
 */
export function drop(c: ConnState): void {
  if (c.overStream) (c.socket as Http2Stream).close(RST_CANCEL);
  else c.socket.destroy();
}

/** terminate is `Conn.terminate`: drop TCP (or the stream) at once; reads reject with 1006. */
export function terminate(c: ConnState): void {
  c.terminal ??= new CloseError(CloseCode.AbnormalClosure, '', 'Connection terminated');
  drop(c);
}

/** abort drops the connection for a timeout or other local reason: `err` is what reads and writes reject with. */
export function abort(c: ConnState, err: Error): void {
  c.terminal ??= err;
  c.closeResult ??= new CloseError(CloseCode.AbnormalClosure, err.message);
  rejectReaders(c);
  c.rejectDrain?.(err);
  drop(c);
}

/** readDeadline is the connection's read deadline, made on first use. */
export function readDeadline(c: ConnState): Deadline {
  c.readDeadline ??= new Deadline(() =>
    abort(c, new TimeoutError(`Read deadline passed on connection from ${remoteAddress(c)}`)),
  );
  return c.readDeadline;
}

/** writeDeadline is the connection's write deadline, made on first use; it only fires while bytes wait. */
export function writeDeadline(c: ConnState): Deadline {
  c.writeDeadline ??= new Deadline(() => {
    if (c.socket.writableLength > 0 || c.sendChain !== null) {
      abort(c, new TimeoutError(`Write deadline passed with ${c.socket.writableLength} bytes unsent`));
    }
  });
  return c.writeDeadline;
}

/** closedPromise is `Conn.closed`, made when first asked for. */
export function closedPromise(c: ConnState): Promise<CloseError> {
  if (c.closed === null) {
    if (c.ended !== null) c.closed = Promise.resolve(c.ended);
    else c.closed = new Promise((resolve) => (c.resolveClosed = resolve));
  }
  return c.closed;
}

/** ignoreError is the 'error' listener: 'close' always follows a socket error, and the connection ends there (1006 unless a close frame came). */
export function ignoreError(): void {}

/** onSocketClosed is the 'close' listener every connection's socket shares: the connection has ended. */
export function onSocketClosed(this: OwnedSocket): void {
  const c = this[OWNER];
  if (c.closeTimer !== null) clearTimeout(c.closeTimer);
  c.readDeadline?.clear();
  c.writeDeadline?.clear();
  const result = c.closeResult ?? new CloseError(CloseCode.AbnormalClosure, '');
  c.terminal ??= result;
  c.closeSent = true;
  rejectReaders(c);
  c.rejectDrain?.(c.terminal);
  c.deflater?.close();
  // Push mode: messages still inflating are delivered before the end (conn-receive.ts finishes it).
  const later = c.sink !== null && (c.inflating || c.core.events.length > 0);
  if (!later) c.inflater?.close();
  c.ended = result;
  c.resolveClosed?.(result);
  const sink = c.sink;
  if (sink === null) return;
  if (later) c.endPending = result;
  // Sends still queued fail first (their callbacks run in the microtasks before this): ws reports them before 'close'.
  else if (c.sendChain !== null) setImmediate(() => sink.closed(result));
  else sink.closed(result);
}
