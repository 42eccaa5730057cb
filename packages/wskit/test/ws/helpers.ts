/**
 * Helpers for the wskit/ws tests: servers on 127.0.0.1 port 0 that are torn
 * down after each test, and promises for events with a bounded wait.
 */
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type ClientOptions, WebSocket, WebSocketServer, type ServerOptions } from '../../src/ws/index.js';

type After = { after: (fn: () => unknown) => void };

/** How long any one awaited event may take before the test fails. */
export const WAIT_MS = 5_000;

/**
 * next resolves with the arguments of the next `event` of `emitter`, or
 * rejects after WAIT_MS. Unlike events.once, an 'error' does not reject it:
 * the tests await 'error' and 'close' separately.
 */
export function next(emitter: EventEmitter, event: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`No '${event}' event within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, listener);
  });
}

/** A WebSocketServer listening on 127.0.0.1, port 0, closed (with its clients) after the test. */
export async function listen(t: After, options: Omit<ServerOptions, 'port' | 'server' | 'noServer'> = {}): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  await next(wss, 'listening');
  t.after(() => closeServer(wss));
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

/** Terminate a server's clients and close it. */
export async function closeServer(wss: WebSocketServer): Promise<void> {
  for (const client of wss.clients ?? []) client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

/** A client that is terminated after the test; resolves once open. */
export async function connect(t: After, url: string, protocols?: string | string[], options?: ClientOptions): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  t.after(() => ws.terminate());
  await next(ws, 'open');
  return ws;
}

/** The server side of the next connection to `wss`. */
export async function accepted(wss: WebSocketServer): Promise<WebSocket> {
  const [ws] = await next(wss, 'connection');
  return ws as WebSocket;
}
