/**
 * Who may connect to the chat's `/ws`, and as whom: JSON Web Tokens
 * (RFC 7519) checked with `jose`. The only file of the chat that imports it.
 *
 * Keys come from one of two files:
 * - an HMAC key (`--auth-secret-file`): the file's bytes, less one trailing
 *   `\n` or `\r\n` so `echo KEY > file` works; at least 32 bytes
 *   (RFC 7518 §3.2 asks for a key as long as the hash); HS256, HS384, HS512;
 * - a JWKS of public keys (`--auth-jwks-file`): RS256, ES256 or EdDSA
 *   (Ed25519), re-read by {@link TokenVerifier.reload}.
 * Each mode accepts only its own algorithms, so `none` never passes, and an
 * HMAC token can never be checked against the bytes of a public key (the
 * classic algorithm-confusion attack).
 *
 * Claims: `sub` is the user's chat name (the chat's name rules apply);
 * `rooms`, optional, lists the rooms the token may join, an entry ending in
 * `*` being a prefix; `exp` and `nbf` are checked with
 * {@link AUTH_LEEWAY_SECONDS} of leeway; `iss` and `aud` when configured.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { createLocalJWKSet, errors, importJWK, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { checkName, type Checked } from './messages.js';
import type { ChatAuthOptions } from './options.js';

/** Clock leeway for `exp` and `nbf`, in seconds: the most two clocks may disagree. */
export const AUTH_LEEWAY_SECONDS = 5;
/** Algorithms accepted with an HMAC key file. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
/** Algorithms accepted with a JWKS file. */
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
/** Shortest HMAC key accepted, in bytes: the output size of SHA-256 (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;
/** Shortest RSA modulus accepted, in bits (RFC 7518 §3.3). */
const MIN_RSA_BITS = 2048;
/** Members of a JWK that only a private key has (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

/** What a verified token grants. */
export interface Grant {
  /** The `sub` claim: the user's chat name. */
  name: string;
  /** The `rooms` claim; an entry ending in `*` is a prefix. Undefined: any room. */
  rooms: readonly string[] | undefined;
  /** The `exp` claim, in seconds since the epoch. Undefined: the token never expires. */
  exp: number | undefined;
}

/** allowsRoom tells whether `grant` may join `room`: any room without a `rooms` claim, else an exact entry or a `prefix*` one. */
export function allowsRoom(grant: Grant, room: string): boolean {
  if (grant.rooms === undefined) return true;
  return grant.rooms.some((entry) => (entry.endsWith('*') ? room.startsWith(entry.slice(0, -1)) : entry === room));
}

/**
 * grantExpiresAt is when a connection opened with `grant` must close, in ms
 * since the epoch: when its `exp` has passed by the leeway, the moment the
 * token would no longer be accepted. Undefined when the token has no `exp`.
 */
export function grantExpiresAt(grant: Grant): number | undefined {
  return grant.exp === undefined ? undefined : (grant.exp + AUTH_LEEWAY_SECONDS) * 1000;
}

/**
 * tokenFromRequest finds the token of an upgrade request: the
 * `Authorization: Bearer` header, else the `token` query parameter, else
 * the cookie named `cookie`. The first place that is present is the one
 * used. A failure carries the reason for the 401; it never repeats the
 * token.
 */
export function tokenFromRequest(headers: IncomingHttpHeaders, query: URLSearchParams, cookie?: string): Checked<string> {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (match === null) return { ok: false, error: 'Invalid Authorization header: use "Authorization: Bearer <token>"' };
    return { ok: true, value: match[1]! };
  }
  const fromQuery = query.getAll('token');
  if (fromQuery.length > 1) return { ok: false, error: 'Invalid query: token is given more than once' };
  if (fromQuery.length === 1 && fromQuery[0] !== '') return { ok: true, value: fromQuery[0]! };
  const fromCookie = cookie === undefined ? undefined : cookieValue(headers.cookie, cookie);
  if (fromCookie !== undefined && fromCookie !== '') return { ok: true, value: fromCookie };
  const places = ['an "Authorization: Bearer <token>" header', 'the query parameter ?token=<token>'];
  if (cookie !== undefined) places.push(`the cookie ${cookie}`);
  return { ok: false, error: `Missing token: this server requires a JSON Web Token in ${places.slice(0, -1).join(', ')} or ${places.at(-1)}` };
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), quotes removed; undefined when absent. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    const value = pair.slice(eq + 1).trim();
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** The key material of a verifier: an HMAC key, or a key set read from a JWKS file. */
type Keys = { kind: 'hmac'; secret: Uint8Array } | KeySet;
/** Keys read from a JWKS file: `count` usable, `ignored` for other uses or algorithms. */
type KeySet = { kind: 'jwks'; getKey: JWTVerifyGetKey; count: number; ignored: number };

