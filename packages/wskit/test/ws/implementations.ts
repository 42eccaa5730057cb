/**
 * The ws-style implementations the wskit/ws tests run against: wskit/ws
 * itself, and the npm `ws` package, which shows that a test expects what ws
 * does. Both are typed with ws's own declarations, the contract wskit/ws
 * follows.
 */
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import * as ws from 'ws';

/** WsModule is the part of a ws-style module the tests use. */
export interface WsModule {
  WebSocket: typeof ws.WebSocket;
  WebSocketServer: typeof ws.WebSocketServer;
}

/** Implementation is one module under test, or the reason it cannot be tested yet. */
export interface Implementation {
  name: 'ws' | 'wskit/ws';
  load(): Promise<WsModule | { missing: string }>;
}

/** The npm `ws` package. */
export const npmWs: Implementation = {
  name: 'ws',
  load: async () => ws,
};

/** wskit/ws, loaded from this package's build; `missing` says which exports are absent. */
export const wskitWs: Implementation = {
  name: 'wskit/ws',
  async load() {
    const mod = (await import('../../src/ws/index.js')) as Record<string, unknown>;
    const absent = ['WebSocket', 'WebSocketServer'].filter((name) => typeof mod[name] !== 'function');
    if (absent.length > 0) return { missing: `wskit/ws does not export ${absent.join(' or ')} yet` };
    return mod as unknown as WsModule;
  },
};

/**
 * selectedImplementations lists the implementations named in the environment
 * variable `WSKIT_WS_IMPLS` (comma-separated: `ws`, `wskit/ws`), or
 * `fallback` when it is unset. The consumer tests run only wskit/ws in
 * `npm test`; `WSKIT_WS_IMPLS=ws,wskit/ws` checks them against ws as well.
 */
export function selectedImplementations(fallback: Implementation[]): Implementation[] {
  const names = process.env.WSKIT_WS_IMPLS?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names) return fallback;
  const all = [npmWs, wskitWs];
  for (const name of names) {
    if (!all.some((impl) => impl.name === name)) throw new RangeError(`Unknown WSKIT_WS_IMPLS entry "${name}": expected ws or wskit/ws`);
  }
  return all.filter((impl) => names.includes(impl.name));
}

/** HttpServer is an http.Server listening on 127.0.0.1, with its port and a stop that drops every connection. */
export interface HttpServer {
  server: http.Server;
  port: number;
  stop(): Promise<void>;
}

/** listen starts an http.Server on 127.0.0.1, port 0 (answering 404 to plain requests unless `handler` is given). */
export async function listen(handler?: http.RequestListener): Promise<HttpServer> {
  const server = http.createServer(handler ?? ((_req, res) => res.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** withTimeout rejects when `promise` has not settled within `ms`, naming `what`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
