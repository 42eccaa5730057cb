/**
 * permessage-deflate negotiation (RFC 7692 §7), over plain header values.
 * Which side compresses with which window is decided here; the compression
 * itself lives in src/deflate.ts.
 */

/** One extension offer or answer: a name and its parameters. */
export interface ExtensionOffer {
  /** The extension's token, e.g. `permessage-deflate`. */
  name: string;
  /** Parameter values; `true` for a parameter given without a value. */
  params: Record<string, string | true>;
}

/**
 * Settings for permessage-deflate, for `Upgrader` and `dial`. They are
 * checked with the other options: an unknown name or a wrong type throws
 * TypeError, a number out of range RangeError.
 */
export interface DeflateOptions {
  /** Reset our compressor after every message (less memory, worse ratio). Default: true for `Upgrader` (`Defaults.serverNoContextTakeover`), false for `dial`. */
  noContextTakeover?: boolean;
  /** Ask the peer to reset its compressor after every message. Default false. */
  requestNoContextTakeover?: boolean;
  /**
   * Our compressor's window, 8–15 bits (RFC 7692 §7.1.2). Default 15. zlib's
   * smallest raw window is 9, so at 8 our messages are sent uncompressed.
   */
  maxWindowBits?: number;
  /**
   * Messages smaller than this many bytes are sent uncompressed, 0 (compress
   * every message) to 2147483647. Default 1024 (`Defaults.compressionThreshold`).
   */
  threshold?: number;
  /** zlib level, 0 (no compression) to 9. Default 1: fast, as most of the gain comes early. */
  level?: number;
}

/** What was agreed: how this side compresses what it sends. */
export interface DeflateParams {
  /** Window bits of our compressor. */
  windowBits: number;
  /** Reset our compressor after each message. */
  noContextTakeover: boolean;
  /** The peer resets its compressor after each message, so each of its messages inflates on its own. */
  peerNoContextTakeover: boolean;
  /** The agreed `Sec-WebSocket-Extensions` value. */
  header: string;
}

/** @internal An HTTP token (RFC 9110 §5.6.2): extension names and parameters, subprotocol names, header names. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * parseExtensions parses a `Sec-WebSocket-Extensions` value into offers, in
 * order. Returns null when the header is malformed.
 */
