/**
 * The tiny fake shell that exec runs in the test API server's "containers". Not a real shell: it knows `echo`
 * (`-n`: no newline; `>&2` sends to stderr), `cat` (copies stdin until it closes), `exit N`, `true`, `false`,
 * `sleep N`, `hostname`, `whoami`, `pwd`, `env`/`printenv`, and `sh`/`bash` (`-c SCRIPT`, or interactive: lines read
 * from stdin, with a `# ` prompt and echo of typed keys when there is a terminal). Commands in a script are separated
 * by `;` or `&&`; words are split with single and double quotes. Anything else prints `sh: 1: NAME: not found` and
 * exits 127.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** What a running command can do with its streams. */
export interface ShellIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The next chunk of stdin, or undefined once stdin is closed. */
  read(): Promise<string | undefined>;
  tty: boolean;
  hostname: string;
  /** Aborted when the connection goes away. */
  signal: AbortSignal;
}

class Exit {
  constructor(readonly code: number) {}
}

/** Splits one command line into words (single and double quotes, backslash escapes). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word = (word ?? '') + line[++i];
      else word = (word ?? '') + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Splits a script into commands on `;`, `&&` and newlines outside quotes; `and` marks `&&` (skip after a failure). */
function splitCommands(script: string): { text: string; and: boolean }[] {
  const out: { text: string; and: boolean }[] = [];
  let quote: string | undefined;
  let start = 0;
  let and = false;
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === ';' || c === '\n' || (c === '&' && script[i + 1] === '&')) {
      out.push({ text: script.slice(start, i), and });
      and = c === '&';
      if (and) i++;
      start = i + 1;
    }
  }
  out.push({ text: script.slice(start), and });
  return out.filter((c) => c.text.trim() !== '');
}

/** A line-buffered reader over the stream's stdin; with a terminal it echoes keys as a tty's line discipline does. */
class LineReader {
  private buffer = '';
  constructor(private readonly io: ShellIo) {}

  async line(): Promise<string | undefined> {
    for (;;) {
      const nl = this.buffer.search(/[\r\n]/);
      if (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
        return line;
      }
      const chunk = await this.io.read();
      if (chunk === undefined) {
        if (this.buffer === '') return undefined;
        const rest = this.buffer;
        this.buffer = '';
        return rest;
      }
      if (this.io.tty) {
        if (chunk.includes('\x04') && this.buffer === '') return undefined;
        this.io.stdout(chunk.replace(/\r/g, '\r\n'));
      }
      this.buffer += chunk;
    }
  }
}

const NL = (io: ShellIo): string => (io.tty ? '\r\n' : '\n');

async function runWords(words: string[], io: ShellIo, reader: LineReader): Promise<number> {
  const [name, ...args] = words;
  switch (name) {
    case 'echo': {
      const toErr = args[args.length - 1] === '>&2';
      // `echo -n`: no newline, so a test can split one value over two writes (two stdout frames).
      const noNewline = args[0] === '-n';
      const words = (toErr ? args.slice(0, -1) : args).slice(noNewline ? 1 : 0);
      const text = words.join(' ') + (noNewline ? '' : NL(io));
      if (toErr) io.stderr(text);
      else io.stdout(text);
      return 0;
    }
    case 'exit': throw new Exit(args[0] === undefined ? 0 : Number(args[0]) & 255);
    case 'true': return 0;
    case 'false': return 1;
    case 'hostname': io.stdout(io.hostname + NL(io)); return 0;
    case 'whoami': io.stdout(`root${NL(io)}`); return 0;
    case 'pwd': io.stdout(`/${NL(io)}`); return 0;
    case 'env': case 'printenv':
      io.stdout([`HOSTNAME=${io.hostname}`, 'HOME=/root', 'PATH=/usr/local/bin:/usr/bin:/bin', 'KUBERNETES_SERVICE_HOST=10.96.0.1', '']
        .join(NL(io)));
      return 0;
    case 'sleep':
      await delay(Number(args[0] ?? 0) * 1000, undefined, { signal: io.signal }).catch(() => {});
      return 0;
    case 'cat':
      if (args.length > 0) {
        io.stderr(`cat: ${args[0]}: No such file or directory${NL(io)}`);
        return 1;
      }
      for (let line = await reader.line(); line !== undefined; line = await reader.line()) io.stdout(line + NL(io));
      return 0;
    case 'sh': case 'bash': case '/bin/sh': case '/bin/bash':
      if (args[0] === '-c') return runScript(args[1] ?? '', io, reader);
      return interactive(io, reader);
    default:
      io.stderr(`sh: 1: ${name}: not found${NL(io)}`);
      return 127;
  }
}

async function runScript(script: string, io: ShellIo, reader: LineReader): Promise<number> {
  let status = 0;
  for (const command of splitCommands(script)) {
    if (command.and && status !== 0) continue;
    status = await runWords(splitWords(command.text), io, reader);
  }
  return status;
}

async function interactive(io: ShellIo, reader: LineReader): Promise<number> {
  let status = 0;
  for (;;) {
    if (io.tty) io.stdout('# ');
    const line = await reader.line();
    if (line === undefined) {
      if (io.tty) io.stdout(`exit${NL(io)}`);
      return status;
    }
    status = await runScript(line, io, reader);
  }
}

/** Runs `command` (an exec's argv) and returns its exit code. */
export async function runCommand(command: string[], io: ShellIo): Promise<number> {
  try {
    return await runWords(command, io, new LineReader(io));
  } catch (err) {
    if (err instanceof Exit) return err.code;
    throw err;
  }
}
