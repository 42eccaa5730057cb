/**
 * The wskit echo of the bench servers, over a socket or an HTTP/2 stream
 * alike: each message back with its type, in either reading style wskit's
 * documentation shows, counting open connections for the harness: a
 * `for await` loop per connection, or (with `--on-message`) one
 * `conn.onMessage` handler shared by every connection.
 */
import type { Conn, Message } from 'wskit';
import { hasFlag, type Counter } from './harness.js';

/** echoUpgrade is the `then` pair of an `Upgrader.upgrade` call: echo what comes, or nothing for a refused handshake (already answered). */
export function echoUpgrade(counter: Counter): [(conn: Conn) => void, () => void] {
  if (hasFlag('on-message')) {
    const echo = (message: Message, conn: Conn) => conn.write(message.type, message.data);
    // A dropped or broken connection ends the handler; the bench only counts echoes.
    const ended = () => {
      counter.open--;
    };
    return [
      (conn: Conn) => {
        counter.open++;
        conn.onMessage(echo, ended);
      },
      () => {},
    ];
  }
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
