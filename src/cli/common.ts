/**
 * Plumbing shared by the `warden` subcommands: the injectable terminal (`Io`), the two kinds of CLI failure (usage
 * errors exit 2, everything else exits 1), strict argument parsing and the options every API command takes.
 * It must never print a token or a password, and never call process.exit (the exit code is returned to bin/).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean, parseErrorMessage, subcommandUsage } from './usage.js';

/** Where a command reads and writes; tests pass their own to capture output. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The whole of standard input, as UTF-8. */
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether stdin is a terminal (then a password prompt is printed before reading it). */
  stdinIsTTY: boolean;
  /** Whether stdout / stderr are terminals (then `--watch` clears the screen and `--wait` shows a countdown). */
  stdoutIsTTY?: boolean;
  stderrIsTTY?: boolean;
  /** Ends `--watch` and `--wait` (tests); without it they end on Ctrl-C (SIGINT). */
  signal?: AbortSignal;
}

/** The real terminal of this process. */
export function processIo(): Io {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    cwd: process.cwd(),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

/** The command line was wrong: print the message and the usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Anything else that stops a command (API error, unreachable server, unreadable file): exit 1. */
export class CliError extends Error {
  override name = 'CliError';
  /** The API's stable `WARDEN_ERR_*` code, when the failure came from the API. */
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Runs a command body and turns failures into output and an exit code, so every command fails the same way:
 * `warden: <message> (<code>)` on stderr.
 */
export async function guard(io: Io, usage: string | (() => string), body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`warden: ${err.message}\n\n${typeof usage === 'function' ? usage() : usage}`);
      return 2;
    }
    if (err instanceof CliError) {
      io.stderr(`warden: ${err.message}${err.code ? ` (${err.code})` : ''}\n`);
      return 1;
    }
    io.stderr(`warden: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Options every command that calls the control API accepts. */
export const CONNECTION_OPTIONS = {
  token: { type: 'string' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Help lines describing CONNECTION_OPTIONS, appended to each command's usage. */
export const CONNECTION_HELP = `Connection:
  --url URL        control API URL, with http:// or https:// (default: $WARDEN_URL, else the API port in
                   <$WARDEN_DATA_DIR or ./.warden>/ports.json, else http://127.0.0.1:8080)
  --token TOKEN    admin token (default: $WARDEN_TOKEN, else the sign-in \`warden login\` stored, else the file
                   <$WARDEN_DATA_DIR or ./.warden>/admin.token that \`warden start\` writes, if it exists)
`;

/** Strict parseArgs: unknown flags and missing values become usage errors in Warden's words, with a suggestion. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(parseErrorMessage(err, options));
  }
}

/** Returns the positionals when there are exactly `names.length` of them, else a usage error naming what's wrong. */
export function expectPositionals(positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing ${names[positionals.length]}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument "${positionals[names.length]}"`);
  return positionals;
}

/** Returns a required string flag or a usage error naming it. */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}`);
  return value;
}

/** Splits `a,b, c` into `['a','b','c']`, dropping empty items. */
export function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** A subcommand of a command group: its own argv, the terminal. */
export type Subcommand = (argv: string[], io: Io) => Promise<number>;

/**
 * Dispatches `warden <group> <sub> ...` to a subcommand; `--help`/`help` print the group's usage on stdout.
 * A usage error inside a subcommand shows only that subcommand's usage; a mistyped subcommand gets a suggestion.
 * Subcommand names are looked up with hasOwn so `warden targets constructor` is an unknown command, not a crash.
 */
export async function dispatch(
  argv: string[],
  io: Io,
  usage: string,
  subcommands: Record<string, Subcommand>,
): Promise<number> {
  const group = /warden (\S+)/.exec(usage)?.[1] ?? '';
  let shown = usage;
  return guard(io, () => shown, async () => {
    const [sub, ...rest] = argv;
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout(usage);
      return 0;
    }
    if (sub === undefined) throw new UsageError(`missing subcommand (one of ${Object.keys(subcommands).join(', ')})`);
    if (!Object.hasOwn(subcommands, sub)) {
      throw new UsageError(`unknown subcommand "${sub}" of warden ${group}${didYouMean(sub, Object.keys(subcommands))}`);
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(usage);
      return 0;
    }
    const canonical = Object.keys(subcommands).find((k) => subcommands[k] === subcommands[sub]) ?? sub;
    shown = subcommandUsage(usage, group, canonical);
    return subcommands[sub](rest, io);
  });
}
