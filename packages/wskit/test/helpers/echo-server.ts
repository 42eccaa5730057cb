/**
 * An echo server on the library alone, configured as `wskit serve`'s `/echo`
 * route is (16 MiB messages of up to 262,144 fragments, permessage-deflate
 * accepted, 1 MiB buffers), for
 * the conformance suite and interop tests of the library package: over
 * HTTP/1.1 upgrades, or over HTTP/2 streams (h2c with extended CONNECT
 * allowed, RFC 8441).
 */
import http from 'node:http';
import http2, { type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type Conn, Upgrader } from '../../src/index.js';

/** The largest message the echo server accepts: 16 MiB, as `/echo`. */
export const ECHO_MAX_MESSAGE = 16 * 1024 * 1024;
/** Most fragments per message the echo server accepts: one per 64 bytes of its size limit, as `/echo`. */
export const ECHO_MAX_FRAGMENTS = ECHO_MAX_MESSAGE / 64;

/** A running echo server: its ws:// URL and a stop that drops every connection. */
export interface EchoServer {
  url: string;
  stop(): Promise<void>;
}

/** Options of {@link startEchoServer}. */
export interface EchoServerOptions {
  /** Serve WebSockets as HTTP/2 streams (h2c, `enableConnectProtocol`) instead of HTTP/1.1 upgrades. Default false. */
  http2?: boolean;
}

/** startEchoServer listens on 127.0.0.1, port 0, and echoes every message on any path. */
export async function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const upgrader = new Upgrader({
    maxMessageSize: ECHO_MAX_MESSAGE,
    maxFragments: ECHO_MAX_FRAGMENTS,
    compression: true,
    writeBufferSize: 1024 * 1024,
    readBufferSize: 1024 * 1024,
  });
  const open = new Set<Conn>();
  const echo = async (conn: Conn) => {
    open.add(conn);
    try {
      for await (const message of conn) await conn.write(message.type, message.data);
    } catch {
      // A protocol error or abnormal close: the connection has answered it already.
    } finally {
      open.delete(conn);
    }
  };
  if (options.http2) {
    const sessions = new Set<Http2Session>();
    const server = http2.createServer({ settings: { enableConnectProtocol: true } }, (_, res) => res.writeHead(404).end());
    server.on('session', (session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
    server.on('connect', (req) => void upgrader.upgrade(req, req.stream).then(echo, () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `ws://127.0.0.1:${port}/echo`,
      async stop() {
        for (const conn of open) conn.terminate();
        for (const session of sessions) session.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
  const server = http.createServer((_, res) => res.writeHead(426).end());
  server.on('upgrade', (req, socket, head) => void upgrader.upgrade(req, socket, head).then(echo, () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    async stop() {
      for (const conn of open) conn.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
