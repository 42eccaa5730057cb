/**
 * The Autobahn|Testsuite client driver: runs every case of a fuzzing server
 * (`wstest -m fuzzingserver`) against the wskit client.
 *
 *   npm run autobahn:client -- [ws://127.0.0.1:9001] [agent]
 *
 * It asks `/getCaseCount`, then for each case N opens
 * `/runCase?case=N&agent=AGENT` and echoes every message back with its type
 * (permessage-deflate offered, messages up to 16 MiB) until the server closes,
 * and finally asks `/updateReports?agent=AGENT` so the server writes its
 * reports. It uses only wskit's public API, as any application would.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type CloseError, CloseCode, dial } from '../src/index.js';

/** Largest message the driver accepts: 16 MiB, as the testsuite's 9.x cases need. */
export const DRIVER_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** Most fragments per message the driver accepts: one per 64 bytes, as 9.3.1 and 9.4.1 need (65,536 for 4 MiB). */
export const DRIVER_MAX_FRAGMENTS = DRIVER_MAX_MESSAGE_SIZE / 64;

/** Most cases the driver will run, whatever the server claims (the full suite has about 520). */
export const MAX_CASES = 10_000;

/** Settings of the driver; every one is optional. */
export interface DriverOptions {
  /** The agent name the reports list the results under. Unset: `wskit`. */
  agent?: string;
  /** Longest wait for the next message of a case, in ms; past it the case is dropped. Unset: 60 s. */
  idleTimeoutMs?: number;
  /** Time allowed for each opening handshake, in ms. Unset: 10 s. */
  handshakeTimeoutMs?: number;
  /** Longest wait for the server to close a control connection (getCaseCount, updateReports), in ms. Unset: 120 s. */
  controlTimeoutMs?: number;
  /** Receives one line per case and step. Unset: silent. */
  log?: (line: string) => void;
}

/** What a driver run did. */
export interface DriverResult {
  /** The number of cases the server announced. */
  caseCount: number;
  /** For each case run, in order: its number and how the connection ended. */
  cases: { case: number; closeCode: number; error?: string }[];
}

/**
 * echoCase connects to one case URL and echoes every message back with its
 * type until the connection ends, then resolves with how it ended (the close
 * code the server sent, or 1006). Rejects only when the handshake fails.
 */
export async function echoCase(url: string, options: DriverOptions = {}): Promise<CloseError> {
  const { conn } = await dial(url, {
    compression: true,
    maxMessageSize: DRIVER_MAX_MESSAGE_SIZE,
    maxFragments: DRIVER_MAX_FRAGMENTS,
    handshakeTimeout: options.handshakeTimeoutMs,
  });
  const idle = options.idleTimeoutMs ?? 60_000;
  try {
    for (;;) {
      conn.setReadDeadline(Date.now() + idle);
      const message = await conn.read();
      await conn.write(message.type, message.data);
    }
  } catch {
    // The case ended: a close frame, a protocol error the Conn already answered, or the idle timeout.
  }
  return conn.closed;
}

/** Open a control connection, collect its text messages, and wait (bounded) for the server to close it. */
async function control(url: string, options: DriverOptions): Promise<string[]> {
  const { conn } = await dial(url, { handshakeTimeout: options.handshakeTimeoutMs });
  const timeout = options.controlTimeoutMs ?? 120_000;
  conn.setReadDeadline(Date.now() + timeout);
  const texts: string[] = [];
  try {
    for await (const message of conn) texts.push(message.data.toString('utf8'));
  } catch (err) {
    throw new Error(`${url} ended badly: ${(err as Error).message}`);
  }
  return texts;
}

/** getCaseCount asks the fuzzing server how many cases it has. */
export async function getCaseCount(baseUrl: string, options: DriverOptions = {}): Promise<number> {
  const texts = await control(`${trimSlash(baseUrl)}/getCaseCount`, options);
  const count = Number(texts[0]);
  if (!Number.isInteger(count) || count < 0 || count > MAX_CASES) {
    throw new Error(`getCaseCount answered ${JSON.stringify(texts[0] ?? '')}, not a case count from 0 to ${MAX_CASES}`);
  }
  return count;
}

/** updateReports asks the fuzzing server to write its reports for `agent`. */
export async function updateReports(baseUrl: string, agent: string, options: DriverOptions = {}): Promise<void> {
  await control(`${trimSlash(baseUrl)}/updateReports?agent=${encodeURIComponent(agent)}`, options);
}

/**
 * runDriver runs the whole suite: case count, every case in order, reports.
 * A case whose connection cannot be opened is recorded with its error and
 * the run goes on; the testsuite reports it as failed.
 */
export async function runDriver(baseUrl: string, options: DriverOptions = {}): Promise<DriverResult> {
  const agent = options.agent ?? 'wskit';
  const log = options.log ?? (() => {});
  const caseCount = await getCaseCount(baseUrl, options);
  log(`${caseCount} cases to run as agent ${agent}`);
  const cases: DriverResult['cases'] = [];
  for (let n = 1; n <= caseCount; n++) {
    const url = `${trimSlash(baseUrl)}/runCase?case=${n}&agent=${encodeURIComponent(agent)}`;
    try {
      const result = await echoCase(url, options);
      cases.push({ case: n, closeCode: result.closeCode });
      log(`case ${n}/${caseCount}: closed ${result.closeCode}${result.reason ? ` ${JSON.stringify(result.reason)}` : ''}`);
    } catch (err) {
      cases.push({ case: n, closeCode: CloseCode.AbnormalClosure, error: (err as Error).message });
      log(`case ${n}/${caseCount}: could not connect: ${(err as Error).message}`);
    }
  }
  await updateReports(baseUrl, agent, options);
  log(`reports updated for agent ${agent}`);
  return { caseCount, cases };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

async function main(argv: string[]): Promise<number> {
  const [url = 'ws://127.0.0.1:9001', agent = 'wskit'] = argv;
  if (!/^wss?:\/\//.test(url)) {
    console.error(`Usage: npm run autobahn:client -- [ws://127.0.0.1:9001] [agent]\nNot a WebSocket URL: ${url}`);
    return 2;
  }
  const result = await runDriver(url, { agent, log: (line) => console.log(line) });
  const failed = result.cases.filter((c) => c.error !== undefined).length;
  console.log(`ran ${result.cases.length} cases${failed ? `, ${failed} could not connect` : ''}`);
  return failed > 0 ? 1 : 0;
}

const invokedPath = process.argv[1];
if (invokedPath && import.meta.url === pathToFileURL(realpathSync(invokedPath)).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      console.error(`autobahn client driver: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
