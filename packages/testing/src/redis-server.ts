/**
 * A real `redis-server` for tests: started on a free 127.0.0.1 port in its own
 * temporary directory, stopped (and the directory removed) by the test.
 *
 * Tests skip when `redis-server` is not installed, unless the environment sets
 * `WSKIT_REQUIRE_SERVICES=1` (CI does): then starting it fails the test.
 *
 * The bench's Redis fan-out row starts its server through this module too
 * (bench/redis-server.ts), so there is one way to run Redis for both.
 *
 * `startRedisCluster` starts N cluster-enabled servers and joins them into a
 * Redis Cluster of N masters with `redis-cli --cluster create` (redis-cli
 * comes with the same Debian packages), optionally each with replicas and
 * a short `cluster-node-timeout`, so a test can kill a master and wait for
 * the cluster to promote its replica.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long `redis-cli --cluster create` and the wait for `cluster_state:ok` on every node may take. */
const CLUSTER_READY_TIMEOUT_MS = 20_000;
/** How long to wait for "Ready to accept connections" before giving up. */
const READY_TIMEOUT_MS = 10_000;
/** How long a stopping server may take before it is killed. */
const STOP_TIMEOUT_MS = 5_000;
/** Attempts when another process grabs the free port first. */
const PORT_ATTEMPTS = 5;
/** How much of the server's output an error quotes; the tail of the log says why it failed. */
const OUTPUT_LIMIT = 4096;

/** Whether `redis-server` can be run on this machine. */
export function hasRedisServer(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

/**
 * The `skip` option for a Redis test: a reason string when `redis-server` is
 * missing and services are optional, `false` otherwise (so the test runs, and
 * fails in `startRedisServer` when the binary is missing but required).
 */
export function redisSkip(): string | false {
  if (process.env.WSKIT_REQUIRE_SERVICES === '1') return false;
  return hasRedisServer() ? false : 'redis-server is not installed (set WSKIT_REQUIRE_SERVICES=1 to fail instead)';
}

/** Options for `startRedisServer`; everything unset gives a throwaway in-memory server. */
export interface RedisServerOptions {
  /**
   * Keep data across `restart()` with an fsync'd append-only file
   * (`--appendonly yes --appendfsync always`). Unset: no persistence at all.
   */
  durable?: boolean;
  /**
   * Start it as a Redis Cluster node (`--cluster-enabled yes`), on a port
   * from 10000 to 22767, so that it and its cluster bus (port + 10000) are
   * valid and below the ephemeral range.
   * The node owns no slots until a cluster is created. Unset: standalone.
   */
  cluster?: boolean;
  /** With `cluster`: `cluster-node-timeout` in ms, how long a master may be unreachable before its replica takes over. Unset: Redis's 15000. */
  clusterNodeTimeoutMs?: number;
  /**
   * Start it as a replica of the server on this 127.0.0.1 port
   * (`--replicaof 127.0.0.1 PORT`); `startRedisServer` resolves once the
   * link to the primary is up (`master_link_status:up`) and the replica has
   * acknowledged a write made on the primary. Unset: a primary.
   */
  replicaOf?: number;
}

/**
 * The ports a cluster node is given: its bus listens on port + 10000, and
 * both stay below Linux's ephemeral range (32768 and up by default), where
 * the many client sockets of a parallel test run would collide with them.
 */
const CLUSTER_PORTS = { first: 10_000, last: 22_767, bus: 10_000 } as const;

/** How long a replica may take to sync with its primary. */
const LINK_TIMEOUT_MS = 10_000;

/** A running test Redis server. */
export interface RedisServer {
  /** The TCP port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The process id while running (undefined while stopped), for the bench, which sums Redis's CPU. */
  readonly pid: number | undefined;
  /** The server's working directory (its append-only file lives here). */
  readonly dir: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** Stop the process: SIGTERM (clean shutdown), or SIGKILL with `{ kill: true }` to simulate a crash. */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Start the process again on the same port and directory. */
  start(): Promise<void>;
  /** Freeze (SIGSTOP) or thaw (SIGCONT) the process: connections stay open but get no answers. */
  freeze(frozen: boolean): void;
  /** Stop the server for good and remove its directory. */
  dispose(): Promise<void>;
}

/** Start `redis-server` on a free 127.0.0.1 port; resolves once it accepts connections. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!hasRedisServer()) {
    throw new Error('redis-server is not installed, and WSKIT_REQUIRE_SERVICES=1 requires it (apt-get install redis-server)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'wskit-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    // A random port in a range the kernel rarely hands out; a taken one fails and is retried.
    const port = options.cluster ? await freeClusterPort() : await freePort();
    try {
      const child = await spawnRedis(port, dir, options);
      const handle = makeHandle(port, dir, options, child);
      if (options.replicaOf !== undefined) await waitForAcks(handle, options.replicaOf).catch(async (err: unknown) => {
        await handle.dispose();
        throw err;
      });
      return handle;
    } catch (err) {
      lastError = err;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`Cannot start redis-server after ${PORT_ATTEMPTS} attempts: ${String(lastError)}`);
}

function makeHandle(port: number, dir: string, options: RedisServerOptions, first: ChildProcess): RedisServer {
  let child: ChildProcess | undefined = first;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    async stop({ kill = false } = {}) {
      const current = child;
      child = undefined;
      if (current) await stopProcess(current, kill ? 'SIGKILL' : 'SIGTERM');
    },
    async start() {
      if (child) return;
      // The port was ours a moment ago; a few retries cover a slow socket release.
      let lastError: unknown;
      for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        try {
          child = await spawnRedis(port, dir, options);
          return;
        } catch (err) {
          lastError = err;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      throw new Error(`Cannot restart redis-server on port ${port}: ${String(lastError)}`);
    },
    freeze(frozen) {
      child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
    },
    async dispose() {
      child?.kill('SIGCONT');
      await this.stop({ kill: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function spawnRedis(port: number, dir: string, options: RedisServerOptions): Promise<ChildProcess> {
  const persistence = options.durable
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    ...persistence,
    ...(options.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`] : []),
    ...(options.cluster && options.clusterNodeTimeoutMs !== undefined ? ['--cluster-node-timeout', String(options.clusterNodeTimeoutMs)] : []),
    // A replica's first sync starts at once, not after the default 5 s wait for more replicas.
    '--repl-diskless-sync-delay', '0',
    ...(options.replicaOf !== undefined ? ['--replicaof', '127.0.0.1', String(options.replicaOf)] : []),
    '--daemonize', 'no',
    '--loglevel', 'notice',
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} not ready after ${READY_TIMEOUT_MS} ms:\n${output}`));
    }, READY_TIMEOUT_MS);
    const onStderr = (chunk: Buffer) => {
      if (output.length < OUTPUT_LIMIT) output += chunk.toString();
    };
    const onStdout = (chunk: Buffer) => {
      if (output.length < OUTPUT_LIMIT) output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onStdout);
        child.stderr?.off('data', onStderr);
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onStdout);
    child.stderr?.on('data', onStderr);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

/**
 * redisCommand sends one command to the server on 127.0.0.1:`port` and
 * resolves with its reply as text (RESP, undecoded: enough for INFO and
 * simple replies). For test setup only; tests use the redis client.
 */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 5_000): Promise<string> {
  return redisCommands(port, [args], timeoutMs);
}

