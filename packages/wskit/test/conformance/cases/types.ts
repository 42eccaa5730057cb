/**
 * What a conformance case is: an Autobahn-style number, a title, the
 * permessage-deflate parameters it negotiates (if any) and a script the
 * {@link Fuzzer} plays. A script ends with an expectation of the close
 * (`expectClose` after a violation, `closeNormally` otherwise), so every
 * case checks the outcome Autobahn would: the echo exact, the close code
 * right, and the TCP connection ended by the right side.
 */
import type { Fuzzer } from '../fuzzer.js';
import type { DeflateCase } from '../raw-handshake.js';

/** One conformance case. */
export interface ConformanceCase {
  /** Autobahn|Testsuite-style number: category.group.case ("5.6", "6.3.1"). */
  id: string;
  /** What is sent and what must come back. */
  title: string;
  /** Negotiate permessage-deflate with these parameters. Unset: not offered (server tests) or declined (client tests). */
  deflate?: DeflateCase;
  /** Run only against this side ('server': our server; 'client': our client). Unset: both. */
  applies?: 'server' | 'client';
  /** Time the whole case may take, in ms. Default 10 s. */
  timeoutMs?: number;
  /** The script; it throws to fail the case. */
  run(f: Fuzzer): Promise<void>;
}

/** Largest message both the /echo server and the client driver accept: 16 MiB. */
export const LIMIT = 16 * 1024 * 1024;
/** Most fragments per message both accept: one per 64 bytes of {@link LIMIT}, 262,144. */
export const FRAGMENT_LIMIT = LIMIT / 64;
