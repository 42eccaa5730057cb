/**
 * The echo service: every message is sent back with its type. Used for
 * conformance runs (Autobahn) and benchmarks.
 */
import type { Conn } from '../../src/index.js';

/** Largest message /echo accepts by default: 16 MiB. */
export const ECHO_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** serveEcho echoes until the connection closes; errors end it quietly (the close is logged by the server). */
export async function serveEcho(conn: Conn): Promise<void> {
  try {
    for await (const message of conn) await conn.write(message.type, message.data);
  } catch {
    // Closed abnormally or by a protocol error: the connection has already answered it.
  }
}
