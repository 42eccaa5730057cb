/**
 * The load generator's HTTP/2 client for the h2 row: one h2c session to
 * the server, and on it one WebSocket per stream opened with a hand-written
 * extended CONNECT (RFC 8441). Frames are the raw client's: pre-encoded,
 * masked, read without keeping payloads.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { type FrameHandler, FrameReader, maskedFrame } from './raw-client.js';

/** openSession connects to 127.0.0.1:`port` over h2c and resolves once the server's SETTINGS allow extended CONNECT. */
export function openSession(port: number): Promise<ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no HTTP/2 SETTINGS from 127.0.0.1:${port} within 10 s`));
    }, 10_000);
    session.once('remoteSettings', (settings) => {
      clearTimeout(timer);
      if (settings.enableConnectProtocol) resolve(session);
      else reject(new Error(`127.0.0.1:${port} does not allow extended CONNECT`));
    });
    session.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * openStream opens a WebSocket to `path` as a stream of `session` and
 * resolves after the 200. Data frames go to `onData`; pings are answered and
 * a close frame is answered and the stream ended.
 */
export function openStream(session: ClientHttp2Session, path: string, onData: FrameHandler): Promise<ClientHttp2Stream> {
  const stream = session.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path, 'sec-websocket-version': '13' },
    { endStream: false },
  );
  const reader = new FrameReader(false, (fin, opcode, payload, length, rsv1) => {
    if (opcode === 0x9) stream.write(maskedFrame(0xa, payload!));
    else if (opcode === 0x8) stream.end(maskedFrame(0x8, payload!.subarray(0, 2)));
    else if (opcode < 0x8) onData(fin, opcode, payload, length, rsv1);
  });
  return new Promise((resolve, reject) => {
    stream.once('response', (headers) => {
      if (headers[':status'] !== 200) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`extended CONNECT refused: ${headers[':status']}`));
        return;
      }
      stream.on('data', (chunk: Buffer) => reader.push(chunk));
      resolve(stream);
    });
    stream.once('error', reject);
  });
}
