/**
 * Runs one conformance case on an open Fuzzer: the script within the case's
 * time, then a check that it ended the connection through a closing
 * handshake. The socket is dropped whatever happens.
 */
import type { ConformanceCase } from './cases/index.js';
import { type Fuzzer, withTimeout } from './fuzzer.js';

/** Default time a whole case may take. */
export const CASE_TIMEOUT_MS = 10_000;

/** runCase plays `c` on `f` and throws with the case's number when it fails. */
export async function runCase(c: ConformanceCase, f: Fuzzer): Promise<void> {
  try {
    await withTimeout(c.run(f), c.timeoutMs ?? CASE_TIMEOUT_MS, `case ${c.id} to finish`);
    if (!f.finished) throw new Error('The case script ended without a closing handshake');
  } catch (err) {
    throw new Error(`Case ${c.id} (${c.title}) failed: ${(err as Error).message}`, { cause: err });
  } finally {
    f.destroy();
  }
}
