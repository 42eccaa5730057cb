/**
 * The native load generator (bench/load/native-client.c): building it with
 * the system C compiler, and driving one instance from an echo worker over
 * its stdin/stdout line protocol.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../../bench/load/native-client.c', import.meta.url));
/** Where the compiled generator lives, beside the compiled bench. */
const NATIVE_CLIENT = fileURLToPath(new URL('./native-client', import.meta.url));

/**
 * buildNativeClient compiles the generator if it is missing or older than
 * its source. Returns null when built, or why it could not be (no compiler).
 */
export function buildNativeClient(): string | null {
  if (!existsSync(SOURCE)) return `${SOURCE} is missing`;
  if (existsSync(NATIVE_CLIENT) && statSync(NATIVE_CLIENT).mtimeMs >= statSync(SOURCE).mtimeMs) return null;
  const cc = process.env.CC ?? 'cc';
  try {
    execFileSync(cc, ['-O2', '-o', NATIVE_CLIENT, SOURCE, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    return `${cc} could not build ${SOURCE}: ${detail.slice(0, 300)}`;
  }
}

/** What a `stop` reports for the measured window. */
export interface NativeStop {
  echoes: number;
  elapsedMs: number;
  cpuMs: number;
  errors: number;
  /** bucket index → samples, in bench/stats.ts's Histogram layout. */
  buckets: Map<number, number>;
}

/** NativeLoad is one running native generator with its connections open. */
export class NativeLoad {
  readonly #proc: ChildProcess;
  readonly #dir: string;
  readonly #lines: AsyncIterator<string>;

  private constructor(proc: ChildProcess, dir: string) {
    this.#proc = proc;
    this.#dir = dir;
    this.#lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  }

  /**
   * open starts the generator with `conns` connections to
   * ws://127.0.0.1:`port``path`, or to a plain TCP echo server when `path`
   * is null; `compressed`, when given, is the permessage-deflate body to send
   * if the server agrees to compression.
   */
  static async open(port: number, path: string | null, conns: number, size: number, inflight: number, payload: Buffer, compressed: Buffer | null): Promise<NativeLoad> {
    const dir = mkdtempSync(join(tmpdir(), 'wskit-native-'));
    const body = join(dir, 'body');
    writeFileSync(body, payload);
    let packed = '-';
    if (compressed) {
      packed = join(dir, 'compressed');
      writeFileSync(packed, compressed);
    }
    const proc = spawn(NATIVE_CLIENT, [String(port), path ?? '-', String(conns), String(size), String(inflight), body, packed], { stdio: ['pipe', 'pipe', 'inherit'] });
    const load = new NativeLoad(proc, dir);
    const ready = await load.#next();
    if (!ready.startsWith('ready ')) {
      load.kill();
      throw new Error(`native generator: ${ready}`);
    }
    return load;
  }

  async #next(): Promise<string> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error('native generator exited');
    return value;
  }

  /** command sends one command line and returns the reply line. */
  async command(cmd: 'go' | 'count' | 'mark' | 'stop' | 'close'): Promise<string> {
    this.#proc.stdin!.write(`${cmd}\n`);
    const reply = await this.#next();
    if (reply.startsWith('error')) throw new Error(`native generator ${cmd}: ${reply}`);
    return reply;
  }

  /** count returns echoes since `go` and since `mark`. */
  async count(): Promise<{ total: number; echoes: number }> {
    const [, total, echoes] = (await this.command('count')).split(' ');
    return { total: Number(total), echoes: Number(echoes) };
  }

  /** stop stops sending and reports the measured window. */
  async stop(): Promise<NativeStop> {
    const [, echoes, elapsedUs, cpuUs, errors, hist = ''] = (await this.command('stop')).split(' ');
    const buckets = new Map<number, number>();
    for (const pair of hist.split(',').filter(Boolean)) {
      const [i, n] = pair.split(':');
      buckets.set(Number(i), Number(n));
    }
    return { echoes: Number(echoes), elapsedMs: Number(elapsedUs) / 1000, cpuMs: Number(cpuUs) / 1000, errors: Number(errors), buckets };
  }

  /** close closes every connection and ends the process. */
  async close(): Promise<void> {
    const exited = this.#proc.exitCode !== null || this.#proc.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => this.#proc.once('exit', () => resolve()));
    try {
      await this.command('close');
    } finally {
      this.kill();
      await exited;
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }

  /** kill ends the process at once. */
  kill(): void {
    if (this.#proc.exitCode === null) this.#proc.kill('SIGKILL');
  }
}

/** compilerVersion names the C compiler, for the report. */
export function compilerVersion(): string {
  try {
    return execFileSync(process.env.CC ?? 'cc', ['--version'], { encoding: 'utf8' }).split('\n', 1)[0]!.trim();
  } catch {
    return 'unknown compiler';
  }
}
