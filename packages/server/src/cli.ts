/**
 * The `wskit` command line: `wskit serve` runs the server, `wskit add` the
 * add client. Flags are parsed with node:util parseArgs.
 */
import { parseArgs } from 'node:util';
import { runAddClient } from './add/client.js';
import { CHAT_FLAGS, chatOptionsFromFlags, parseDuration } from './chat/index.js';
import { startServer } from './server.js';

const USAGE = `Usage:
  wskit serve [--port 8080] [--host 127.0.0.1] [chat flags]
      Serve the chat page (/), the chat socket (/ws), the add service (/add),
      the echo service (/echo), /healthz and /metrics. PORT and HOST env work too.
      Chat flags: --data DIR  --history N  --ping-period 54s  --pong-wait 60s
        --write-wait 10s  --send-queue 256  --rate-limit 20  --rate-burst 40
        --allow-origin URL (repeatable)  --max-rooms N
        --max-connections N (WebSocket connections on all routes; more get 503)
        --redis redis://HOST:PORT
  wskit add [--url ws://localhost:8080/add] [--a 7] [--b 4] [--count 10]
            [--interval 1s] [--header 'Cookie: name=zcy'] (repeatable)
      Send count requests {"A":a+i,"B":b} and print each answer.
`;

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new RangeError(`Invalid port ${JSON.stringify(text)}: use 0–65535`);
  return port;
}

function parseInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: use an integer`);
  return value;
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string' }, host: { type: 'string' }, ...CHAT_FLAGS },
    strict: true,
  });
  const { port, host, ...chatFlags } = values;
  const running = await startServer({
    port: parsePort(port ?? process.env.PORT ?? '8080'),
    host: host ?? process.env.HOST ?? '127.0.0.1',
    chat: chatOptionsFromFlags(chatFlags),
  });
  console.log(`wskit listening on ${running.url}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.log(`${signal}: shutting down`);
      const force = setTimeout(() => {
        console.error('shutdown took longer than 5 s; exiting');
        process.exit(1);
      }, 5000);
      force.unref();
      running.shutdown().then(resolve, (err: Error) => {
        console.error(`shutdown failed: ${err.message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return process.exitCode === 1 ? 1 : 0;
}

async function add(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string', default: 'ws://localhost:8080/add' },
      a: { type: 'string', default: '7' },
      b: { type: 'string', default: '4' },
      count: { type: 'string', default: '10' },
      interval: { type: 'string', default: '1s' },
      header: { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  });
  const headers: Record<string, string> = {};
  for (const line of values.header) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RangeError(`Invalid --header ${JSON.stringify(line)}: use 'Name: value'`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const count = parseInteger('--count', values.count);
  if (count < 1) throw new RangeError(`Invalid --count ${count}: use 1 or more`);
  return runAddClient({
    url: values.url,
    a: parseInteger('--a', values.a),
    b: parseInteger('--b', values.b),
    count,
    intervalMs: parseDuration('--interval', values.interval),
    headers,
    out: (line) => console.log(line),
  });
}

/** main runs the command line and resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(rest);
    if (command === 'add') return await add(rest);
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    }
    console.error(`wskit: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  } catch (err) {
    console.error(`wskit: ${(err as Error).message}`);
    return 1;
  }
}
