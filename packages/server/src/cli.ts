/**
 * The `wskit` command line: `wskit serve` runs the server, `wskit add` the
 * add client. Each command's flag table (see cli-flags.ts) drives both the
 * parser and its `--help`.
 *
 * Exit status: 0 on success and after `--help`; 1 on a bad flag value
 * (`--history -1`, `--redis http://x`) and on a failure (a busy port, an
 * unwritable data directory, a failed add request); 2 on a usage error (no
 * command, an unknown command or flag, a missing value).
 */
import { runAddClient } from './add/client.js';
import { CHAT_FLAGS, chatOptionsFromFlags, parseCount, parseDuration } from './chat/index.js';
import { type FlagTable, formatFlags, HELP_FLAG, parseFlags, UsageError, wantsHelp } from './cli-flags.js';
import { timestampedLog } from './log.js';
import { MAX_CONNECTIONS_PER_IP, startServer } from './server.js';

const DEFAULT_PORT = '8080';
const DEFAULT_HOST = '127.0.0.1';

/** The flags of `wskit serve`. */
export const SERVE_FLAGS = {
  port: { type: 'string', value: 'N', env: 'PORT', unset: DEFAULT_PORT, help: 'TCP port to listen on, 0–65535; 0 picks a free one' },
  host: { type: 'string', value: 'H', env: 'HOST', unset: DEFAULT_HOST, help: 'address to listen on; 0.0.0.0 for every interface' },
  'tls-cert': { type: 'string', value: 'PATH', help: 'serve HTTPS and WSS, HTTP/2 and HTTP/1.1 on one port, with this PEM certificate chain (with --tls-key); re-read on SIGHUP', unset: 'plain HTTP' },
  'tls-key': { type: 'string', value: 'PATH', help: 'the PEM private key of --tls-cert; re-read on SIGHUP', unset: 'plain HTTP' },
  'max-connections-per-ip': { type: 'string', value: 'N', help: 'WebSocket connections from one client address; more get 429', unset: String(MAX_CONNECTIONS_PER_IP) },
  'trust-proxy': { type: 'string', multiple: true, value: 'CIDR', help: 'a proxy whose X-Forwarded-For names the client (10.0.0.0/8, ::1)', unset: 'none' },
  ...CHAT_FLAGS,
  ...HELP_FLAG,
} as const satisfies FlagTable;

/** The flags of `wskit add`. */
export const ADD_FLAGS = {
  url: { type: 'string', value: 'URL', default: 'ws://localhost:8080/add', help: 'the add service to dial' },
  a: { type: 'string', value: 'N', default: '7', help: 'A of the first request; it grows by 1 per request' },
  b: { type: 'string', value: 'N', default: '4', help: 'B of every request' },
  count: { type: 'string', value: 'N', default: '10', help: 'requests to send, 1 or more' },
  interval: { type: 'string', value: 'D', default: '1s', help: 'time between requests' },
  header: { type: 'string', value: "'NAME: VALUE'", multiple: true, default: [] as string[], help: 'a handshake request header' },
  ...HELP_FLAG,
} as const satisfies FlagTable;

const COMMANDS = {
  serve: {
    flags: SERVE_FLAGS,
    about: `Serve the chat page (/), the chat socket (/ws), the add service (/add),
the echo service (/echo), /healthz and /metrics. Log lines go to standard
output, each after an ISO 8601 UTC timestamp. SIGINT or SIGTERM stops it.
Durations take a unit: 500ms, 54s, 1.5m, 1h.`,
    run: serve,
  },
  add: {
    flags: ADD_FLAGS,
    about: `Send count requests {"A":a+i,"B":b} to the add service and print the
handshake response headers, each request and each answer. Exits 1 unless
every request got a sum.`,
    run: add,
  },
} as const;

type Command = keyof typeof COMMANDS;

const EXIT_STATUS = 'Exit status: 0 ok, 1 a bad flag value or a failure, 2 a usage error.';

/** usage is the overview `wskit --help` prints. */
function usage(): string {
  return `Usage: wskit COMMAND [flags]

Commands:
  serve   run the chat, add and echo server (flags: ${flagNames(SERVE_FLAGS)})
  add     run the add client (flags: ${flagNames(ADD_FLAGS)})

Run wskit COMMAND --help for its flags and their defaults.
${EXIT_STATUS}
`;
}