/**
 * redisCommands sends `commands` on one connection, in order, and resolves
 * with their replies as one text once every reply has come: what a command
 * such as WAIT needs, which counts the writes of its own connection.
 */
export function redisCommands(port: number, commands: readonly (readonly string[])[], timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis-server on port ${port} did not answer ${commands.map((args) => args[0]).join(', ')} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply.toString());
    };
    socket.on('error', done);
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      let at = 0;
      for (let whole = 0; whole < commands.length; whole++) {
        at = replyEnd(reply, at);
        if (at < 0) return;
      }
      done();
    });
    socket.write(commands.map((args) => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`).join(''));
  });
}

/** Where the whole simple, error, integer or bulk reply that starts at `from` ends, or -1 while it has not all come. */
function replyEnd(reply: Buffer, from: number): number {
  const line = reply.indexOf('\r\n', from);
  if (line < 0) return -1;
  if (reply[from] !== 0x24) return line + 2; // Not '$': the reply is its first line.
  const length = Number(reply.toString('latin1', from + 1, line));
  const end = length < 0 ? line + 2 : line + 2 + length + 2;
  return reply.length >= end ? end : -1;
}

/**
 * Waits until a new replica's link is up and it has acknowledged a write
 * (`WAIT 1` on its primary), so a test's own WAIT with a short timeout
 * measures the steady state, not the end of the first sync.
 */
async function waitForAcks(replica: RedisServer, primaryPort: number): Promise<void> {
  await waitForLink(replica);
  const reply = await redisCommands(primaryPort, [['SET', 'wskit-testing:replica-ack', '1'], ['WAIT', '1', String(LINK_TIMEOUT_MS)]], LINK_TIMEOUT_MS + 5_000);
  if (!/^\+OK\r\n:[1-9]/.test(reply)) throw new Error(`replica on port ${replica.port} did not acknowledge its primary's write within ${LINK_TIMEOUT_MS} ms: ${JSON.stringify(reply)}`);
}

/** Waits until a replica reports `master_link_status:up`; fails after LINK_TIMEOUT_MS. */
export async function waitForLink(server: RedisServer): Promise<void> {
  const deadline = Date.now() + LINK_TIMEOUT_MS;
  let info = '';
  while (Date.now() < deadline) {
    info = await redisCommand(server.port, ['INFO', 'replication']).catch((err: Error) => err.message);
    if (/master_link_status:up/.test(info)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`replica on port ${server.port} did not link to its primary within ${LINK_TIMEOUT_MS} ms:\n${info}`);
}

/** The redis-server processes still running, killed when Node exits. */
const liveChildren = new Set<ChildProcess>();

/**
 * A run that ends without stopping its server (a crash, `process.exit`) must not
 * leave redis-server running behind it, holding its port (the directory stays).
 */
function killOnExit(child: ChildProcess): void {
  if (liveChildren.size === 0) process.once('exit', killLiveChildren);
  liveChildren.add(child);
  const forget = () => {
    liveChildren.delete(child);
    if (liveChildren.size === 0) process.off('exit', killLiveChildren);
  };
  // After a spawn error Node may not emit 'exit', so either event forgets the child.
  child.once('exit', forget);
  child.once('error', forget);
}

function killLiveChildren(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** A port for a cluster node that was free a moment ago, with its bus port (+10000) free too. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = CLUSTER_PORTS.first + Math.floor(Math.random() * (CLUSTER_PORTS.last - CLUSTER_PORTS.first + 1));
    if ((await isFree(port)) && (await isFree(port + CLUSTER_PORTS.bus))) return port;
    if (attempt >= 50) throw new Error(`No free port pair (port, port + ${CLUSTER_PORTS.bus}) found from ${CLUSTER_PORTS.first} to ${CLUSTER_PORTS.last}`);
  }
}

/** Whether `port` of 127.0.0.1 can be listened on now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Masters, at least 3 (as `redis-cli --cluster create` requires). Unset: 3. */
  masters?: number;
  /** Give each master one replica (`--cluster-replicas 1`), linked before the cluster is handed over. Unset: none. */
  replicas?: boolean;
  /** `cluster-node-timeout` of every node in ms (see {@link RedisServerOptions.clusterNodeTimeoutMs}). Unset: 15000. */
  nodeTimeoutMs?: number;
}

