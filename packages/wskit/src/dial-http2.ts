/**
 * dial over HTTP/2 (RFC 8441): the WebSocket is one stream of an HTTP/2
 * session, opened by an extended CONNECT and answered by 200, with no
 * Sec-WebSocket-Key or Accept. The steps:
 *
 * 1. Lease a session: the shared one to the origin, or the caller's
 *    (http2-sessions.ts), ready once its SETTINGS allow extended CONNECT.
 * 2. Open a stream with `:method CONNECT`, `:protocol websocket`, `:scheme`,
 *    `:authority`, `:path` and the usual Sec-WebSocket-* fields.
 * 3. On a 2xx answer, check what it agreed and run a Conn over the stream;
 *    on any other, keep the start of the body for the HandshakeError and
 *    reset the stream.
 * 4. Give the session back when the stream closes, however it closes.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import { RST_CANCEL } from './constants.js';
import { Conn } from './conn.js';
import type { DialPlan, DialResult } from './dial.js';
import { abortReason, flattenHeaders, MAX_ERROR_BODY } from './dial-support.js';
import { HandshakeError, TimeoutError } from './errors.js';
import { borrowSession, type Lease, leaseSession } from './http2-sessions.js';
import { buildConnectRequest, checkConnectResponse } from './protocol/connect.js';

/** @internal dialStream opens the WebSocket of `plan` on a stream of an HTTP/2 session. */
export function dialStream(plan: DialPlan): Promise<DialResult> {
  const { target, options, timeout } = plan;
  const signal = options.signal;
  let headers;
  try {
    headers = buildConnectRequest({
      scheme: target.protocol === 'wss:' ? 'https' : 'http',
      authority: target.host,
      path: `${target.pathname}${target.search}`,
      subprotocols: plan.subprotocols,
      compression: plan.compression,
      headers: options.headers,
    });
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const lease: Lease = typeof options.http2 === 'object' ? borrowSession(options.http2) : leaseSession(target, options.tls);

  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream | null = null;
    let settled = false;
    const settle = (err: Error | null, result?: DialResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err === null) return resolve(result!);
      if (stream === null) lease.release();
      else stream.close(RST_CANCEL); // its 'close' gives the session back
      reject(err);
    };
    const timer =
      timeout === 0
        ? undefined
        : setTimeout(() => settle(new TimeoutError(`WebSocket handshake with ${target.host} over HTTP/2 took longer than ${timeout} ms`)), timeout);
    const onAbort = () => settle(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });

    lease.ready.then((session) => {
      if (settled) return;
      try {
        stream = session.request(headers, { endStream: false });
      } catch (err) {
        return settle(err as Error);
      }
      const opened = stream;
      opened.once('close', () => {
        lease.release();
        settle(new HandshakeError(`WebSocket handshake failed: the server closed the HTTP/2 stream before answering (RST_STREAM code ${opened.rstCode ?? 0})`));
      });
      // 'close' follows every stream error; the Conn takes over the stream's errors once open.
      opened.on('error', () => {});
      opened.once('response', (response: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
        if (settled) return;
        const status = Number(response[':status'] ?? 0);
        const check = checkConnectResponse(response, plan.subprotocols, plan.compression);
        if (!check.ok && status >= 200 && status < 300) {
          return settle(new HandshakeError(`WebSocket handshake failed: ${check.reason}`, status, flattenHeaders(response)));
        }
        if (!check.ok) return refused(opened, status, response, settle);
        const conn = new Conn(opened, plan.settings, { deflate: check.deflate, subprotocol: check.protocol, extensions: check.extensions, http2: true });
        settle(null, { conn, response: { status, headers: flattenHeaders(response) } });
      });
    }, (err: Error) => settle(err));
  });
}

/** Any answer but 2xx: keep a bounded part of the body for the HandshakeError, as dial does over HTTP/1.1. */
function refused(stream: ClientHttp2Stream, status: number, response: IncomingHttpHeaders, settle: (err: Error) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const finish = () => {
    const body = Buffer.concat(chunks).toString('utf8');
    settle(new HandshakeError(`WebSocket handshake failed: server answered ${status}`, status, flattenHeaders(response), body));
  };
  stream.on('data', (chunk: Buffer) => {
    if (size < MAX_ERROR_BODY) chunks.push(chunk.subarray(0, MAX_ERROR_BODY - size));
    size += chunk.length;
    if (size >= MAX_ERROR_BODY) finish();
  });
  stream.once('end', finish);
  // A stream reset mid-body ends the dial with what came.
  stream.prependOnceListener('close', finish);
}
