/**
 * The push hook of a {@link Conn}, for wskit/ws: ws's API is push-based
 * (events), Conn's is pull-based (`read()`, `for await`). A Conn given a
 * sink with `pushTo` hands each message, close frame, protocol error and
 * its end to the sink as soon as they happen, on the same receive path as
 * every other Conn and with no promise per message; `sendFrame` writes one
 * frame with ws's options and calls back once it is written.
 *
 * In push mode a Conn also does what ws does where the two differ: it
 * answers a close frame with the peer's code and reason, fails the
 * connection with the close code alone (the one the sink picks), and never
 * pauses its socket on its own (the sink's owner pauses and resumes it).
 */
import type { MessageType } from './constants.js';
import type { CloseError, ProtocolError } from './errors.js';

/** @internal Where a Conn in push mode reports. Called synchronously from the socket's 'data' and 'close' events. */
export interface PushSink {
  /** A whole data message, inflated and UTF-8-checked. */
  message(type: MessageType, data: Buffer): void;
  /** The peer's close frame (code 1005 when it had none); the Conn answers it. */
  closeFrame(code: number, reason: string): void;
  /** The close code to fail with for `err`: `err.closeCode`, or ws's where ws differs. Called just before `error`. */
  closeCodeFor(err: ProtocolError): number;
  /** The peer broke the protocol: the Conn has sent a close frame with the code from `closeCodeFor` and closes TCP. */
  error(err: ProtocolError): void;
  /** TCP has closed: the connection is over. */
  closed(result: CloseError): void;
}

/** @internal Called once a frame is written out, or with the error that kept it from the socket. */
export type WriteCallback = (err?: Error | null) => void;