/**
 * TokenVerifier checks the tokens of one chat app with the key file of its
 * {@link ChatAuthOptions}.
 */
export class TokenVerifier {
  /** The cookie that may carry the token; undefined when none is read. */
  readonly cookie: string | undefined;
  readonly #options: ChatAuthOptions;
  #keys: Keys;

  private constructor(options: ChatAuthOptions, keys: Keys) {
    this.#options = options;
    this.cookie = options.cookie;
    this.#keys = keys;
  }

  /**
   * load reads the key file of `options` (exactly one of `secretFile` and
   * `jwksFile`). Rejects with a readable Error naming the file when it
   * cannot be read or holds no usable key.
   */
  static async load(options: ChatAuthOptions): Promise<TokenVerifier> {
    if (options.secretFile !== undefined && options.jwksFile === undefined) {
      return new TokenVerifier(options, { kind: 'hmac', secret: await readSecret(options.secretFile) });
    }
    if (options.jwksFile !== undefined && options.secretFile === undefined) {
      return new TokenVerifier(options, await readJwks(options.jwksFile));
    }
    throw new RangeError('Invalid auth options: set exactly one of --auth-secret-file (HMAC) and --auth-jwks-file (public keys)');
  }

  /** The mode and key file, for the start-up log line; never the key. */
  describe(): string {
    const { secretFile, jwksFile, issuer, audience, cookie } = this.#options;
    const keys = this.#keys;
    const how = keys.kind === 'hmac'
      ? `HMAC (${HMAC_ALGORITHMS.join('/')}) with the key in ${secretFile}`
      : `JWKS (${PUBLIC_KEY_ALGORITHMS.join('/')}) with ${countKeys(keys)} from ${jwksFile}, re-read on SIGHUP`;
    const checks = [issuer === undefined ? '' : `iss ${JSON.stringify(issuer)}`, audience === undefined ? '' : `aud ${JSON.stringify(audience)}`].filter(Boolean);
    const from = `from the Authorization header or ?token=${cookie === undefined ? '' : ` or the cookie ${cookie}`}`;
    return `auth on: /ws requires a JSON Web Token ${from}, verified by ${how}${checks.length > 0 ? `; required ${checks.join(', ')}` : ''}`;
  }

