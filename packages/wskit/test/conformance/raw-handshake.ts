/**
 * The opening handshake done by hand (RFC 6455 §4), for the raw fuzzer on
 * either side, and permessage-deflate offers and answers as a case asks for
 * them (RFC 7692 §7.1). Written apart from src/protocol/handshake.ts so the
 * fuzzer does not trust the code it tests.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AgreedDeflate } from './fuzzer.js';
import { withTimeout } from './fuzzer.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 16 * 1024;

/** permessage-deflate parameters a case negotiates; unset ones are left out. */
export interface DeflateCase {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
}

/** acceptFor computes Sec-WebSocket-Accept for a key. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** An HTTP head read off a raw socket. */
export interface RawHead {
  /** The first line: request line or status line. */
  startLine: string;
  /** Header values by lower-case name, repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Bytes read after the head (the first frames). */
  leftover: Buffer;
}

/** readHead reads an HTTP head (up to the blank line) from a socket, bounded in size and time. */
export async function readHead(socket: Socket, timeoutMs: number): Promise<RawHead> {
  const read = new Promise<RawHead>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEAD) finish(new Error(`HTTP head over ${MAX_HEAD} bytes`));
        return;
      }
      socket.pause();
      const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      finish(null, { startLine: lines[0]!, headers, leftover: buffered.subarray(end + 4) });
    };
    const onEnd = () => finish(new Error('Connection closed during the handshake'));
    const finish = (err: Error | null, head?: RawHead) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (err) reject(err);
      else resolve(head!);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.resume();
  });
  // The socket stays paused: the FrameReader resumes it once it listens, so no frame is lost.
  return withTimeout(read, timeoutMs, 'the HTTP handshake');
}

/** One parsed extension: name and parameters (true for a parameter without a value). */
export interface Extension {
  name: string;
  params: Record<string, string | true>;
}

/** parseExtensionHeader splits a Sec-WebSocket-Extensions value. */
export function parseExtensionHeader(value: string | undefined): Extension[] {
  if (!value) return [];
  return value.split(',').map((item) => {
    const [name, ...params] = item.split(';').map((s) => s.trim());
    const record: Record<string, string | true> = {};
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0) record[param.toLowerCase()] = true;
      else record[param.slice(0, eq).trim().toLowerCase()] = param.slice(eq + 1).trim().replace(/^"|"$/g, '');
    }
    return { name: name!.toLowerCase(), params: record };
  });
}

/** deflateParams lists a case's parameters as header text ("permessage-deflate; server_no_context_takeover"). */
export function deflateParams(c: DeflateCase): string {
  const parts = ['permessage-deflate'];
  if (c.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (c.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (c.serverMaxWindowBits !== undefined) parts.push(`server_max_window_bits=${c.serverMaxWindowBits}`);
  if (c.clientMaxWindowBits !== undefined) parts.push(`client_max_window_bits=${c.clientMaxWindowBits}`);
  return parts.join('; ');
}

/**
 * agreeAsClient checks a server's answer to our offer `c` (RFC 7692 §7.1)
 * and derives what each side compresses with. Throws when the server
 * declined or answered beyond the offer.
 */
export function agreeAsClient(answerHeader: string | undefined, c: DeflateCase): AgreedDeflate {
  const answers = parseExtensionHeader(answerHeader);
  if (answers.length !== 1 || answers[0]!.name !== 'permessage-deflate') {
    throw new Error(`Server did not accept permessage-deflate (answered ${JSON.stringify(answerHeader ?? '')})`);
  }
  const p = answers[0]!.params;
  if (c.serverNoContextTakeover && p.server_no_context_takeover !== true) {
    throw new Error('Server ignored the requested server_no_context_takeover');
  }
  const serverBits = p.server_max_window_bits === undefined ? 15 : Number(p.server_max_window_bits);
  if (c.serverMaxWindowBits !== undefined && !(serverBits <= c.serverMaxWindowBits)) {
    throw new Error(`Server answered server_max_window_bits=${String(p.server_max_window_bits)} to an offer of ${c.serverMaxWindowBits}`);
  }
  if (p.client_max_window_bits !== undefined && c.clientMaxWindowBits === undefined) {
    throw new Error('Server answered client_max_window_bits that was not offered');
  }
  const clientBits = p.client_max_window_bits === undefined ? (c.clientMaxWindowBits ?? 15) : Number(p.client_max_window_bits);
  return {
    own: { windowBits: clientBits, noContext: p.client_no_context_takeover === true || (c.clientNoContextTakeover ?? false) },
    peer: { windowBits: serverBits, noContext: p.server_no_context_takeover === true },
  };
}

/**
 * agreeAsServer answers a client's offer with exactly the case's parameters
 * and derives what each side compresses with. Throws when the client did not
 * offer permessage-deflate, or did not offer client_max_window_bits that the
 * case needs to answer.
 */
export function agreeAsServer(offerHeader: string | undefined, c: DeflateCase): { header: string; agreed: AgreedDeflate } {
  const offer = parseExtensionHeader(offerHeader).find((e) => e.name === 'permessage-deflate');
  if (!offer) throw new Error(`Client did not offer permessage-deflate (offered ${JSON.stringify(offerHeader ?? '')})`);
  if (c.clientMaxWindowBits !== undefined && offer.params.client_max_window_bits === undefined) {
    throw new Error('Client did not offer client_max_window_bits, so the case cannot answer it');
  }
  return {
    header: deflateParams(c),
    agreed: {
      own: { windowBits: c.serverMaxWindowBits ?? 15, noContext: c.serverNoContextTakeover ?? false },
      peer: { windowBits: c.clientMaxWindowBits ?? 15, noContext: c.clientNoContextTakeover ?? false },
    },
  };
}
