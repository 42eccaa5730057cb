/**
 * A throw-away `redis-server` for the Redis fan-out row: in-memory only, on a
 * free 127.0.0.1 port, in its own temporary directory. The tests' starter
 * (packages/testing/src/redis-server.ts) does the work, so the bench and the tests run
 * Redis the same way; this module keeps the bench's small API over it.
 */
import { hasRedisServer, startRedisCluster, startRedisServer } from 'wskit-testing/redis-server';

/** BenchRedis is one running redis-server; the bench needs its pid to count Redis's CPU. */
export interface BenchRedis {
  pid: number;
  url: string;
  /** stop ends the process (SIGTERM, SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

/** redisMissing returns why `redis-server` cannot run here, or undefined when it can, so the row is skipped with a reason rather than failed. */
export function redisMissing(): string | undefined {
  return hasRedisServer() ? undefined : 'redis-server is not installed (apt-get install redis-server)';
}

/** startRedis starts redis-server on a free 127.0.0.1 port in a temporary directory; throws with its output if it cannot. */
export async function startRedis(): Promise<BenchRedis> {
  const server = await startRedisServer();
  return {
    pid: server.pid ?? -1,
    url: server.url,
    async stop() {
      // SIGTERM lets Redis shut down cleanly; dispose() alone would SIGKILL it.
      await server.stop();
      await server.dispose();
    },
  };
}

/** BenchRedisCluster is a running Redis Cluster of masters; the bench sums their CPU. */
export interface BenchRedisCluster {
  pids: number[];
  /** The first master's URL; the chat nodes discover the others. */
  url: string;
  /** stop ends every node and removes their directories. */
  stop(): Promise<void>;
}

/** startRedisClusterBench starts a Redis Cluster of `masters` in-memory masters (redis-cli --cluster create), every slot served. */
export async function startRedisClusterBench(masters: number): Promise<BenchRedisCluster> {
  const cluster = await startRedisCluster(masters);
  return {
    pids: cluster.nodes.map((node) => node.pid ?? -1),
    url: cluster.url,
    async stop() {
      await Promise.all(cluster.nodes.map((node) => node.stop()));
      await cluster.dispose();
    },
  };
}