  /**
   * reload re-reads the JWKS file and resolves with a line for the log;
   * when it cannot, rejects with a readable Error and keeps the old keys.
   * An HMAC key is read once, at start: reload leaves it and resolves
   * with undefined.
   */
  async reload(): Promise<string | undefined> {
    const file = this.#options.jwksFile;
    if (this.#keys.kind !== 'jwks' || file === undefined) return undefined;
    const keys = await readJwks(file);
    this.#keys = keys;
    return `auth keys re-read from ${file}: ${countKeys(keys)}`;
  }

  /**
   * verify checks `token`'s signature and claims. Resolves with what it
   * grants, or with the reason for a 401 (which never repeats the token).
   * Never rejects.
   */
  async verify(token: string): Promise<Checked<Grant>> {
    let payload: JWTPayload;
    try {
      payload = await this.#verifySignedClaims(token);
    } catch (err) {
      return { ok: false, error: describeTokenError(err) };
    }
    return grantOf(payload);
  }

  async #verifySignedClaims(token: string): Promise<JWTPayload> {
    const keys = this.#keys;
    const options: JWTVerifyOptions = {
      algorithms: [...(keys.kind === 'hmac' ? HMAC_ALGORITHMS : PUBLIC_KEY_ALGORITHMS)],
      clockTolerance: AUTH_LEEWAY_SECONDS,
    };
    if (this.#options.issuer !== undefined) options.issuer = this.#options.issuer;
    if (this.#options.audience !== undefined) options.audience = this.#options.audience;
    if (keys.kind === 'hmac') return (await jwtVerify(token, keys.secret, options)).payload;
    try {
      return (await jwtVerify(token, keys.getKey, options)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      // Several keys fit the token's header (no kid): the one whose signature verifies wins.
      for await (const key of err) {
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }
}

function countKeys(keys: { count: number; ignored: number }): string {
  const usable = `${keys.count} key${keys.count === 1 ? '' : 's'}`;
  return keys.ignored === 0 ? usable : `${usable} (${keys.ignored} more ignored: not for ${PUBLIC_KEY_ALGORITHMS.join(', ')} signatures)`;
}

/** The grant of verified claims, or why they do not make one. */
function grantOf(payload: JWTPayload): Checked<Grant> {
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    return { ok: false, error: 'Invalid token: the sub claim (the user name) is missing' };
  }
  const name = checkName(payload.sub);
  if (!name.ok) return { ok: false, error: `Invalid token: the sub claim is not a valid chat name (${name.error})` };
  const rooms: unknown = payload.rooms;
  if (rooms !== undefined && (!Array.isArray(rooms) || !rooms.every((room) => typeof room === 'string'))) {
    return { ok: false, error: 'Invalid token: the rooms claim must be an array of room names' };
  }
  return { ok: true, value: { name: name.value, rooms: rooms as string[] | undefined, exp: payload.exp } };
}

/** A 401 reason for an error of jwtVerify; only our own words and the token's times, never the token. */
function describeTokenError(err: unknown): string {
  if (err instanceof errors.JWTExpired) {
    return `Token expired${typeof err.payload.exp === 'number' ? ` at ${isoSeconds(err.payload.exp)}` : ''} (leeway ${AUTH_LEEWAY_SECONDS} s)`;
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' && err.reason === 'check_failed' && typeof err.payload.nbf === 'number') {
      return `Token not valid yet: its nbf is ${isoSeconds(err.payload.nbf)} (leeway ${AUTH_LEEWAY_SECONDS} s)`;
    }
    if (err.claim === 'iss') return 'Invalid token: wrong or missing issuer (iss)';
    if (err.claim === 'aud') return 'Invalid token: wrong or missing audience (aud)';
    return `Invalid token: the ${err.claim} claim is malformed`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'Invalid token: its signing algorithm is not accepted by this server';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'Invalid token: the signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'Invalid token: no key of this server matches its kid and algorithm';
  return 'Invalid token: malformed; expected a signed JSON Web Token (header.payload.signature)';
}

function isoSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString().replace('.000Z', 'Z');
}

async function readSecret(file: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new Error(`Cannot read the HMAC key file ${file} (--auth-secret-file): ${messageOf(err)}`, { cause: err });
  }
  // One trailing line end is the file's, not the key's: `echo KEY > file` adds it.
  if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new Error(
      `The HMAC key in ${file} is ${bytes.length} bytes; use at least ${MIN_SECRET_BYTES} (RFC 7518 §3.2), for example: openssl rand -base64 48 > ${file}`,
    );
  }
  return new Uint8Array(bytes);
}

/** The algorithm a public JWK serves here, or undefined when it serves none of {@link PUBLIC_KEY_ALGORITHMS}. */
function keyAlgorithm(jwk: JWK): (typeof PUBLIC_KEY_ALGORITHMS)[number] | undefined {
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return undefined;
  const natural = jwk.kty === 'RSA' ? 'RS256' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : jwk.kty === 'OKP' && jwk.crv === 'Ed25519' ? 'EdDSA' : undefined;
  return jwk.alg === undefined || jwk.alg === natural ? natural : undefined;
}

async function readJwks(file: string): Promise<KeySet> {
  const where = `the JWKS file ${file} (--auth-jwks-file)`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read ${where}: ${messageOf(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`Invalid ${where}: not JSON (${messageOf(err)})`, { cause: err });
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys)) {
    throw new Error(`Invalid ${where}: expected a JSON Web Key Set, {"keys":[...]} (RFC 7517 §5)`);
  }
  const usable: JWK[] = [];
  for (const [index, jwk] of keys.entries()) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk) || typeof jwk.kty !== 'string') {
      throw new Error(`Invalid ${where}: key ${index + 1} is not a JSON Web Key (an object with "kty")`);
    }
    const which = `key ${index + 1}${typeof jwk.kid === 'string' ? ` (kid ${JSON.stringify(jwk.kid)})` : ''}`;
    if (jwk.kty === 'oct') {
      throw new Error(`Invalid ${where}: ${which} is a symmetric (HMAC) key; this file holds public keys only (use --auth-secret-file for HMAC)`);
    }
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
      throw new Error(`Invalid ${where}: ${which} is a private key; put only its public half in this file`);
    }
    const alg = keyAlgorithm(jwk as JWK);
    if (alg === undefined) continue;
    let key: unknown;
    try {
      key = await importJWK(jwk as JWK, alg);
    } catch (err) {
      throw new Error(`Invalid ${where}: ${which} cannot be used for ${alg}: ${messageOf(err)}`, { cause: err });
    }
    const bits = (key as { algorithm?: { modulusLength?: number } }).algorithm?.modulusLength;
    if (alg === 'RS256' && (bits === undefined || bits < MIN_RSA_BITS)) {
      throw new Error(`Invalid ${where}: ${which} is a ${bits ?? 'unknown'}-bit RSA key; RS256 needs at least ${MIN_RSA_BITS} bits`);
    }
    usable.push(jwk as JWK);
  }
  if (usable.length === 0) {
    throw new Error(`Invalid ${where}: it holds no public key for ${PUBLIC_KEY_ALGORITHMS.join(', ')} (${keys.length} key${keys.length === 1 ? '' : 's'} in the file)`);
  }
  return { kind: 'jwks', getKey: createLocalJWKSet({ keys: usable }), count: usable.length, ignored: keys.length - usable.length };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
