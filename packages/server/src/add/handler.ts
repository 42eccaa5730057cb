/**
 * The add service over a WebSocket: each text message `{"A":7,"B":4}` is
 * answered `{"Sum":11}`; bad requests get `{"error":...}` and the
 * connection stays open; an idle connection is closed.
 */
import { CloseCode, type Conn, isUnexpectedCloseError, type Message, parseJSON, TimeoutError } from 'wskit';
import type { IdleSweep } from '../idle-sweep.js';
import { add, type AddResponse } from './add.js';

/** How long the add service waits for the next message before closing: 20 s. */
export const ADD_IDLE_TIMEOUT_MS = 20_000;

/** answer is the response to one request message. */
function answer(message: Message): AddResponse {
  if (message.type !== 'text') return { error: 'requests must be text messages holding JSON' };
  try {
    return add(parseJSON(message.data.toString('utf8')));
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * addService makes the /add route: each connection it is given has its
 * requests answered until it closes, through one `onMessage` handler shared
 * by every connection. `idle` closes a connection (1000, reason "idle
 * timeout", logged) once it goes its idle time without a message; closes
 * other than 1000/1001 are logged as unexpected. `onEnd` (unset: nothing)
 * is called once with each connection when its requests end: the server
 * counts it as closing then, with no listener of its own on the socket.
 */
export function addService(idle: IdleSweep, log: (line: string) => void, onEnd: (conn: Conn) => void = () => {}): (conn: Conn) => void {
  const request = (message: Message, conn: Conn) => {
    idle.touch(conn);
    return conn.writeJSON(answer(message));
  };
  const ended = (err: Error | null, conn: Conn) => {
    idle.stop(conn);
    onEnd(conn);
    if (err instanceof TimeoutError) log(`add: ${conn.remoteAddress} ${err.message}`);
    else if (err !== null && isUnexpectedCloseError(err, CloseCode.NormalClosure, CloseCode.GoingAway)) {
      log(`add: unexpected close from ${conn.remoteAddress}: ${err.message}`);
    }
  };
  return (conn) => {
    idle.watch(conn);
    conn.onMessage(request, ended);
  };
}
