/**
 * The Origin check of `/ws`: a browser page may open a chat connection only
 * from the server's own origin (scheme, host and port) or one listed with
 * `--allow-origin`. Requests without an Origin header (programs, not
 * browsers) pass: the check guards users' browsers against other sites
 * (cross-site WebSocket hijacking), not the server against programs.
 */

/** What the check needs from the request. */
export interface OriginRequest {
  /** The Origin header, if any. */
  origin: string | undefined;
  /** The Host header, if any. */
  host: string | undefined;
  /** True when the connection came over TLS. */
  secure: boolean;
}

/**
 * checkOrigin returns undefined when the request may proceed, or the
 * reason for a 403. `allowed` holds extra origins (`https://example.com`)
 * or `*` for any.
 */
export function checkOrigin(request: OriginRequest, allowed: readonly string[]): string | undefined {
  const { origin } = request;
  if (origin === undefined) return undefined;
  if (allowed.includes('*')) return undefined;
  const parsed = parseOrigin(origin);
  if (parsed === undefined) return `Origin ${JSON.stringify(origin)} is not allowed`;
  if (request.host !== undefined) {
    const own = parseOrigin(`${request.secure ? 'https' : 'http'}://${request.host}`);
    if (own !== undefined && own === parsed) return undefined;
  }
  for (const entry of allowed) {
    if (parseOrigin(entry) === parsed) return undefined;
  }
  return `Origin ${origin} is not allowed: only this server's origin${allowed.length > 0 ? ` and ${allowed.join(', ')}` : ''}`;
}

/** The serialized origin (`scheme://host[:port]`, lower case, default port dropped), or undefined. */
function parseOrigin(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url.origin;
}
