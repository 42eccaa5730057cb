/**
 * Command-line and environment settings of `npm run bench`. Every knob has a
 * bounded default sized so a full run stays under 10 minutes on 2 cores;
 * `--quick` shrinks everything to a smoke run of about a minute.
 */

/** Section names a run can include. */
export const Sections = ['echo', 'deflate', 'http2', 'memory', 'fanout', 'fanout-redis', 'storm', 'storm-redis', 'core'] as const;
/** One bench section. */
export type Section = (typeof Sections)[number];

/** BenchOptions is the resolved configuration of one run. */
export interface BenchOptions {
  /** sections to run; default all. */
  sections: Section[];
  /** echo row filters: a row runs if its id contains any of them; default none (all rows). */
  rows: string[];
  /** rounds per echo row, each measuring every server once (A B A B …); default 3. */
  rounds: number;
  /** warm-up before each measured window, ms (deep pipelines of large messages get more); default 200. */
  warmupMs: number;
  /** measured window per echo round, ms; default 800. */
  measureMs: number;
  /**
   * gen picks the echo rows' load generator: the C generator of
   * bench/load/native-client.c (default; about half the CPU per message of the
   * next, so the server, not the generator, is what a row measures), the raw
   * pre-encoded Node client (used when no C compiler is found, and by the
   * fan-out subscribers) or the npm `ws` client.
   */
  gen: 'ws' | 'raw' | 'native';
  /**
   * wskitStyle is how the echo rows' wskit server reads: `on-message` (one
   * `conn.onMessage` handler for every connection, the callback style ws's
   * server is written in; default) or `for-await` (a loop per connection).
   */
  wskitStyle: 'on-message' | 'for-await';
  /** load-generator processes for echo rows; default 1 (server and generator each get one of 2 cores). */
  workers: number;
  /** echo message sizes, bytes; default 32, 1 KiB, 64 KiB, 1 MiB. */
  sizes: number[];
  /** connection counts for echo rows; default 1 and 50. */
  conns: number[];
  /** messages in flight per connection; default 1 (closed loop) and 16 (pipelined). */
  inflight: number[];
  /** idle connections for the memory row; default 10,000. */
  idleConns: number;
  /** rounds of the memory row; default 2. */
  memoryRounds: number;
  /** subscribers in the fan-out room; default 1,000. */
  fanoutClients: number;
  /** rounds of the fan-out search per server; default 2. */
  fanoutRounds: number;
  /** rounds of the Redis fan-out search (2 nodes through redis-server); default 2 (about 40 s in all), 1 with --quick. */
  fanoutRedisRounds: number;
  /** fanoutStartRate is the fan-out searches' first publish rate; unset: START_RATE (50). */
  fanoutStartRate?: number;
  /** redisBatchWait is passed to the Redis rows' nodes as `--redis-batch-wait`; unset: the server's default. */
  redisBatchWait?: string;
  /** publishing time of one fan-out trial, ms; default 1500. */
  fanoutTrialMs: number;
  /** most trials of one fan-out search; default 10. */
  fanoutMaxTrials: number;
  /** users joining the room in each join-storm row (sections storm and storm-redis); default 1,000 and 5,000, 500 with --quick. */
  stormUsers: number[];
  /**
   * where the results are written: bench/results for a plain `npm run bench`
   * (the table README quotes), bench/results/partial for a run with any other
   * flag or BENCH_* setting, so a partial run never replaces the full table.
   */
  outDir: string;
  /** quick is true for a `--quick` smoke run; the table says so. */
  quick: boolean;
}

const KiB = 1024;
const MiB = 1024 * 1024;

function intList(text: string): number[] {
  return text.split(',').map((part) => {
    const m = /^(\d+)([kKmM]?)$/.exec(part.trim());
    if (!m) throw new RangeError(`Cannot read "${part}" as a size: use digits with an optional k or m suffix`);
    return Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? KiB : MiB) : 1);
  });
}

function positive(name: string, text: string, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`Cannot use --${name} ${text}: expected an integer from 1 to ${max}`);
  }
  return value;
}

