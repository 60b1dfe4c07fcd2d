/**
 * Runs a program to completion with optional standard input and collects its exit code and output. The one way
 * tests run `warden`, `psql` and friends, so every caller gets the same handling of stdin, errors and close.
 */
import { spawn } from 'node:child_process';

/** Exit code and output of a finished process. */
export interface ProcessResult {
  /** The exit code, -1 when a signal ended the process. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file args`, writes `stdin` (or nothing) to it, and resolves once it closed. */
export function runProcess(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string; cwd?: string } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {}); // a program that exits without reading stdin must not fail the test
    child.stdin.end(options.stdin ?? '');
  });
}