/** A running test Redis Cluster: N masters, every slot served, `cluster_state:ok` on every node. */
export interface RedisCluster {
  /** The masters, in the order of their slot ranges (the first serves slot 0). */
  readonly nodes: RedisServer[];
  /** With `replicas`: the replica of each master, in the order of `nodes`; empty otherwise. */
  readonly replicas: RedisServer[];
  /**
   * After the test stopped master `dead`: waits until its replica is a
   * master and every running node says `cluster_state:ok`; resolves with
   * the replica, rejects after `timeoutMs` with what the nodes said.
   */
  failedOver(dead: RedisServer, timeoutMs: number): Promise<RedisServer>;
  /** `redis://127.0.0.1:<port>` of the first node; any node's URL works for a cluster client. */
  readonly url: string;
  /**
   * Move one slot, with its keys, from master `from` to master `to` while
   * the cluster serves (the steps of the Redis Cluster specification:
   * IMPORTING and MIGRATING, MIGRATE of its keys, then SETSLOT NODE on every master).
   */
  moveSlot(slot: number, from: RedisServer, to: RedisServer): Promise<void>;
  /** Stop every node for good and remove their directories. */
  dispose(): Promise<void>;
}

/**
 * Start a Redis Cluster of `masters` (or 3) cluster-enabled redis-servers on
 * free ports (see `cluster`), with one replica each when `replicas`, made by
 * `redis-cli --cluster create`; resolves once every node says
 * `cluster_state:ok` and every replica is linked to its master. A number
 * instead of options is the count of masters. Everything started is stopped
 * again when it fails.
 */
