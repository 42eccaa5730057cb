/**
 * Helpers for the tests that run `wskit serve --redis` processes: a node
 * process, a chat client that records what it is shown, and the
 * exactly-once-in-one-order check.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { ChatMessage } from '../../src/chat/broker.js';
import { compareNames } from '../../src/chat/names.js';

/** The server package's directory. */
export const root = new URL('../../../', import.meta.url).pathname;
const wskit = join(root, 'bin/wskit');

/** Poll `predicate` every 10 ms; fail with `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`Timed out after ${timeoutMs} ms waiting for ${what}\n${describeClients()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const everyClient: Client[] = [];

/** What each client has seen, for a failure message. */
function describeClients(): string {
  return everyClient
    .map((c) => `  ${c.name}: ${c.messages.length} messages, last ${c.messages.at(-1)?.text ?? '-'}, users [${c.users.join(',')}], errors [${c.errors.join('; ')}]`)
    .join('\n');
}

/** One `wskit serve` process. */
export class Node {
  output = '';
  url = '';
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  /** Starts `wskit serve --redis redisUrl` on an ephemeral port, with `flags` added. */
  constructor(redisUrl: string, dataDir: string, flags: string[] = []) {
    this.child = spawn(
      process.execPath,
      [wskit, 'serve', '--port', '0', '--host', '127.0.0.1', '--redis', redisUrl, '--data', dataDir, ...flags],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  async listening(): Promise<void> {
    await waitFor('wskit to listen', () => /wskit listening on (http:\/\/\S+)/.test(this.output), 15_000)
      .catch((err: Error) => assert.fail(`${err.message}\n${this.output}`));
    this.url = /wskit listening on (http:\/\/\S+)/.exec(this.output)![1]!;
  }

  async health(): Promise<{ status: number; broker: string; redis?: { mode: string; reason?: string; masters: { address: string; slots?: string[]; connected: boolean }[] } }> {
    const res = await fetch(`${this.url}/healthz`);
    const body = (await res.json()) as { broker: string; redis?: never };
    return { status: res.status, broker: body.broker, redis: body.redis };
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A chat client recording every message it is shown, history included, in order. */
export class Client {
  readonly ws: WebSocket;
  readonly messages: ChatMessage[] = [];
  readonly errors: string[] = [];
  history: ChatMessage[] | undefined;
  users: string[] = [];
  readonly closed: Promise<void>;

  constructor(node: Node, room: string, readonly name: string, since?: string) {
    const query = new URLSearchParams({ room, name, ...(since ? { since } : {}) });
    everyClient.push(this);
    this.ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/ws?${query}`);
    this.ws.on('error', () => {}); // a killed node resets the socket; `closed` reports it
    this.closed = new Promise((resolve) => this.ws.once('close', () => resolve()));
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string } & Record<string, unknown>;
      if (frame.type === 'history') {
        this.history = frame.messages as ChatMessage[];
        this.messages.push(...this.history);
      } else if (frame.type === 'message') this.messages.push(frame as unknown as ChatMessage);
      else if (frame.type === 'presence') this.#presence(frame);
      else if (frame.type === 'error') this.errors.push(String(frame.error));
    });
  }

  /** Follows presence: a snapshot of names, then changes to it. */
  #presence(frame: Record<string, unknown>): void {
    const names = new Set(Array.isArray(frame.users) ? (frame.users as string[]) : this.users);
    for (const name of (frame.joined as string[] | undefined) ?? []) names.add(name);
    for (const name of (frame.left as string[] | undefined) ?? []) names.delete(name);
    this.users = [...names].sort(compareNames);
  }

  /** Resolves once the history frame has arrived: the client is in the room. */
  joined(): Promise<void> {
    return waitFor(`${this.name} to join`, () => this.history !== undefined);
  }

  send(text: string): void {
    this.ws.send(JSON.stringify({ type: 'message', text }));
  }

  ids(): string[] {
    return this.messages.map((m) => m.id);
  }
}

/** Every client saw the same `expectedCount` messages, none twice, in one order. */
export function assertExactlyOnceInOrder(clients: Client[], expectedCount: number): void {
  const reference = clients[0]!.ids();
  assert.equal(reference.length, expectedCount, `${clients[0]!.name} got ${reference.length} messages, expected ${expectedCount}`);
  assert.equal(new Set(reference).size, reference.length, 'a message arrived twice');
  for (const client of clients) assert.deepEqual(client.ids(), reference, `${client.name} saw another order`);
}


/** Chat nodes started together, and the clients connected to them, stopped together. */
export class ServeNodes {
  readonly nodes: Node[] = [];
  readonly clients: Client[] = [];
  #dataDir: string | undefined;

  /**
   * Starts one node per Redis URL, each with its own data directory and
   * `flags` added to `wskit serve`;
   * resolves once all listen and have reached Redis (/healthz 200): a node
   * listens before it has, and turns joins away (1013) until then.
   */
  async start(redisUrls: string[], flags: string[] = []): Promise<void> {
    const dataDir = (this.#dataDir = mkdtempSync(join(tmpdir(), 'wskit-serve-nodes-')));
    redisUrls.forEach((url, i) => this.nodes.push(new Node(url, join(dataDir, `node${i}`), flags)));
    await Promise.all(this.nodes.map((node) => node.listening()));
    await waitFor('every node to reach Redis', async () => (await Promise.all(this.nodes.map((node) => node.health()))).every((h) => h.status === 200));
  }

  /** A client of `room` on `node`, terminated by {@link stop}. */
  connect(node: Node, room: string, name: string, since?: string): Client {
    const client = new Client(node, room, name, since);
    this.clients.push(client);
    return client;
  }

  /** Terminates the clients, stops the nodes and removes their data. */
  async stop(): Promise<void> {
    for (const client of this.clients) client.ws.terminate();
    await Promise.all(this.nodes.map((node) => node.stop()));
    if (this.#dataDir) rmSync(this.#dataDir, { recursive: true, force: true });
  }
}

/**
 * A client of the third node moves to the first with `since` after that node
 * is SIGKILLed while the second node's client is sending: what it saw over
 * its two connections is exactly what everyone saw, nothing missed, nothing twice.
 */
export async function resumeAfterKill(serve: ServeNodes, room: string): Promise<void> {
  const [a, b, doomed] = serve.nodes as [Node, Node, Node];
  const stayer = serve.connect(a, room, 'stayer');
  const talker = serve.connect(b, room, 'talker');
  const mover = serve.connect(doomed, room, 'mover');
  await Promise.all([stayer, talker, mover].map((c) => c.joined()));
  await waitFor('presence across the three nodes', () => stayer.users.length === 3);

  for (let i = 0; i < 5; i++) talker.send(`before ${i}`);
  await waitFor('the first messages on the doomed node', () => mover.messages.length === 5);

  // Kill the node while messages are still being sent.
  const sending = (async () => {
    for (let i = 0; i < 20; i++) {
      talker.send(`during ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await doomed.stop('SIGKILL');
  await mover.closed;
  await sending;
  await waitFor('the messages sent during the kill', () => talker.messages.length === 25);

  const moved = serve.connect(a, room, 'mover', mover.messages.at(-1)!.id);
  await moved.joined();
  talker.send('after');
  await waitFor('the message after the move', () => moved.messages.at(-1)?.text === 'after' && stayer.messages.length === 26);

  // What the client saw over its two connections is exactly what everyone saw.
  assert.deepEqual([...mover.ids(), ...moved.ids()], stayer.ids());
  assert.deepEqual(talker.ids(), stayer.ids());
  assert.equal(new Set(stayer.ids()).size, 26);
  assert.ok(moved.history!.length >= 1, 'the history frame carried the missed messages');
}

/** Runs scripts/cluster-demo.sh with `args` (at most 40 s); resolves with its exit code and output. */
export function runClusterDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('bash', [join(root, 'scripts/cluster-demo.sh'), ...args], { cwd: root, timeout: 40_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, output: stdout + stderr });
    });
    child.stdin?.end();
  });
}
