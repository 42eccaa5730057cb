/**
 * What both kinds of dial (dial.ts over HTTP/1.1, dial-http2.ts over an
 * HTTP/2 stream) do alike with a server's answer and an abort.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** @internal Largest error body kept for a HandshakeError. */
export const MAX_ERROR_BODY = 64 * 1024;

/** @internal flattenHeaders joins repeated headers with ', ' and leaves out HTTP/2's pseudo-header fields. */
export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !name.startsWith(':')) out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** @internal The error an aborted dial rejects with: the signal's reason, or an AbortError when it has none. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The WebSocket dial was aborted', 'AbortError');
}
