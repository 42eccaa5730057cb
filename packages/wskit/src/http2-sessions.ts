/**
 * The HTTP/2 sessions `dial` opens WebSockets on (RFC 8441): one per origin
 * and TLS settings, shared by every WebSocket dialled there while any is
 * open, and closed when the last one ends, so an idle client holds no
 * connection and a program exits when its work is done. A session the caller
 * passes in is used as it is and never closed here.
 *
 * A session is ready once the server's SETTINGS have come and allow extended
 * CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3); otherwise the
 * dial fails with {@link Http2Unavailable}, which `http1Fallback` turns into
 * a dial over HTTP/1.1.
 */
import { createHash } from 'node:crypto';
import http2, { type ClientHttp2Session, type Settings } from 'node:http2';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { HandshakeError } from './errors.js';

/**
 * @internal Http2Unavailable is the HandshakeError of a server that cannot
 * carry a WebSocket over HTTP/2: it does not speak HTTP/2 at all (TLS found
 * no common protocol by ALPN, or the answer to the connection preface was
 * not HTTP/2), or its SETTINGS do not allow extended CONNECT.
 */
export class Http2Unavailable extends HandshakeError {}

/** @internal A session to open WebSockets on, and the promise to give it back. */
export interface Lease {
  /** The session, once its server allows extended CONNECT; rejects otherwise. */
  readonly ready: Promise<ClientHttp2Session>;
  /** Gives the session back (once the dial failed, or its stream closed); later calls do nothing. */
  release(): void;
}

/** A pooled session and how many dials and WebSockets use it. */
interface Entry {
  readonly key: string;
  readonly session: ClientHttp2Session;
  readonly ready: Promise<ClientHttp2Session>;
  users: number;
}

const pool = new Map<string, Entry>();

/**
 * leaseSession lends the pooled session to `target`'s origin with `tls`
 * (wss:, ALPN h2) or without (ws:, h2c with prior knowledge), opening one
 * when there is none.
 */
export function leaseSession(target: URL, tls: TlsOptions | undefined): Lease {
  const secure = target.protocol === 'wss:';
  const origin = `${secure ? 'https' : 'http'}://${target.host}`;
  const key = secure ? `${origin} ${tlsKey(tls)}` : origin;
  let entry = pool.get(key);
  if (entry === undefined) {
    entry = open(key, origin, secure ? tls : undefined);
    pool.set(key, entry);
  }
  const leased = entry;
  leased.users++;
  let released = false;
  return {
    ready: leased.ready,
    release() {
      if (released) return;
      released = true;
      if (--leased.users === 0) retire(leased);
    },
  };
}

/**
 * borrowSession lends the caller's own session: ready once its server's
 * SETTINGS are known and allow extended CONNECT. Releasing it does nothing.
 */
export function borrowSession(session: ClientHttp2Session): Lease {
  return { ready: settled(session), release() {} };
}

async function settled(session: ClientHttp2Session): Promise<ClientHttp2Session> {
  if (session.closed || session.destroyed) throw new HandshakeError('Cannot dial over HTTP/2: the session given is closed');
  if (session.connecting) await onceConnected(session);
  if (!allowsConnect(session)) {
    // Before the server's SETTINGS arrive Node shows the defaults. A ping's answer comes after them:
    // SETTINGS is the first frame a server sends (RFC 9113 §3.4), so once it returns they are known.
    await new Promise<void>((resolve, reject) => {
      if (!session.ping((err) => (err ? reject(err) : resolve()))) reject(new HandshakeError('Cannot dial over HTTP/2: the session has too many pings in flight'));
    });
    if (!allowsConnect(session)) throw noConnectProtocol(originOf(session));
  }
  return session;
}

function allowsConnect(session: ClientHttp2Session): boolean {
  return session.remoteSettings.enableConnectProtocol === true;
}

function onceConnected(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      session.off('connect', onConnect);
      session.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = () => done();
    session.once('connect', onConnect);
    session.once('error', done);
  });
}

function open(key: string, origin: string, tls: TlsOptions | undefined): Entry {
  const session = http2.connect(origin, { ...tls, settings: { enablePush: false } });
  // Failures reach dials through `ready`, and open WebSockets through their streams' 'close'.
  session.on('error', () => {});
  const ready = new Promise<ClientHttp2Session>((resolve, reject) => {
    const onSettings = (settings: Settings) => {
      cleanup();
      if (settings.enableConnectProtocol === true) resolve(session);
      else reject(noConnectProtocol(origin));
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(notHttp2(err) ? new Http2Unavailable(`Cannot dial over HTTP/2: ${origin} does not speak HTTP/2 (${err.message})`) : err);
    };
    const onClose = () => {
      cleanup();
      reject(new Http2Unavailable(`Cannot dial over HTTP/2: ${origin} closed the connection before sending its HTTP/2 settings`));
    };
    const cleanup = () => {
      session.off('remoteSettings', onSettings);
      session.off('error', onError);
      session.off('close', onClose);
    };
    session.once('remoteSettings', onSettings);
    session.once('error', onError);
    session.once('close', onClose);
  });
  ready.catch(() => {}); // a dial may give up (timeout, abort) before it settles
  const entry: Entry = { key, session, ready, users: 0 };
  // A session going away takes no new streams: later dials open a new one.
  const forget = () => {
    if (pool.get(key) === entry) pool.delete(key);
  };
  session.once('goaway', forget);
  session.once('close', forget);
  ready.catch(forget);
  return entry;
}

/** The last user gave the session back: close it (gracefully, though no stream is left). */
function retire(entry: Entry): void {
  if (pool.get(entry.key) === entry) pool.delete(entry.key);
  if (!entry.session.closed) entry.session.close();
}

/** Errors that say the peer is there but does not speak HTTP/2; others (refused, unreachable, a bad certificate) pass as they are. */
function notHttp2(err: NodeJS.ErrnoException): boolean {
  return (typeof err.code === 'string' && err.code.startsWith('ERR_HTTP2_')) || err.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';
}

function noConnectProtocol(origin: string): Http2Unavailable {
  return new Http2Unavailable(
    `Cannot dial over HTTP/2: ${origin} does not allow extended CONNECT (no SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3); ` +
      'make its server with settings: { enableConnectProtocol: true }, or pass http1Fallback: true',
  );
}

function originOf(session: ClientHttp2Session): string {
  const socket = session.socket as { remoteAddress?: string; remotePort?: number } | undefined;
  return socket?.remoteAddress === undefined ? 'the server' : `${socket.remoteAddress}:${socket.remotePort ?? ''}`;
}

/** Ids of the functions and objects in TLS options, which cannot be written into a key. */
const identities = new WeakMap<object, number>();
let nextIdentity = 0;

/**
 * tlsKey is a digest of TLS options, so dials with equal settings share a
 * session and dials with other certificates or checks do not. Strings,
 * numbers and bytes count by value, functions and other objects by identity.
 */
function tlsKey(tls: TlsOptions | undefined): string {
  if (tls === undefined) return '';
  const text = JSON.stringify(tls, (_name, value: unknown) => {
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('base64')}`;
    if (typeof value === 'function' || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype)) {
      let id = identities.get(value);
      if (id === undefined) identities.set(value, (id = ++nextIdentity));
      return `object:${id}`;
    }
    return value;
  });
  return createHash('sha256').update(text).digest('base64');
}
