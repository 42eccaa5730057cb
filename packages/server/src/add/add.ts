/**
 * The add service's logic: a pure function from a request to a response, so
 * every rule is testable without a socket.
 */

/** A request: `{"A": <int>, "B": <int>}`. */
export interface AddRequest {
  A: number;
  B: number;
}

/** The answer: the sum, or why the request was refused. */
export type AddResponse = { Sum: number } | { error: string };

function checkOperand(request: Record<string, unknown>, field: 'A' | 'B'): string | null {
  const value = request[field];
  if (value === undefined) return `missing field ${field}`;
  if (typeof value !== 'number' || !Number.isInteger(value)) return `field ${field} must be an integer, got ${JSON.stringify(value)}`;
  if (!Number.isSafeInteger(value)) {
    return `field ${field} is ${value}, beyond ±${Number.MAX_SAFE_INTEGER} (2^53−1)`;
  }
  return null;
}

/**
 * add answers one parsed request: `{Sum}` when A and B are integers within
 * ±(2^53−1) and so is their sum, otherwise `{error}` with the reason.
 */
export function add(request: unknown): AddResponse {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    return { error: 'request must be a JSON object like {"A":7,"B":4}' };
  }
  const fields = request as Record<string, unknown>;
  const problem = checkOperand(fields, 'A') ?? checkOperand(fields, 'B');
  if (problem) return { error: problem };
  const sum = (fields.A as number) + (fields.B as number);
  if (!Number.isSafeInteger(sum)) return { error: `the sum ${sum} is beyond ±${Number.MAX_SAFE_INTEGER} (2^53−1)` };
  return { Sum: sum };
}
