/**
 * The `wskit serve` server: one HTTP server carrying the add service
 * (`/add`), the echo service (`/echo`) and the chat app (`/`, `/ws`,
 * `/healthz`, `/metrics`). Any other path gets 404.
 *
 * With TLS it speaks HTTP/2 and HTTP/1.1 on the same port (ALPN), and
 * allows extended CONNECT (RFC 8441), so a browser opens its WebSockets as
 * streams of the connection that carries the page. An HTTP/1.1 upgrade
 * arrives as `upgrade`, an HTTP/2 one as `connect`; both go through the
 * same limits and routes.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createSecureContext } from 'node:tls';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CloseCode, type Conn, rejectUpgrade, Upgrader, type UpgradeRequest } from 'wskit';
import { addService, ADD_IDLE_TIMEOUT_MS } from './add/handler.js';
import { CHAT_DEFAULTS, type ChatApp, type ChatOptions, createChat } from './chat/index.js';
import { ECHO_IDLE_TIMEOUT_MS, ECHO_MAX_FRAGMENTS, ECHO_MAX_MESSAGE_SIZE, echoService } from './echo/handler.js';
import { IdleSweep } from './idle-sweep.js';
import { clientAddressResolver, peerAddressOf } from './client-address.js';
import { timestampedLog } from './log.js';

/** Default of {@link ServerOptions.maxConnectionsPerIp}. */
export const MAX_CONNECTIONS_PER_IP = 64;

/** Settings of {@link startServer}. */
export interface ServerOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Idle time after which `/add` closes a connection, in ms. Default 20 s. */
  addIdleTimeoutMs?: number;
  /** Idle time after which `/echo` closes a connection, in ms. Default 60 s. */
  echoIdleTimeoutMs?: number;
  /** Largest message `/echo` accepts. Default 16 MiB. */
  echoMaxMessageSize?: number;
  /** Time allowed for an HTTP request head and WebSocket handshake, in ms. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * WebSocket connections open at once across every route (`/add`, `/echo`,
   * `/ws`), counting handshakes in progress; beyond it an upgrade gets 503.
   * Default: the chat's `maxConnections` (`--max-connections`), else 10 000.
   */
  maxConnections?: number;
  /**
   * WebSocket connections open at once from one client address (handshakes
   * included); beyond it an upgrade gets 429 with `Retry-After`. Default 64.
   */
  maxConnectionsPerIp?: number;
  /**
   * Proxies whose `X-Forwarded-For` is believed (CIDR blocks or addresses):
   * a request from one of them counts under the header's left-most address.
   * Default: none, every request counts under its TCP peer.
   */
  trustProxy?: string[];
  /**
   * Serve HTTPS and WSS with this certificate chain and private key (PEM
   * files), re-read by {@link RunningServer.reload}: HTTP/2 and HTTP/1.1 on
   * one port, WebSockets over either (RFC 8441 over HTTP/2). Unset: plain
   * HTTP/1.1.
   */
  tls?: { certFile: string; keyFile: string };
  /** Chat app settings. */
  chat?: ChatOptions;
  /** Log sink, one line per event. Default: stdout, each line after an ISO 8601 UTC timestamp. */
  log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port`, or `https://` with TLS. */
  url: string;
  port: number;
  /**
   * connections counts the open TCP connections (any state, from the HTTP
   * server) and the WebSocket upgrades among them: attack tests check both
   * return to their baseline.
   */
  connections(): Promise<{ tcp: number; webSockets: number }>;
  /**
   * reload re-reads what may change while running (SIGHUP): the TLS
   * certificate and key, used for new connections while open ones stay,
   * and the chat's JWKS. A file that cannot be read or parsed is logged and
   * the old one kept; rejects with the first such error.
   */
  reload(): Promise<void>;
  /** Stop accepting, close every connection with 1001, flush chat history. */
  shutdown(): Promise<void>;
}

