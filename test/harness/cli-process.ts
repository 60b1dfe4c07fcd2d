/**
 * Runs a long-lived `warden` CLI command (such as `warden login`, which waits for a browser) as a child process whose
 * output the test can watch while it runs: wait for a line on stderr, act on it, then collect the exit. Owns only
 * the child; one left running when the test process exits is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ProcessResult } from './process.js';
import { WARDEN_BIN } from './warden.js';

/** A running CLI command. */
export interface RunningCli {
  /** Resolves with the first match of `pattern` in stderr; rejects if the command exits first. */
  waitForStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The exit code and all output, once the command ended. */
  result: Promise<ProcessResult>;
  kill(): void;
}

const children = new Set<ChildProcess>();
process.once('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** Starts `node bin/warden.mjs ARGS` with `env` added to this process's environment. */
export function spawnCli(args: string[], env: Record<string, string>): RunningCli {
  const child = spawn(process.execPath, [WARDEN_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    for (const w of watchers) w();
  });
  const result = new Promise<ProcessResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      for (const w of watchers) w();
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return {
    result,
    kill: () => void child.kill('SIGKILL'),
    waitForStderr: (pattern) => new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stderr);
        if (match) {
          watchers.delete(check);
          resolve(match);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          watchers.delete(check);
          reject(new Error(`warden ${args.join(' ')} exited (${child.exitCode}) before printing ${pattern}:\n${stderr}`));
        }
      };
      watchers.add(check);
      check();
    }),
  };
}