/** commandHelp is what `wskit <command> --help` prints. */
function commandHelp(command: Command): string {
  const { flags, about } = COMMANDS[command];
  return `Usage: wskit ${command} [flags]

${about}

Flags:
${formatFlags(flags)}

${EXIT_STATUS}
`;
}

function flagNames(flags: FlagTable): string {
  return Object.keys(flags)
    .filter((name) => name !== 'help')
    .map((name) => `--${name}`)
    .join(' ');
}

/** main runs the command line and resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = rest[0];
    process.stdout.write(topic !== undefined && isCommand(topic) ? commandHelp(topic) : usage());
    return 0;
  }
  if (!isCommand(command)) {
    process.stderr.write(`wskit: Unknown command ${JSON.stringify(command)}; the commands are ${Object.keys(COMMANDS).join(' and ')} (see wskit --help)\n`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    return await COMMANDS[command].run(rest);
  } catch (err) {
    process.stderr.write(`wskit ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

function isCommand(name: string): name is Command {
  return Object.hasOwn(COMMANDS, name);
}

async function serve(args: string[]): Promise<number> {
  const {
    port: portFlag,
    host: hostFlag,
    'tls-cert': certFile,
    'tls-key': keyFile,
    'max-connections-per-ip': perIpFlag,
    'trust-proxy': trustProxy,
    help: _help,
    ...chatFlags
  } = parseFlags('serve', SERVE_FLAGS, args);
  const port = parsePort(portFlag !== undefined ? '--port' : 'PORT', portFlag ?? process.env.PORT ?? DEFAULT_PORT);
  const host = hostFlag ?? process.env.HOST ?? DEFAULT_HOST;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new RangeError(`Invalid TLS flags: --tls-cert and --tls-key go together; ${certFile === undefined ? '--tls-cert' : '--tls-key'} is missing`);
  }
  const tls = certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined;
  const maxConnectionsPerIp = perIpFlag === undefined ? undefined : parseCount('--max-connections-per-ip', perIpFlag, 1);
  const chat = chatOptionsFromFlags(chatFlags);
  const log = timestampedLog();
  const logError = timestampedLog((text) => console.error(text));
  let running;
  try {
    running = await startServer({ port, host, chat, log, tls, maxConnectionsPerIp, trustProxy });
  } catch (err) {
    throw listenError(err, host, port);
  }
  log(`wskit listening on ${running.url}`);
  const reload = () => {
    log('SIGHUP: reloading');
    running.reload().catch(() => {}); // each failure is logged where it happens
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: shutting down`);
      const force = setTimeout(() => {
        logError('shutdown took longer than 5 s; exiting');
        process.exit(1);
      }, 5000);
      force.unref();
      running.shutdown().then(resolve, (err: Error) => {
        logError(`shutdown failed: ${err.message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.off('SIGHUP', reload);
  return process.exitCode === 1 ? 1 : 0;
}

/** parsePort reads a port given by `source` (`--port` or `PORT`). */
function parsePort(source: string, text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new RangeError(`Invalid ${source} ${JSON.stringify(text)}: use a whole number, 0–65535`);
  return port;
}

/** listenError turns Node's listen failures into one line naming the flag and variable to change. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const reason =
    code === 'EADDRINUSE' ? 'the port is in use; pick another with --port or the PORT variable'
    : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges); pick another with --port or the PORT variable'
    : code === 'EADDRNOTAVAIL' ? 'the address is not one of this machine\'s; pick another with --host or the HOST variable'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve; pick another with --host or the HOST variable'
    : undefined;
  return reason === undefined ? err : new Error(`Cannot listen on ${where}: ${reason}`, { cause: err });
}

async function add(args: string[]): Promise<number> {
  const values = parseFlags('add', ADD_FLAGS, args);
  const headers: Record<string, string> = {};
  for (const line of values.header) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RangeError(`Invalid --header ${JSON.stringify(line)}: use 'Name: value'`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const count = parseInteger('--count', values.count);
  if (count < 1) throw new RangeError(`Invalid --count ${count}: use a whole number, 1 or more`);
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

function parseInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) throw new RangeError(`Invalid ${flag} ${JSON.stringify(text)}: use a whole number`);
  return value;
}
