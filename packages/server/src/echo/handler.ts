/**
 * The echo service: every message is sent back with its type. Used for
 * conformance runs (Autobahn) and benchmarks.
 */
import type { Conn } from 'wskit';
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
 * serveEcho echoes until the connection closes; `idle` (one timer for every
 * /echo connection) closes it (1000, "idle timeout") once it goes its idle
 * time without a message. Errors end it quietly: the server logs every close
 * with its code.
 */
export async function serveEcho(conn: Conn, idleSweep: IdleSweep): Promise<void> {
  const idle = idleSweep.watch(conn);
  try {
    for await (const message of conn) {
      idle.touch();
      await conn.write(message.type, message.data);
    }
  } catch {
    // Closed abnormally or by a protocol error: the connection has already answered it.
  } finally {
    idle.stop();
  }
}
