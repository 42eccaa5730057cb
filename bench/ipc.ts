/**
 * Request/reply over the Node IPC channel between the bench runner and its
 * child processes (servers and load workers). Every request carries an id and
 * a time limit, so a stuck child fails the row instead of hanging the run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Request is what the runner sends: a command name plus its arguments. */
export interface Request {
  cmd: string;
  [key: string]: unknown;
}

/** Reply is what a child answers: `ok` false carries `error`. */
export interface Reply {
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

interface Envelope {
  id: number;
  req?: Request;
  reply?: Reply;
  event?: Record<string, unknown>;
}

/** Child is a forked bench process that answers requests; it is killed on `stop` or if the runner exits. */
export class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly eventWaiters: Array<(event: Record<string, unknown>) => void> = [];
  private exited = false;

  constructor(name: string, modulePath: string, args: string[] = [], execArgv: string[] = []) {
    this.name = name;
    this.proc = fork(modulePath, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    live.add(this);
    this.proc.on('message', (raw) => this.onMessage(raw as Envelope));
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      live.delete(this);
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (code ${code}, signal ${signal}) before answering request ${id}`));
      }
      this.pending.clear();
    });
  }

  /** pid is the child's process id. */
  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** request sends `req` and resolves with the reply; rejects after `timeoutMs` or when the reply has ok false. */
  request(req: Request, timeoutMs = 30_000): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited; cannot send ${req.cmd}`));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer ${req.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        timer,
        reject,
        resolve: (reply) => (reply.ok ? resolve(reply) : reject(new Error(`${this.name} ${req.cmd}: ${reply.error}`))),
      });
      this.proc.send({ id, req } satisfies Envelope);
    });
  }

  /** nextEvent resolves with the next unsolicited event the child sends, or rejects after `timeoutMs`. */
  nextEvent(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} sent no event within ${timeoutMs} ms`)), timeoutMs);
      this.eventWaiters.push((event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  }

  /** stop asks the child to exit and kills it if it has not within 2 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 2_000);
    await gone;
    clearTimeout(timer);
  }

  private onMessage(env: Envelope): void {
    if (env.reply) {
      const p = this.pending.get(env.id);
      if (!p) return;
      this.pending.delete(env.id);
      clearTimeout(p.timer);
      p.resolve(env.reply);
    } else if (env.event) {
      this.eventWaiters.shift()?.(env.event);
    }
  }
}

const live = new Set<Child>();
// A crashed or interrupted runner must not leave servers or workers behind.
process.on('exit', () => {
  for (const child of live) child.proc.kill('SIGKILL');
});

/** Handler answers one request inside a child process. */
export type Handler = (req: Request) => Reply | Promise<Reply>;

/**
 * serveRequests answers the runner's requests in a child process with `handler`;
 * the child exits when the runner goes away, so nothing outlives a run.
 */
export function serveRequests(handler: Handler): void {
  process.on('message', (raw) => {
    const env = raw as Envelope;
    if (!env.req) return;
    Promise.resolve()
      .then(() => handler(env.req!))
      .catch((err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }))
      .then((reply) => process.send?.({ id: env.id, reply } satisfies Envelope));
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

/** sendEvent sends an unsolicited event from a child process to the runner. */
export function sendEvent(event: Record<string, unknown>): void {
  process.send?.({ id: 0, event } satisfies Envelope);
}

/** cpuMs returns the user+system CPU time (ms) that process `pid` has used, from /proc; NaN if unreadable. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces, so count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

// Linux reports CPU time in USER_HZ ticks, which is 100 on every mainstream build.
const CLOCK_TICKS = 100;

/** busyCpuMs returns the CPU time (ms, summed over all cores) the whole machine has spent busy since boot, from /proc/stat; NaN if unreadable. */
export function busyCpuMs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = ticks[3]! + ticks[4]!; // idle + iowait
    return ((total - idle) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