/**
 * parseOptions reads `argv` (after the script name) and the BENCH_* environment.
 * Flags: --quick, --core (core micro-benchmarks only), --only a,b, --skip a,b,
 * --rows s1,s2 (BENCH_ROWS), --gen native|raw|ws (BENCH_GEN), --wskit-style on-message|for-await, --rounds N, --warmup MS, --measure MS, --workers N,
 * --sizes 32,1k,64k,1m, --conns 1,50, --inflight 1,16, --idle-conns N, --memory-rounds N,
 * --fanout-clients N, --fanout-rounds N, --fanout-redis-rounds N,
 * --fanout-start-rate N (the fan-out searches' first rate; unset: 50), --fanout-trials N (trials per search;
 * with --fanout-start-rate, `--fanout-trials 1` measures one fixed rate, e.g. CPU per delivery at 100 msg/s), --redis-batch-wait D (passed to every `wskit serve --redis` node; unset: the server's default),
 * --storm-users 1000,5000, --out DIR
 * (default bench/results, or bench/results/partial when anything else is set).
 * Sections: echo, deflate, http2 (the h2 row: 1 KiB × 50 WebSockets as streams of one
 * HTTP/2 connection vs 50 HTTP/1.1 connections), memory, fanout, fanout-redis (2 nodes through
 * Redis), storm and storm-redis (the join-storm rows on 1 node and on 2 Redis nodes), core.
 */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const quick = argv.includes('--quick') || env.BENCH_QUICK === '1';
  const o: BenchOptions = quick
    ? {
        sections: [...Sections],
        rows: [],
        rounds: 2,
        warmupMs: 150,
        measureMs: 400,
        gen: 'native',
        wskitStyle: 'on-message',
        workers: 1,
        sizes: [32, 64 * KiB],
        conns: [1, 50],
        inflight: [1, 16],
        idleConns: 1000,
        memoryRounds: 1,
        fanoutClients: 200,
        fanoutRounds: 1,
        fanoutRedisRounds: 1,
        fanoutTrialMs: 800,
        fanoutMaxTrials: 5,
        stormUsers: [500],
        outDir: 'bench/results',
        quick,
      }
    : {
        sections: [...Sections],
        rows: [],
        rounds: 3,
        warmupMs: 200,
        measureMs: 800,
        gen: 'native',
        wskitStyle: 'on-message',
        workers: 1,
        sizes: [32, KiB, 64 * KiB, MiB],
        conns: [1, 50],
        inflight: [1, 16],
        idleConns: 10_000,
        memoryRounds: 2,
        fanoutClients: 1000,
        fanoutRounds: 2,
        fanoutRedisRounds: 2,
        fanoutTrialMs: 1500,
        fanoutMaxTrials: 10,
        stormUsers: [1000, 5000],
        outDir: 'bench/results',
        quick,
      };
  if (env.BENCH_GEN) o.gen = pickGen(env.BENCH_GEN);
  if (env.BENCH_ROWS) o.rows = env.BENCH_ROWS.split(',').filter(Boolean);
  if (env.BENCH_ONLY) o.sections = pickSections(env.BENCH_ONLY);
  let outGiven = false;
  let customized = quick || Boolean(env.BENCH_GEN || env.BENCH_ROWS || env.BENCH_ONLY);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag !== '--out') customized = true;
    const next = (): string => {
      const value = argv[++i];
      if (value === undefined) throw new RangeError(`Missing value after ${flag}`);
      return value;
    };
    switch (flag) {
      case '--quick':
        break;
      case '--core':
        o.sections = ['core'];
        break;
      case '--only':
        o.sections = pickSections(next());
        break;
      case '--skip': {
        const skip = pickSections(next());
        o.sections = o.sections.filter((s) => !skip.includes(s));
        break;
      }
      case '--rows':
        o.rows = next().split(',').filter(Boolean);
        break;
      case '--rounds':
        o.rounds = positive('rounds', next(), 50);
        break;
      case '--warmup':
        o.warmupMs = positive('warmup', next(), 60_000);
        break;
      case '--measure':
        o.measureMs = positive('measure', next(), 60_000);
        break;
      case '--gen':
        o.gen = pickGen(next());
        break;
      case '--wskit-style': {
        const style = next();
        if (style !== 'on-message' && style !== 'for-await') throw new RangeError(`--wskit-style must be on-message or for-await, not ${style}`);
        o.wskitStyle = style;
        break;
      }
      case '--workers':
        o.workers = positive('workers', next(), 16);
        break;
      case '--sizes':
        o.sizes = intList(next());
        break;
      case '--conns':
        o.conns = intList(next());
        break;
      case '--inflight':
        o.inflight = intList(next());
        break;
      case '--idle-conns':
        o.idleConns = positive('idle-conns', next(), 50_000);
        break;
      case '--memory-rounds':
        o.memoryRounds = positive('memory-rounds', next(), 20);
        break;
      case '--fanout-clients':
        o.fanoutClients = positive('fanout-clients', next(), 10_000);
        break;
      case '--fanout-rounds':
        o.fanoutRounds = positive('fanout-rounds', next(), 10);
        break;
      case '--fanout-redis-rounds':
        o.fanoutRedisRounds = positive('fanout-redis-rounds', next(), 10);
        break;
      case '--fanout-trials':
        o.fanoutMaxTrials = positive('fanout-trials', next(), 50);
        break;
      case '--fanout-start-rate':
        o.fanoutStartRate = positive('fanout-start-rate', next(), 20_000);
        break;
      case '--redis-batch-wait':
        o.redisBatchWait = next();
        break;
      case '--storm-users':
        o.stormUsers = intList(next()).map((n) => positive('storm-users', String(n), 9_000));
        break;
      case '--out':
        o.outDir = next();
        outGiven = true;
        break;
      default:
        throw new RangeError(`Unknown flag ${flag}; see bench/options.ts for the list`);
    }
  }
  if (customized && !outGiven) o.outDir = 'bench/results/partial';
  return o;
}

function pickSections(text: string): Section[] {
  const names = text.split(',').filter(Boolean);
  for (const name of names) {
    if (!(Sections as readonly string[]).includes(name)) {
      throw new RangeError(`Unknown section "${name}": expected one of ${Sections.join(', ')}`);
    }
  }
  return names as Section[];
}

function pickGen(text: string): BenchOptions['gen'] {
  if (text !== 'ws' && text !== 'raw' && text !== 'native') throw new RangeError(`Unknown generator "${text}": expected native, raw or ws`);
  return text;
}
