/**
 * The fuzzer as a raw TCP client: connects to a wskit server, performs the
 * opening handshake by hand and hands the socket to a {@link Fuzzer}.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Fuzzer, withTimeout } from './fuzzer.js';
import { acceptFor, agreeAsClient, type DeflateCase, deflateParams, readHead } from './raw-handshake.js';

/** openClientFuzzer connects to `url` (ws://127.0.0.1:port/path), offering `deflate` when set. */
export async function openClientFuzzer(url: string, deflate: DeflateCase | undefined, timeoutMs: number): Promise<Fuzzer> {
  const target = new URL(url);
  const socket: Socket = connect({ host: target.hostname, port: Number(target.port) });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      timeoutMs,
      `a TCP connection to ${target.host}`,
    );
    const key = randomBytes(16).toString('base64');
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
    ];
    if (deflate) lines.push(`Sec-WebSocket-Extensions: ${deflateParams(deflate)}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    const head = await readHead(socket, timeoutMs);
    if (!/^HTTP\/1\.1 101 /.test(head.startLine)) throw new Error(`Server refused the handshake: ${head.startLine}`);
    if (head.headers['sec-websocket-accept'] !== acceptFor(key)) throw new Error('Server sent a wrong Sec-WebSocket-Accept');
    if (!deflate && head.headers['sec-websocket-extensions']) {
      throw new Error(`Server answered extensions that were not offered: ${head.headers['sec-websocket-extensions']}`);
    }
    const agreed = deflate ? agreeAsClient(head.headers['sec-websocket-extensions'], deflate) : null;
    return new Fuzzer(socket, 'client', head.leftover, agreed, timeoutMs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
