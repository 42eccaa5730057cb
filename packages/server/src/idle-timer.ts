/**
 * An idle timer for a connection: closes it (1000, "idle timeout") when no
 * message arrives for a while, with a close frame the peer can read, unlike a
 * read deadline which drops TCP. Shared by /add and /echo.
 */
import { CloseCode, type Conn } from 'wskit';

/** What {@link closeWhenIdle} returns: `touch` on every message, `stop` when done. */
export interface IdleTimer {
  touch(): void;
  stop(): void;
}

/** closeWhenIdle closes `conn` after `idleMs` without a `touch`, logging the timeout. */
export function closeWhenIdle(conn: Conn, idleMs: number, log: (line: string) => void, service: string): IdleTimer {
  const timer = setTimeout(() => {
    log(`${service}: ${conn.remoteAddress} idle for ${idleMs} ms, closing`);
    conn.close(CloseCode.NormalClosure, 'idle timeout').catch(() => {});
  }, idleMs);
  timer.unref();
  return { touch: () => timer.refresh(), stop: () => clearTimeout(timer) };
}
