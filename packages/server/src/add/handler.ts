/**
 * The add service over a WebSocket: each text message `{"A":7,"B":4}` is
 * answered `{"Sum":11}`; bad requests get `{"error":...}` and the
 * connection stays open; an idle connection is closed.
 */
import { CloseCode, type Conn, isUnexpectedCloseError, parseJSON, TimeoutError } from 'wskit';
import { closeWhenIdle } from '../idle-timer.js';
import { add, type AddResponse } from './add.js';

/** How long the add service waits for the next message before closing: 20 s. */
export const ADD_IDLE_TIMEOUT_MS = 20_000;

/**
 * serveAdd answers requests on `conn` until it closes. With no message for
 * `idleTimeoutMs` the server closes it (1000, reason "idle timeout") and
 * logs the timeout; closes other than 1000/1001 are logged as unexpected.
 */
export async function serveAdd(conn: Conn, log: (line: string) => void, idleTimeoutMs = ADD_IDLE_TIMEOUT_MS): Promise<void> {
  const idle = closeWhenIdle(conn, idleTimeoutMs, log, 'add');
  try {
    for (;;) {
      const message = await conn.read();
      idle.touch();
      let response: AddResponse;
      if (message.type !== 'text') response = { error: 'requests must be text messages holding JSON' };
      else {
        try {
          response = add(parseJSON(message.data.toString('utf8')));
        } catch (err) {
          response = { error: (err as Error).message };
        }
      }
      await conn.writeJSON(response);
    }
  } catch (err) {
    if (err instanceof TimeoutError) log(`add: ${conn.remoteAddress} ${err.message}`);
    else if (isUnexpectedCloseError(err, CloseCode.NormalClosure, CloseCode.GoingAway)) {
      log(`add: unexpected close from ${conn.remoteAddress}: ${(err as Error).message}`);
    }
  } finally {
    idle.stop();
  }
}