export function parseExtensions(header: string): ExtensionOffer[] | null {
  const offers: ExtensionOffer[] = [];
  for (const item of splitOutsideQuotes(header, ',')) {
    if (item.trim() === '') continue;
    const [nameRaw, ...paramsRaw] = splitOutsideQuotes(item, ';');
    const name = nameRaw!.trim().toLowerCase();
    if (!TOKEN.test(name)) return null;
    const params: Record<string, string | true> = Object.create(null);
    for (const param of paramsRaw) {
      const eq = param.indexOf('=');
      const key = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
      if (!TOKEN.test(key)) return null;
      let value: string | true = true;
      if (eq >= 0) {
        value = param.slice(eq + 1).trim();
        if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
        if (!TOKEN.test(value)) return null;
      }
      // RFC 7692 §7: an offer with a parameter twice is declined; mark it.
      if (key in params) params['\0duplicate'] = true;
      params[key] = value;
    }
    offers.push({ name, params });
  }
  return offers;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function windowBits(value: string | true | undefined): number | null {
  if (typeof value !== 'string' || !/^\d{1,2}$/.test(value)) return null;
  const bits = Number(value);
  return bits >= 8 && bits <= 15 ? bits : null;
}

const KNOWN = new Set([
  'server_no_context_takeover',
  'client_no_context_takeover',
  'server_max_window_bits',
  'client_max_window_bits',
]);

/**
 * acceptDeflateOffer is the server side: pick the first acceptable
 * permessage-deflate offer and answer it (RFC 7692 §5, §7.1). Returns null
 * when no offer is acceptable, so the connection goes on uncompressed.
 */
export function acceptDeflateOffer(offers: ExtensionOffer[], options: DeflateOptions = {}): DeflateParams | null {
  for (const offer of offers) {
    if (offer.name !== 'permessage-deflate') continue;
    const p = offer.params;
    if ('\0duplicate' in p || Object.keys(p).some((k) => !KNOWN.has(k))) continue;
    if (p.server_no_context_takeover !== undefined && p.server_no_context_takeover !== true) continue;
    if (p.client_no_context_takeover !== undefined && p.client_no_context_takeover !== true) continue;
    let serverBits = options.maxWindowBits ?? 15;
    if (p.server_max_window_bits !== undefined) {
      const bits = windowBits(p.server_max_window_bits);
      if (bits === null) continue;
      // At 8 bits the server sends uncompressed (zlib's smallest raw window is 9; Conn decides per message).
      serverBits = Math.min(serverBits, bits);
    }
    let clientBits: number | null = null;
    if (p.client_max_window_bits !== undefined) {
      if (p.client_max_window_bits !== true && windowBits(p.client_max_window_bits) === null) continue;
      clientBits = p.client_max_window_bits === true ? 15 : windowBits(p.client_max_window_bits);
    }
    const serverNoContext = p.server_no_context_takeover === true || (options.noContextTakeover ?? false);
    const parts = ['permessage-deflate'];
    if (serverNoContext) parts.push('server_no_context_takeover');
    const clientNoContext = options.requestNoContextTakeover === true || p.client_no_context_takeover === true;
    if (clientNoContext) parts.push('client_no_context_takeover');
    if (p.server_max_window_bits !== undefined || serverBits < 15) parts.push(`server_max_window_bits=${serverBits}`);
    if (clientBits !== null && clientBits < 15) parts.push(`client_max_window_bits=${clientBits}`);
    return { windowBits: serverBits, noContextTakeover: serverNoContext, peerNoContextTakeover: clientNoContext, header: parts.join('; ') };
  }
  return null;
}

/** deflateOfferHeader is the client's offer for {@link DeflateOptions}. */
export function deflateOfferHeader(options: DeflateOptions = {}): string {
  const parts = ['permessage-deflate', 'client_max_window_bits'];
  if (options.requestNoContextTakeover) parts.push('server_no_context_takeover');
  if (options.noContextTakeover) parts.push('client_no_context_takeover');
  return parts.join('; ');
}

/**
 * acceptDeflateAnswer is the client side: check the server's answer against
 * our offer (RFC 7692 §7.1) and return how we must compress, or an error
 * message when the answer is not one we may accept.
 */
export function acceptDeflateAnswer(
  answer: ExtensionOffer,
  options: DeflateOptions = {},
): DeflateParams | string {
  const p = answer.params;
  if ('\0duplicate' in p) return 'permessage-deflate answer repeats a parameter';
  for (const key of Object.keys(p)) {
    if (!KNOWN.has(key)) return `permessage-deflate answer has unknown parameter ${key}`;
  }
  if (p.server_no_context_takeover !== undefined && p.server_no_context_takeover !== true) {
    return 'server_no_context_takeover takes no value';
  }
  if (p.client_no_context_takeover !== undefined && p.client_no_context_takeover !== true) {
    return 'client_no_context_takeover takes no value';
  }
  if (p.server_max_window_bits !== undefined && windowBits(p.server_max_window_bits) === null) {
    return `invalid server_max_window_bits ${String(p.server_max_window_bits)}`;
  }
  if (options.requestNoContextTakeover && p.server_no_context_takeover !== true) {
    return 'server did not accept server_no_context_takeover';
  }
  let clientBits = options.maxWindowBits ?? 15;
  if (p.client_max_window_bits !== undefined) {
    const bits = windowBits(p.client_max_window_bits);
    if (bits === null) return `invalid client_max_window_bits ${String(p.client_max_window_bits)}`;
    // Offering client_max_window_bits told the server any value 8–15 is fine (RFC 7692 §7.1.2.2).
    // zlib cannot compress with an 8-bit window, so at 8 the client sends its messages uncompressed.
    clientBits = Math.min(clientBits, bits);
  }
  const noContext = p.client_no_context_takeover === true || (options.noContextTakeover ?? false);
  return {
    windowBits: clientBits,
    noContextTakeover: noContext,
    peerNoContextTakeover: p.server_no_context_takeover === true,
    header: formatOffer(answer),
  };
}

function formatOffer(offer: ExtensionOffer): string {
  const parts = [offer.name];
  for (const [k, v] of Object.entries(offer.params)) parts.push(v === true ? k : `${k}=${v}`);
  return parts.join('; ');
}
