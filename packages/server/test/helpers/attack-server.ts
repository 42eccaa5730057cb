/**
 * The target and the witness of the attack tests: `wskit serve` started
 * in-process on 127.0.0.1 with a temporary data directory, and a bystander
 * (an /echo client and two chat users) that proves the server still serves
 * everyone else at full function while it is attacked.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dial, type Conn } from 'wskit';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import { Peer, until } from '../chat/harness.js';

export { until };

/** What node:test's `t` offers for cleanup. */
export interface Cleanup {
  after(fn: () => void | Promise<void>): void;
}

/**
 * Cleanups collects cleanup steps for a whole test file (register `run` with
 * node:test's module-level `after`); steps run last-in, first-out.
 */
export class Cleanups implements Cleanup {
  readonly #steps: (() => void | Promise<void>)[] = [];

  after(fn: () => void | Promise<void>): void {
    this.#steps.push(fn);
  }

  /** run runs every step, newest first; a failing step does not stop the others. */
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // cleanup is best effort
      }
    }
  }
}

/** A server under attack, with its log lines. */
export interface AttackTarget extends RunningServer {
  /** `ws://127.0.0.1:port`. */
  wsBase: string;
  /** The data directory (removed after the test). */
  dataDir: string;
  logLines: string[];
}

/** tempDir makes a temporary directory, removed after the test. */
export function tempDir(t: Cleanup, prefix = 'wskit-attack-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** startTarget starts `wskit serve` in this process on 127.0.0.1:0; shut down after the test. */
export async function startTarget(t: Cleanup, options: Omit<ServerOptions, 'port' | 'host' | 'log'> = {}): Promise<AttackTarget> {
  const dataDir = options.chat?.dataDir ?? tempDir(t);
  const logLines: string[] = [];
  const server = await startServer({
    ...options,
    port: 0,
    host: '127.0.0.1',
    chat: { ...options.chat, dataDir },
    log: (line) => {
      logLines.push(line);
      if (logLines.length > 5000) logLines.shift();
    },
  });
  t.after(() => server.shutdown());
  return Object.assign(server, { wsBase: `ws://127.0.0.1:${server.port}`, dataDir, logLines });
}

/**
 * connectionsSettle waits until the server's TCP and WebSocket counts are
 * back to `baseline` (no leaked sockets) and returns the final counts.
 */
export async function connectionsSettle(
  server: { connections(): Promise<{ tcp: number; webSockets: number }> },
  baseline: { tcp: number; webSockets: number },
  timeoutMs = 8000,
): Promise<{ tcp: number; webSockets: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await server.connections();
    if (now.tcp <= baseline.tcp && now.webSockets <= baseline.webSockets) return now;
    if (Date.now() > deadline) {
      assert.fail(`Connections did not return to the baseline ${JSON.stringify(baseline)} within ${timeoutMs} ms: ${JSON.stringify(now)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Bystander: normal users connected before an attack. `check` proves they
 * are still served at full function: a 64 KiB binary and a text message
 * echo back intact on /echo, and a chat message from one user reaches the
 * other with an id.
 */
export class Bystander {
  readonly echo: Conn;
  readonly alice: Peer;
  readonly bob: Peer;
  #checks = 0;

  private constructor(echo: Conn, alice: Peer, bob: Peer) {
    this.echo = echo;
    this.alice = alice;
    this.bob = bob;
  }

  /** join connects the bystanders to the server at `wsBase` (room `bystanders`). */
  static async join(t: Cleanup, wsBase: string, room = 'bystanders'): Promise<Bystander> {
    const { conn: echo } = await dial(`${wsBase}/echo`);
    const alice = await Peer.connect(`${wsBase}/ws?room=${room}&name=alice`);
    const bob = await Peer.connect(`${wsBase}/ws?room=${room}&name=bob`);
    const bystander = new Bystander(echo, alice, bob);
    t.after(() => bystander.leave());
    await alice.waitUsers(['alice', 'bob']);
    return bystander;
  }

  /** check asserts both services still answer; `what` names the attack in a failure. */
  async check(what: string): Promise<void> {
    const n = ++this.#checks;
    const binary = randomBytes(64 * 1024);
    await this.echo.write('binary', binary);
    const back = await withTimeout(this.echo.read(), 5000, `echo of 64 KiB after ${what}`);
    assert.equal(back.type, 'binary');
    assert.ok(back.data.equals(binary), `the echo of 64 KiB came back intact after ${what}`);
    await this.echo.write('text', `still here ${n} ✓`);
    const text = await withTimeout(this.echo.read(), 5000, `echo of text after ${what}`);
    assert.equal(text.data.toString(), `still here ${n} ✓`);

    const before = this.bob.messages().length;
    const said = `check ${n} after ${what}`;
    await this.alice.say(said);
    // Other traffic (a flood in the same room) may interleave: look for this message among the new ones.
    const mine = () => this.bob.messages().slice(before).find((m) => m.text === said);
    await until(() => mine() !== undefined, `bob to receive "${said}"`, 5000);
    const got = mine()!;
    assert.equal(got.from, 'alice');
    assert.match(got.id, /^\d+-\d+$/);
  }

  /** leave closes the bystanders' connections. */
  async leave(): Promise<void> {
    await Promise.all([this.echo.close().catch(() => {}), this.alice.close(), this.bob.close()]);
  }
}

/** withTimeout rejects with a readable error if `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}
