/**
 * The two ways CLI tests run `warden`: in this process with a captured terminal (an Io double that collects what
 * the command prints and answers standard input from a string), and as the real executable in a child process.
 * Test support only; never imported by production code.
 */
import { fileURLToPath } from 'node:url';
import { runProcess } from '../../test/harness/process.js';
import type { Io } from './common.js';
import { main } from './main.js';

/** The real `warden` executable. */
export const WARDEN_BIN = fileURLToPath(new URL('../../bin/warden.mjs', import.meta.url));

/** How one run ended: exit code and everything printed. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for a run; an undefined value removes the variable. */
export type CliEnv = Record<string, string | undefined>;

/** Runs `main` in this process with a captured terminal (never a TTY) in `cwd`, with exactly `env`. */
export async function runCaptured(args: string[], o: { env: CliEnv; cwd: string; stdin?: string }): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => o.stdin ?? '',
    env: o.env, cwd: o.cwd, stdinIsTTY: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** Runs the real `warden` executable in `cwd` with this process's environment plus `env`. */
export function runSpawned(args: string[], o: { env: CliEnv; cwd: string; stdin?: string }): Promise<CliRun> {
  const env: CliEnv = { ...process.env, ...o.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return runProcess(process.execPath, [WARDEN_BIN, ...args], { cwd: o.cwd, env, stdin: o.stdin });
}
