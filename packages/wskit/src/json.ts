/**
 * JSON helpers shared by the apps: parse a message's text with a typed,
 * readable error instead of a SyntaxError.
 */
import { WebSocketError } from './errors.js';

/**
 * parseJSON parses `text`; invalid JSON throws a WebSocketError with code
 * `ERR_INVALID_JSON` and the parser's explanation.
 */
export function parseJSON<T = unknown>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new WebSocketError('ERR_INVALID_JSON', `Cannot parse message as JSON: ${(err as Error).message}`, { cause: err });
  }
}
