/**
 * The fuzzer as a raw HTTP/2 client (RFC 8441): an extended CONNECT written
 * by hand on a node:http2 session, its stream handed to a {@link Fuzzer}.
 * The frames on the stream are the same bytes a TCP connection would carry,
 * so every case runs unchanged; END_STREAM plays TCP's FIN.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { Fuzzer, withTimeout } from './fuzzer.js';
import { agreeAsClient, type DeflateCase, deflateParams } from './raw-handshake.js';

/** connectSession opens an h2c session to `url`'s origin and waits for the server's SETTINGS, which must allow extended CONNECT. */
export async function connectSession(url: string, timeoutMs: number): Promise<ClientHttp2Session> {
  const session = http2.connect(new URL(url).origin.replace(/^ws/, 'http'));
  session.on('error', () => {});
  const settings = await withTimeout(
    new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    }),
    timeoutMs,
    'the server\'s HTTP/2 SETTINGS',
  );
  if (settings.enableConnectProtocol !== true) {
    session.destroy();
    throw new Error('The server does not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)');
  }
  return session;
}

/** openStreamFuzzer opens a WebSocket to `url` as a stream of `session`, offering `deflate` when set. */
export async function openStreamFuzzer(session: ClientHttp2Session, url: string, deflate: DeflateCase | undefined, timeoutMs: number): Promise<Fuzzer> {
  const target = new URL(url);
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':authority': target.host,
    ':path': `${target.pathname}${target.search}`,
    'sec-websocket-version': '13',
  };
  if (deflate) headers['sec-websocket-extensions'] = deflateParams(deflate);
  const stream: ClientHttp2Stream = session.request(headers, { endStream: false });
  stream.on('error', () => {});
  try {
    const response = await withTimeout(
      new Promise<IncomingHttpHeaders>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('close', () => reject(new Error(`The stream closed before an answer (RST_STREAM ${stream.rstCode})`)));
      }),
      timeoutMs,
      'the answer to the extended CONNECT',
    );
    if (Number(response[':status']) !== 200) throw new Error(`Server refused the extended CONNECT: ${response[':status']}`);
    if (response['sec-websocket-accept'] !== undefined) throw new Error('Server sent Sec-WebSocket-Accept, which RFC 8441 §5 leaves out');
    const answered = response['sec-websocket-extensions'] as string | undefined;
    if (!deflate && answered) throw new Error(`Server answered extensions that were not offered: ${answered}`);
    const agreed = deflate ? agreeAsClient(answered, deflate) : null;
    return new Fuzzer(stream, 'client', Buffer.alloc(0), agreed, timeoutMs);
  } catch (err) {
    stream.close(http2.constants.NGHTTP2_CANCEL);
    throw err;
  }
}