export async function startRedisCluster(options: number | RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, replicas = false, nodeTimeoutMs } = typeof options === 'number' ? { masters: options } : options;
  if (!Number.isInteger(masters) || masters < 3) throw new RangeError(`A Redis Cluster needs at least 3 masters, got ${masters}`);
  const nodes: RedisServer[] = [];
  const spares: RedisServer[] = [];
  const dispose = async () => {
    await Promise.all([...nodes, ...spares].map((node) => node.dispose()));
  };
  const server = { cluster: true, ...(nodeTimeoutMs !== undefined ? { clusterNodeTimeoutMs: nodeTimeoutMs } : {}) };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startRedisServer(server));
    for (let i = 0; replicas && i < masters; i++) spares.push(await startRedisServer(server));
    const addresses = [...nodes, ...spares].map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', replicas ? '1' : '0', '--cluster-yes'], CLUSTER_READY_TIMEOUT_MS);
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    for (const node of [...nodes, ...spares]) {
      await until(deadline, `Redis Cluster node 127.0.0.1:${node.port} to say cluster_state:ok`, async () => {
        const info = await cli(node, 'CLUSTER', 'INFO');
        return /^cluster_state:ok\b/m.test(info) ? true : info;
      });
    }
    // redis-cli makes masters of the first addresses, with the slot ranges in their order; it picks each one's replica itself.
    const ids = await Promise.all(nodes.map(async (node) => (await cli(node, 'CLUSTER', 'MYID')).trim()));
    const ordered: RedisServer[] = [];
    for (const spare of spares) {
      await waitForLink(spare);
      const master = /^\S+ \S+ myself,slave (\S+)/m.exec(await cli(spare, 'CLUSTER', 'NODES'))?.[1];
      const index = ids.indexOf(master ?? '');
      if (index < 0 || ordered[index]) throw new Error(`Redis Cluster node 127.0.0.1:${spare.port} is no replica of its own master (${master ?? 'no master'})`);
      ordered[index] = spare;
    }
    return {
      nodes,
      replicas: ordered,
      url: nodes[0]!.url,
      moveSlot: (slot, from, to) => moveSlot(nodes, slot, from, to),
      failedOver: (dead, timeoutMs) => failedOver([...nodes, ...spares], ordered[nodes.indexOf(dead)], timeoutMs),
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

async function failedOver(all: RedisServer[], replica: RedisServer | undefined, timeoutMs: number): Promise<RedisServer> {
  if (!replica) throw new Error('failedOver: that master has no replica in this cluster (start it with replicas: true)');
  await until(Date.now() + timeoutMs, `the replica 127.0.0.1:${replica.port} to take over`, async () => {
    const role = (await cli(replica, 'ROLE')).split('\n')[0]!.trim();
    if (role !== 'master') return `ROLE of the replica: ${role}`;
    for (const node of all.filter((n) => n.running)) {
      const info = await cli(node, 'CLUSTER', 'INFO');
      if (!/^cluster_state:ok\b/m.test(info)) return `127.0.0.1:${node.port}: ${/^cluster_state:\w+/m.exec(info)?.[0] ?? info}`;
    }
    return true;
  });
  return replica;
}

/** redis-cli against one node, at most 5 s. */
function cli(node: RedisServer, ...args: string[]): Promise<string> {
  return run('redis-cli', ['-p', String(node.port), ...args], 5_000);
}

/** Polls `check` every 100 ms until it returns true; fails at `deadline` with `what` and its last answer. */
async function until(deadline: number, what: string, check: () => Promise<true | string>): Promise<void> {
  for (;;) {
    const answer = await check().catch((err: Error) => err.message);
    if (answer === true) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}:\n${answer}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function moveSlot(nodes: RedisServer[], slot: number, from: RedisServer, to: RedisServer): Promise<void> {
  const id = async (node: RedisServer) => (await cli(node, 'CLUSTER', 'MYID')).trim();
  const [fromId, toId] = [await id(from), await id(to)];
  await cli(to, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId);
  await cli(from, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId);
  for (;;) {
    const keys = (await cli(from, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').filter(Boolean);
    if (keys.length === 0) break;
    await cli(from, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
  }
  for (const node of [to, from, ...nodes.filter((n) => n !== to && n !== from)]) await cli(node, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', toId);
}

/** Runs a command to its end; resolves with its output, rejects with it when it fails or outlasts `timeoutMs`. */
function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed (${err.message}):\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}
