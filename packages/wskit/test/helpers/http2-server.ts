/**
 * A node:http2 server for the library's HTTP/2 tests (RFC 8441): h2c, or
 * TLS with ALPN h2 (and HTTP/1.1 beside it when asked), extended CONNECT
 * allowed unless a test turns it off. It counts the sessions (TCP
 * connections) it was opened with, so a test can tell that WebSockets
 * shared one, and drops them all at the end of the test.
 */
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

type After = { after: (fn: () => unknown) => void };

/** Settings of {@link startHttp2Server}. */
export interface Http2ServerOptions {
  /** Serve TLS with this certificate and key (wss: URLs); h2c (ws: URLs) without. */
  tls?: { cert: Buffer; key: Buffer };
  /** With `tls`: also take HTTP/1.1 on the same port (ALPN http/1.1), passing upgrades to `onUpgrade`. */
  allowHTTP1?: boolean;
  /** Advertise SETTINGS_ENABLE_CONNECT_PROTOCOL. Default true. */
  enableConnectProtocol?: boolean;
  /** Answers HTTP/1.1 upgrades when `allowHTTP1` is on. */
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

/** A running HTTP/2 test server. */
export interface Http2TestServer {
  /** `ws://127.0.0.1:port` (h2c) or `wss://127.0.0.1:port` (TLS). */
  url: string;
  /** Sessions open now. */
  readonly sessions: Set<Http2Session>;
  /** Sessions opened since the start. */
  opened(): number;
}

/**
 * startHttp2Server listens on 127.0.0.1, port 0, and calls `onConnect` for
 * every CONNECT (extended or not); the test's end drops every session and
 * closes the server.
 */
export async function startHttp2Server(
  t: After,
  onConnect: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  options: Http2ServerOptions = {},
): Promise<Http2TestServer> {
  const settings = { enableConnectProtocol: options.enableConnectProtocol ?? true };
  const onRequest = (_req: unknown, res: { writeHead(status: number): { end(): void } }) => res.writeHead(404).end();
  const server = options.tls
    ? http2.createSecureServer({ ...options.tls, allowHTTP1: options.allowHTTP1 ?? false, settings }, onRequest)
    : http2.createServer({ settings }, onRequest);
  const sessions = new Set<Http2Session>();
  let opened = 0;
  server.on('session', (session: Http2Session) => {
    opened++;
    sessions.add(session);
    session.on('error', () => {});
    session.once('close', () => sessions.delete(session));
  });
  server.on('connect', onConnect);
  if (options.onUpgrade) server.on('upgrade', options.onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const session of sessions) session.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `${options.tls ? 'wss' : 'ws'}://127.0.0.1:${port}`, sessions, opened: () => opened };
}

/** within waits for `promise` at most `ms`: its value, or `timedOut` when it has not settled by then. */
export function within<T, U>(promise: Promise<T>, ms: number, timedOut: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<U>((resolve) => (timer = setTimeout(() => resolve(timedOut), ms)))]).finally(() => clearTimeout(timer));
}