/**
 * startServer listens and resolves once the server accepts connections. When
 * it cannot listen it closes the chat broker and rejects with Node's listen
 * error (`code` EADDRINUSE, EADDRNOTAVAIL, EACCES, ENOTFOUND).
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const log = options.log ?? timestampedLog();
  const maxConnections = options.maxConnections ?? options.chat?.maxConnections ?? CHAT_DEFAULTS.maxConnections;
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(`Invalid maxConnections ${maxConnections}: use a whole number, 1 or more`);
  }
  const maxPerIp = options.maxConnectionsPerIp ?? MAX_CONNECTIONS_PER_IP;
  if (!Number.isSafeInteger(maxPerIp) || maxPerIp < 1) {
    throw new RangeError(`Invalid maxConnectionsPerIp ${maxPerIp}: use a whole number, 1 or more`);
  }
  const clientAddress = clientAddressResolver(options.trustProxy);
  const tls = options.tls === undefined ? undefined : readTls(options.tls);
  // Made before the chat app opens its broker: a bad idle time throws with nothing to close.
  const echoIdle = new IdleSweep(options.echoIdleTimeoutMs ?? ECHO_IDLE_TIMEOUT_MS, log, 'echo');
  const addIdle = new IdleSweep(options.addIdleTimeoutMs ?? ADD_IDLE_TIMEOUT_MS, log, 'add');
  // Each route tells when a connection ends (wsEnded): the socket needs no 'close' listener of ours.
  const serveEcho = echoService(echoIdle, (conn) => wsEnded(conn, '/echo'));
  const serveAdd = addService(addIdle, log, (conn) => wsEnded(conn, '/add'));
  const chat: ChatApp = await createChat({ log, ...options.chat });
  const handshakeTimeout = options.handshakeTimeoutMs ?? 10_000;
  const addUpgrader = new Upgrader({ handshakeTimeout, maxMessageSize: 64 * 1024 });
  const echoUpgrader = new Upgrader({
    handshakeTimeout,
    maxMessageSize: options.echoMaxMessageSize ?? ECHO_MAX_MESSAGE_SIZE,
    maxFragments: ECHO_MAX_FRAGMENTS,
    compression: true,
    writeBufferSize: 1024 * 1024,
    readBufferSize: 1024 * 1024,
  });
  /** The shutdown under way, once it has begun. */
  let stopping: Promise<void> | null = null;
  /** Upgrade sockets not yet closed: handshakes in progress and open WebSockets. */
  let upgrades = 0;
  /** The same, per client address. */
  const upgradesByAddress = new Map<string, number>();
  /**
   * The open /add and /echo connections counted under an address other than
   * their TCP peer's (a trusted proxy's X-Forwarded-For). The rest are
   * counted under {@link peerAddressOf}, read back at close, so the usual
   * connection keeps no entry here.
   */
  const forwardedFor = new Map<Conn, string>();
  const release = (address: string) => {
    upgrades--;
    const left = (upgradesByAddress.get(address) ?? 1) - 1;
    if (left === 0) upgradesByAddress.delete(address);
    else upgradesByAddress.set(address, left);
  };

  const onRequest = (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => {
    // The HTTP/2 compatibility API gives the chat the request and response it knows; an HTTP/2 request carries no Host of its own.
    const req = asHttp1(request);
    const res = response as ServerResponse;
    const path = pathOf(req);
    const webSocketPath = path === '/add' || path === '/echo' || path === '/ws';
    if (!(webSocketPath && req.httpVersionMajor === 2) && chat.handleRequest(req, res, clientAddress(req))) return;
    const status = webSocketPath ? 426 : 404;
    const body = status === 426 ? `${path} is a WebSocket endpoint: connect with a WebSocket client\n` : `Not found: ${path}\n`;
    // Upgrade is an HTTP/1.1 header (RFC 9113 §8.2.2): over HTTP/2 a client opens a WebSocket with an extended CONNECT instead.
    const upgrade = status === 426 && req.httpVersionMajor === 1 ? { Upgrade: 'websocket' } : {};
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...upgrade });
    res.end(body);
  };
  const server: http.Server | Http2SecureServer = tls === undefined
    ? http.createServer({ connectionsCheckingInterval: 1000 }, onRequest)
    : http2.createSecureServer({ ...tls, allowHTTP1: true, settings: { enableConnectProtocol: true } }, onRequest);
  const http1 = server as unknown as { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
  // The HTTP/1.1 side of an HTTP/2 server takes no connectionsCheckingInterval option; its property is read at listen.
  http1.connectionsCheckingInterval = 1000;
  addUpgrader.configureServer(http1);
  /**
   * TCP connections, for shutdown (an HTTP/2 server has no
   * closeAllConnections), less those carrying an open /add or /echo
   * WebSocket: shutdown reaches those through the idle sweeps.
   */
  const sockets = new Set<Socket>();
  // Listeners shared by every socket ('close' comes once), so an idle connection holds no closure for them.
  function forgetSocket(this: Socket): void {
    sockets.delete(this);
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', forgetSocket);
  });

  /**
   * One 'close' listener shared by the upgrade sockets the server does not
   * hand to /add or /echo (chat, 404, refused handshakes), which reads the
   * address they count under from the socket.
   */
  function upgradeClosed(this: Duplex): void {
    sockets.delete(this as Socket);
    release((this as AddressedSocket)[COUNTED_AS]);
  }
  /** countUntilClosed keeps `socket` counted under `address` until it closes. */
  const countUntilClosed = (socket: Duplex, address: string) => {
    (socket as AddressedSocket)[COUNTED_AS] = address;
    // 'close' comes once: `on` spares the wrapper `once` would keep. This listener forgets the socket too.
    socket.off('close', forgetSocket);
    socket.on('close', upgradeClosed);
  };
  /**
   * wsEnded is told by /add and /echo that `conn` will take no more
   * messages; the connection stops counting, and its close is logged, once
   * its socket has closed (`conn.closed` settles then). The reaction is made
   * here, at the end, so an open connection carries none.
   */
  function wsEnded(conn: Conn, path: string): void {
    conn.closed.then((result) => {
      const address = forwardedFor.get(conn) ?? peerAddressOf(conn);
      forwardedFor.delete(conn);
      release(address);
      chat.uncountWebSocket(conn);
      log(`close ${path} ${conn.remoteAddress} code=${result.closeCode}${result.reason ? ` reason=${JSON.stringify(result.reason)}` : ''}`);
    });
  }
  /**
   * accept completes an /add or /echo handshake. Once open, the connection
   * is the route's: the socket leaves `sockets` and loses the server's
   * listeners, so it carries nothing of the server's while idle.
   */
  const accept = (upgrader: Upgrader, req: UpgradeRequest, socket: Duplex, head: Buffer, address: string, serve: (conn: Conn) => void) => {
    const path = pathOf(req);
    const from = req.socket.remoteAddress ?? '';
    upgrader.upgrade(req, socket, head).then(
      (conn) => {
        sockets.delete(socket as Socket);
        socket.off('close', forgetSocket);
        // The Conn has an 'error' listener of its own: one fewer here spares the socket a listener array.
        socket.off('error', ignoreError);
        if (peerAddressOf(conn) !== address) forwardedFor.set(conn, address);
        chat.countWebSocket(conn);
        log(`open ${path} ${conn.remoteAddress} http/${conn.httpVersion}`);
        serve(conn);
        // Shutdown began during the handshake: the sweeps have been read already.
        if (stopping !== null) conn.close(CloseCode.GoingAway, 'server shutting down').catch(() => {});
      },
      (err: Error) => {
        log(`refused ${path} ${from}: ${err.message}`);
        // Counted until it closes, as a refused chat upgrade is; one destroyed already may have had its 'close'.
        if (socket.destroyed) release(address);
        else countUntilClosed(socket, address);
      },
    );
  };

  /** An HTTP/1.1 upgrade, or the stream of an HTTP/2 extended CONNECT with an empty head. */
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', ignoreError);
    if (upgrades >= maxConnections) {
      // Refused before any route work, so a flood of upgrades costs one write each.
      return rejectUpgrade(socket, 503, `Too many connections: ${upgrades} open, the limit is ${maxConnections}`, { 'Retry-After': '5' });
    }
    const address = clientAddress(req);
    const fromAddress = upgradesByAddress.get(address) ?? 0;
    if (fromAddress >= maxPerIp) {
      return rejectUpgrade(socket, 429, `Too many connections from ${address}: ${fromAddress} open, the limit is ${maxPerIp} per address`, { 'Retry-After': '5' });
    }
    upgrades++;
    upgradesByAddress.set(address, fromAddress + 1);
    const path = pathOf(req);
    // upgrade() settles (at once) before the socket can close: accept takes the count over from here.
    if (path === '/add') return accept(addUpgrader, req, socket, head, address, serveAdd);
    if (path === '/echo') return accept(echoUpgrader, req, socket, head, address, serveEcho);
    countUntilClosed(socket, address);
    if (chat.handleUpgrade(req, socket, head, address)) return;
    rejectUpgrade(socket, 404, `No WebSocket endpoint at ${path}`);
  };
  server.on('upgrade', onUpgrade);
  if (tls !== undefined) {
    server.on('connect', (req: Http2ServerRequest | IncomingMessage, second: Http2ServerResponse | Duplex) => {
      if (req.httpVersionMajor === 2) return onUpgrade(asHttp1(req), (req as Http2ServerRequest).stream, EMPTY);
      // An HTTP/1.1 CONNECT (a proxy tunnel) on the same port: not served.
      (second as Duplex).on('error', () => {});
      rejectUpgrade(second as Duplex, 405, 'CONNECT is not served here', { Allow: 'GET' });
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Node's parser rejected the request (garbage, oversized head: 431, timeout: 408).
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason = status === 431 ? 'Request header fields too large' : status === 408 ? 'Request timed out' : `Bad request: ${err.code ?? err.message}`;
    rejectUpgrade(socket, status, reason);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // The broker is open (SQLite, or Redis reconnecting): close it, or the process cannot exit.
    await chat.shutdown().catch(() => {});
    throw err;
  }
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const warning = tls === undefined ? plainTextWarning(address) : undefined;
  if (warning !== undefined) log(warning);
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${host}:${port}`,
    port,
    async reload() {
      let first: unknown;
      if (options.tls !== undefined) {
        try {
          (server as Http2SecureServer).setSecureContext(readTls(options.tls));
          log(`reload: TLS certificate re-read from ${options.tls.certFile}`);
        } catch (err) {
          log(`reload: keeping the old TLS certificate: ${err instanceof Error ? err.message : String(err)}`);
          first = err;
        }
      }
      try {
        await chat.reload();
      } catch (err) {
        first ??= err;
      }
      if (first !== undefined) throw first;
    },
    connections() {
      return new Promise((resolve, reject) =>
        server.getConnections((err, tcp) => (err ? reject(err) : resolve({ tcp, webSockets: upgrades }))),
      );
    },
    shutdown() {
      stopping ??= (async () => {
        server.close();
        // Every open /add and /echo connection is watched for idleness until its closing begins.
        const closing = [...addIdle.watching(), ...echoIdle.watching()].map((conn) => conn.close(CloseCode.GoingAway, 'server shutting down').catch(() => {}));
        await Promise.all([chat.shutdown(), ...closing]);
        for (const socket of sockets) socket.destroy();
      })();
      return stopping;
    },
  };
}

/**
 * readTls reads the PEM certificate chain and key and checks that they
 * form a usable pair, so a bad file fails at start or reload, not at the
 * first handshake. Throws an Error naming the file.
 */
function readTls(files: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`Cannot read the TLS ${what} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const pair = { cert: read(files.certFile, 'certificate'), key: read(files.keyFile, 'key') };
  try {
    createSecureContext(pair); // throws when the two are malformed or do not match
  } catch (err) {
    throw new Error(`Cannot use the TLS certificate ${files.certFile} with the key ${files.keyFile}: ${(err as Error).message}`, { cause: err });
  }
  return pair;
}

/**
 * plainTextWarning is the start-up warning for a server without TLS that
 * listens on `address`: undefined on a loopback address, where nothing
 * leaves the machine, and a line saying what to do otherwise (`0.0.0.0`
 * and `::` included).
 */
export function plainTextWarning(address: string): string | undefined {
  const loopback = isIP(address) === 4 ? address.startsWith('127.') : address === '::1' || address.startsWith('::ffff:127.');
  if (loopback) return undefined;
  const host = address.includes(':') ? `[${address}]` : address;
  return `warning: serving plain HTTP and WS on ${host}, which is not a loopback address; use --tls-cert and --tls-key, or a TLS proxy in front`;
}

const EMPTY = Buffer.alloc(0);

/** Where a chat, 404 or refused upgrade socket keeps the client address it counts under until it closes. */
const COUNTED_AS = Symbol('wskit-serve.counted-as');
type AddressedSocket = Duplex & { [COUNTED_AS]: string };

/** A socket's errors end in its 'close'; one shared listener keeps them from crashing the process. */
function ignoreError(): void {}

/**
 * asHttp1 lets the routes read an HTTP/2 request as they read an HTTP/1.1
 * one: the compatibility API gives it the same headers, url, method and
 * socket, and its `:authority` becomes the Host header it stands for, as an
 * intermediary forwarding it over HTTP/1.1 would write it (RFC 9113
 * §8.3.1). The Upgrader still sees the HTTP/2 request (`httpVersionMajor`).
 */
function asHttp1(req: IncomingMessage | Http2ServerRequest): IncomingMessage {
  if (req.httpVersionMajor === 2 && req.headers.host === undefined) {
    const authority = req.headers[':authority'];
    if (typeof authority === 'string') req.headers.host = authority;
  }
  return req as IncomingMessage;
}

function pathOf(req: UpgradeRequest): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
