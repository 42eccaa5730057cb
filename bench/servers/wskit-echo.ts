/**
 * The wskit echo of the bench servers, over a socket or an HTTP/2 stream
 * alike: each message back with its type, in the `for await` loop wskit's
 * documentation shows, counting open connections for the harness.
 */
import type { Conn } from 'wskit';
import type { Counter } from './harness.js';

/** echoUpgrade is the `then` pair of an `Upgrader.upgrade` call: echo what comes, or nothing for a refused handshake (already answered). */
export function echoUpgrade(counter: Counter): [(conn: Conn) => Promise<void>, () => void] {
  const serve = async (conn: Conn) => {
    counter.open++;
    try {
      for await (const message of conn) await conn.write(message.type, message.data);
    } catch {
      // A dropped or broken connection ends the loop; the bench only counts echoes.
    } finally {
      counter.open--;
    }
  };
  return [serve, () => {}];
}
