/**
 * Typed errors. Every error wskit raises is a {@link WebSocketError} with a
 * stable string `code`; the subclasses are the conditions callers catch.
 */
import { CloseCode } from './constants.js';

/** Base class of wskit's errors; `code` is stable and meant for programs. */
export class WebSocketError extends Error {
  /** A stable machine-readable code such as `'ERR_MESSAGE_TOO_BIG'`. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebSocketError';
    this.code = code;
  }
}

/** The peer broke RFC 6455 or RFC 7692; `closeCode` is what we send it. */
export class ProtocolError extends WebSocketError {
  /** Close code sent to the peer: 1002, 1007 or 1009 usually. */
  readonly closeCode: number;
  constructor(code: string, message: string, closeCode: number = CloseCode.ProtocolError, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
  }
}

/**
 * The connection is closed: by the peer's close frame, by us, or by the
 * TCP connection dropping (code 1006). Reading after close rejects with this.
 */
export class CloseError extends WebSocketError {
  /** The close code received (1005 when the frame had none, 1006 when no frame came). */
  readonly closeCode: number;
  /** The close reason received, possibly empty. */
  readonly reason: string;
  constructor(closeCode: number, reason: string, message?: string) {
    super('ERR_CLOSED', message ?? `WebSocket closed with code ${closeCode}${reason ? `: ${reason}` : ''}`);
    this.name = 'CloseError';
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** The opening handshake failed; for the client, the server's response is attached. */
export class HandshakeError extends WebSocketError {
  /** HTTP status: received by the client, or sent by the server. 0 when no response came. */
  readonly status: number;
  /** Response headers (lower-case names), when a response came. */
  readonly headers: Record<string, string>;
  /** Response body, when a response came. */
  readonly body: string;
  constructor(message: string, status = 0, headers: Record<string, string> = {}, body = '') {
    super('ERR_HANDSHAKE', message);
    this.name = 'HandshakeError';
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/** A deadline passed. As in gorilla/websocket, the connection is then finished. */
export class TimeoutError extends WebSocketError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message);
    this.name = 'TimeoutError';
  }
}

/**
 * isClosed recognises a CloseError by its stable code rather than by class, so
 * one made by the CommonJS build is recognised by the ES module build too (a
 * program may load both: each is its own module instance).
 */
function isClosed(err: unknown): err is CloseError {
  return err instanceof Error && (err as Partial<CloseError>).code === 'ERR_CLOSED' && typeof (err as Partial<CloseError>).closeCode === 'number';
}

/** True when `err` is a {@link CloseError} whose code is one of `codes` (any code if none given). */
export function isCloseError(err: unknown, ...codes: number[]): err is CloseError {
  return isClosed(err) && (codes.length === 0 || codes.includes(err.closeCode));
}

/**
 * True when `err` is a {@link CloseError} whose code is not one of
 * `expectedCodes`, as gorilla's IsUnexpectedCloseError.
 */
export function isUnexpectedCloseError(err: unknown, ...expectedCodes: number[]): err is CloseError {
  return isClosed(err) && !expectedCodes.includes(err.closeCode);
}
