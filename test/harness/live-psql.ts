/**
 * An interactive psql kept open through Warden, as a person's or an agent's long-lived session would be: the tests
 * type statements on its standard input and read everything it prints. Used where a session must stay open while
 * something else happens to it (a revocation, a disabled user, a token that expires). Test code only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Stack } from './stack.js';

/** A live psql session. */
export interface LivePsql {
  child: ChildProcess;
  /** Everything psql printed so far, standard output and error interleaved. */
  output(): string;
  /** Types SQL (one line) on psql's standard input. */
  send(sql: string): void;
  /**
   * An idle psql only reads the server's goodbye when it next talks to the server: sends one more statement, closes
   * standard input and waits for psql to exit.
   */
  poke(): Promise<number | null>;
  /** Resolves with psql's exit code. */
  exited: Promise<number | null>;
}

/** Starts `psql -X -A -t` against Warden's PostgreSQL port as `user`, with the token as its password. */
export function openPsql(stack: Stack, user: string, token: string): LivePsql {
  const child = spawn('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(stack.warden.ports.postgres), '-U', user,
    '-d', stack.target], { env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' },
    stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, output: () => text, send: (sql) => child.stdin!.write(`${sql}\n`), exited,
    poke: () => {
      if (child.exitCode === null) child.stdin!.end('SELECT 1;\n');
      return exited;
    },
  };
}
