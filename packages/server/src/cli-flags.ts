/**
 * Flags of the `wskit` commands: one table per command feeds both
 * `node:util` parseArgs and the `--help` text, so the two cannot drift.
 * parseArgs' errors become one-line {@link UsageError}s that name the flag.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOption = NonNullable<ParseArgsConfig['options']>[string];

/** FlagSpec is a parseArgs option with what `--help` prints about it. */
export interface FlagSpec extends ParseArgsOption {
  /** The value's placeholder in help (`N`, `DIR`, `URL`); unset for a boolean flag. */
  readonly value?: string;
  /** One line saying what the flag does. */
  readonly help: string;
  /** What applies when the flag is unset, for flags without a parseArgs `default`. */
  readonly unset?: string;
  /** Environment variable read when the flag is unset. */
  readonly env?: string;
}

/** A command's flag table. */
export type FlagTable = Readonly<Record<string, FlagSpec>>;

/**
 * UsageError reports a command line that cannot be parsed: an unknown flag,
 * a missing value, a stray argument. `wskit` exits 2 on it (1 on a bad value).
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The flag every command takes. */
export const HELP_FLAG = { help: { type: 'boolean', short: 'h', help: 'print this help and exit' } } as const;

/** The parsed values of a flag table. */
export type FlagValues<T extends FlagTable> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true }>>['values'];

/**
 * parseFlags parses `args` with `flags`. A negative number after a flag that
 * takes a value (`--history -1`) is that flag's value, so it reaches the
 * flag's own validation. Throws {@link UsageError} naming the flag and
 * `command` (for the pointer to its help) when the line cannot be parsed.
 */
export function parseFlags<T extends FlagTable>(command: string, flags: T, args: readonly string[]): FlagValues<T> {
  try {
    return parseArgs({ args: attachNegativeValues(flags, args), options: flags, strict: true, allowPositionals: false }).values as FlagValues<T>;
  } catch (err) {
    throw usageErrorOf(command, err);
  }
}

/** wantsHelp reports whether `args` ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/**
 * formatFlags lists `flags` for `--help`, one per line, aligned:
 * `--history N   messages kept per room (default 100)`.
 */
export function formatFlags(flags: FlagTable): string {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    const notes = [
      spec.multiple ? 'repeatable' : '',
      spec.env ? `env ${spec.env}` : '',
      defaultOf(spec) === undefined ? '' : `default ${defaultOf(spec)}`,
    ].filter((note) => note !== '');
    return [left, notes.length > 0 ? `${spec.help} (${notes.join('; ')})` : spec.help] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n');
}

function defaultOf(spec: FlagSpec): string | undefined {
  if (spec.unset !== undefined) return spec.unset;
  if (spec.default === undefined || spec.type === 'boolean') return undefined;
  return Array.isArray(spec.default) ? (spec.default.length > 0 ? spec.default.join(', ') : undefined) : String(spec.default);
}

const NEGATIVE_NUMBER = /^-\.?\d/;

/** `--flag -1` → `--flag=-1`: parseArgs would call the value ambiguous. */
function attachNegativeValues(flags: FlagTable, args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    const spec = arg.startsWith('--') ? flags[arg.slice(2)] : undefined;
    if (spec?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The parseArgs error codes (Node 20), turned into messages of our own. */
function usageErrorOf(command: string, err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return err;
  const message = (err as Error).message;
  // parseArgs quotes the argument: "Unknown option '--foo'", "Option '--x <value>' argument missing".
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const flag = /--[^\s',]+/.exec(quoted)?.[0] ?? quoted;
  const see = `(see wskit ${command} --help)`;
  let text: string;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    text = `Unknown flag ${quoted} ${see}`;
  } else if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    text = `Unexpected argument ${JSON.stringify(quoted)}: wskit ${command} takes only flags ${see}`;
  } else if (/argument missing/.test(message)) {
    text = `Missing value for ${flag} ${see}`;
  } else if (/ambiguous/.test(message)) {
    text = `Missing value for ${flag}; to give a value that starts with a dash, write ${flag}=VALUE ${see}`;
  } else if (/does not take an argument/.test(message)) {
    text = `${flag} takes no value ${see}`;
  } else {
    text = `${message.split('\n')[0]} ${see}`;
  }
  return new UsageError(text, { cause: err });
}
