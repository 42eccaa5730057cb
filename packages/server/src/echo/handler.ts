/**
 * The echo service: every message is sent back with its type. Used for
 * conformance runs (Autobahn) and benchmarks.
 */
import type { Conn, Message } from 'wskit';
import type { IdleSweep } from '../idle-sweep.js';

/** Largest message /echo accepts by default: 16 MiB. */
export const ECHO_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/**
 * Most fragments per message /echo accepts: one per 64 bytes of its size
 * limit, 262,144 (Autobahn's 9.3.1 and 9.4.1 send 4 MiB in 64-byte
 * fragments, 65,536 of them, four times the library's default).
 */
export const ECHO_MAX_FRAGMENTS = ECHO_MAX_MESSAGE_SIZE / 64;

/** How long /echo waits for the next message before closing: 60 s (Autobahn's slowest cases take a few seconds). */
export const ECHO_IDLE_TIMEOUT_MS = 60_000;

/**
 * echoService makes the /echo route: each connection it is given echoes
 * until it closes, through one `onMessage` handler shared by every
 * connection (nothing per connection but its entry in `idle`, so an idle
 * one costs no suspended function). `idle` closes a connection (1000, "idle
 * timeout") once it goes its idle time without a message. Errors end it
 * quietly: the server logs every close with its code. `onEnd` (unset:
 * nothing) is called once with each connection when its echoing ends: the
 * server counts it as closing then, with no listener of its own on the socket.
 */
export function echoService(idle: IdleSweep, onEnd: (conn: Conn) => void = () => {}): (conn: Conn) => void {
  // A write's promise holds the next message back while the peer is slow to read, as `await` would.
  const echo = (message: Message, conn: Conn) => {
    idle.touch(conn);
    return conn.write(message.type, message.data);
  };
  const ended = (_err: Error | null, conn: Conn) => {
    idle.stop(conn);
    onEnd(conn);
  };
  return (conn) => {
    idle.watch(conn);
    conn.onMessage(echo, ended);
  };
}
