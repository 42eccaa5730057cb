/**
 * ws's `perMessageDeflate` option object, negotiated with wskit's header
 * parser and turned into the {@link DeflateParams} a Conn compresses with.
 * Kept apart from the core's negotiation because ws answers and refuses
 * offers by its own rules (a server with compression on refuses a handshake
 * whose offers it cannot accept).
 */
import type { DeflateParams, ExtensionOffer } from '../protocol/extensions.js';

/** ws's permessage-deflate settings; what wskit does with each is noted. */
export interface PerMessageDeflateOptions {
  /** Server: do not keep the compression context between messages. Client: ask the server not to. */
  serverNoContextTakeover?: boolean;
  /** Client: do not keep the compression context. Server: ask (acknowledge) the client not to. */
  clientNoContextTakeover?: boolean;
  /** The server's window bits (8–15); `false` refuses offers that set it. */
  serverMaxWindowBits?: number | boolean;
  /** The client's window bits (8–15); `true` (client) offers the parameter without a value. */
  clientMaxWindowBits?: number | boolean;
  /** Only `level` is used (default 1 in wskit, where ws uses zlib's 6); the rest is ignored. */
  zlibDeflateOptions?: {
    /** zlib's compression level, 0–9. */
    level?: number;
    /** Other zlib options: ignored. */
    [key: string]: unknown;
  };
  /** Ignored: wskit inflates with a 15-bit window and its own size limit. */
  zlibInflateOptions?: Record<string, unknown>;
  /** Messages shorter than this are sent uncompressed. Default 1024. */
  threshold?: number;
  /** Ignored: wskit inflates small messages at once and the rest on zlib's thread pool. */
  concurrencyLimit?: number;
}

const NAME = 'permessage-deflate';

type Params = {
  server_no_context_takeover?: true;
  client_no_context_takeover?: true;
  server_max_window_bits?: number;
  client_max_window_bits?: number | true;
};

/** Check and convert one offer's or answer's parameters; null when one is unknown or invalid. */
function normalize(raw: Record<string, string | true>, isServer: boolean): Params | null {
  if ('\0duplicate' in raw) return null;
  const out: Params = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'server_no_context_takeover' || key === 'client_no_context_takeover') {
      if (value !== true) return null;
      out[key] = true;
    } else if (key === 'server_max_window_bits' || key === 'client_max_window_bits') {
      if (value === true) {
        // Only a client's offer may give client_max_window_bits without a value.
        if (key === 'server_max_window_bits' || !isServer) return null;
        out.client_max_window_bits = true;
        continue;
      }
      const bits = Number(value);
      if (!Number.isInteger(bits) || bits < 8 || bits > 15) return null;
      out[key] = bits;
    } else {
      return null;
    }
  }
  return out;
}

function format(params: Params): string {
  const parts = [NAME];
  if (params.server_no_context_takeover) parts.push('server_no_context_takeover');
  if (params.client_no_context_takeover) parts.push('client_no_context_takeover');
  if (params.server_max_window_bits !== undefined) parts.push(`server_max_window_bits=${params.server_max_window_bits}`);
  if (params.client_max_window_bits === true) parts.push('client_max_window_bits');
  else if (params.client_max_window_bits !== undefined) parts.push(`client_max_window_bits=${params.client_max_window_bits}`);
  return parts.join('; ');
}

/** The client's offer for `options`, as ws writes it. */
export function clientOffer(options: PerMessageDeflateOptions): string {
  const params: Params = {};
  if (options.serverNoContextTakeover) params.server_no_context_takeover = true;
  if (options.clientNoContextTakeover) params.client_no_context_takeover = true;
  if (typeof options.serverMaxWindowBits === 'number') params.server_max_window_bits = options.serverMaxWindowBits;
  if (typeof options.clientMaxWindowBits === 'number') params.client_max_window_bits = options.clientMaxWindowBits;
  else if (options.clientMaxWindowBits !== false) params.client_max_window_bits = true;
  return format(params);
}

/**
 * The server's answer to the client's permessage-deflate offers: the agreed
 * parameters, null when the client offered none, or 'invalid' when an offer
 * is malformed or none can be accepted (ws then refuses the handshake, 400).
 */
export function serverAccept(offers: ExtensionOffer[], options: PerMessageDeflateOptions): DeflateParams | null | 'invalid' {
  const candidates: Params[] = [];
  for (const offer of offers) {
    if (offer.name !== NAME) continue;
    const params = normalize(offer.params, true);
    if (params === null) return 'invalid';
    candidates.push(params);
  }
  if (candidates.length === 0) return null;
  const accepted = candidates.find(
    (p) =>
      !(options.serverNoContextTakeover === false && p.server_no_context_takeover) &&
      !(
        p.server_max_window_bits !== undefined &&
        (options.serverMaxWindowBits === false ||
          (typeof options.serverMaxWindowBits === 'number' && options.serverMaxWindowBits > p.server_max_window_bits))
      ) &&
      !(typeof options.clientMaxWindowBits === 'number' && p.client_max_window_bits === undefined),
  );
  if (accepted === undefined) return 'invalid';
  const answer: Params = { ...accepted };
  if (options.serverNoContextTakeover) answer.server_no_context_takeover = true;
  if (options.clientNoContextTakeover) answer.client_no_context_takeover = true;
  if (typeof options.serverMaxWindowBits === 'number') answer.server_max_window_bits = options.serverMaxWindowBits;
  if (typeof options.clientMaxWindowBits === 'number') answer.client_max_window_bits = options.clientMaxWindowBits;
  else if (answer.client_max_window_bits === true || options.clientMaxWindowBits === false) delete answer.client_max_window_bits;
  return {
    windowBits: answer.server_max_window_bits ?? 15,
    noContextTakeover: answer.server_no_context_takeover === true,
    peerNoContextTakeover: answer.client_no_context_takeover === true,
    header: format(answer),
  };
}

/** The client's check of the server's answer: the agreed parameters, or why the answer is refused. */
export function clientAccept(answer: ExtensionOffer, options: PerMessageDeflateOptions): DeflateParams | string {
  const params = normalize(answer.params, false);
  if (params === null) return 'invalid parameters';
  if (options.clientNoContextTakeover === false && params.client_no_context_takeover) {
    return 'unexpected client_no_context_takeover';
  }
  let clientBits: number;
  if (params.client_max_window_bits === undefined) {
    clientBits = typeof options.clientMaxWindowBits === 'number' ? options.clientMaxWindowBits : 15;
  } else {
    const bits = params.client_max_window_bits as number;
    if (options.clientMaxWindowBits === false || (typeof options.clientMaxWindowBits === 'number' && bits > options.clientMaxWindowBits)) {
      return 'unexpected or invalid client_max_window_bits';
    }
    clientBits = bits;
  }
  return {
    windowBits: clientBits,
    noContextTakeover: params.client_no_context_takeover === true,
    peerNoContextTakeover: params.server_no_context_takeover === true,
    header: format(params),
  };
}
