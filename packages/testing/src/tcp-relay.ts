/**
 * A TCP relay on 127.0.0.1 that a test can cut, restore and point elsewhere:
 * to lose Redis for one node only, or to stand for the address that follows
 * a Redis primary across a failover (a virtual IP, a DNS name, a proxy).
 */
import { connect, createServer, type Socket } from 'node:net';

/** A running relay (see {@link startRelay}). */
export interface TcpRelay {
  /** `redis://127.0.0.1:<relay port>`. */
  readonly url: string;
  /** The relay's own port. */
  readonly port: number;
  /** Drop every relayed connection and refuse new ones until `restore()`. */
  cut(): void;
  /** Accept connections again. */
  restore(): void;
  /** Drop every relayed connection; new ones go to `port` from now on. */
  retarget(port: number): void;
  /** Stop listening and drop every connection. */
  close(): Promise<void>;
}

/** Starts a relay from a free port of 127.0.0.1 to 127.0.0.1:`port`. */
export async function startRelay(port: number): Promise<TcpRelay> {
  let target = port;
  let cut = false;
  const sockets = new Set<Socket>();
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  const server = createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = connect(target, '127.0.0.1');
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(from);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
      from.pipe(to);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const own = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${own}`,
    port: own,
    cut() {
      cut = true;
      dropAll();
    },
    restore() {
      cut = false;
    },
    retarget(next) {
      target = next;
      dropAll();
    },
    close() {
      cut = true;
      dropAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
