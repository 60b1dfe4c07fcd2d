/**
 * Starts `warden start` as a real child process on free loopback ports with its own temp data dir, and runs the
 * real `warden` CLI against it. Owns its temp dir and its child; a Warden left running when the test process exits
 * is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess, type ProcessResult } from './process.js';

/** A policy that lets every caller run everything on every target (tests of the data path itself). */
export const ALLOW_ALL_POLICY = `kind: Policy
name: allow-all
rules:
  - name: everything
    effect: allow
`;

/** Absolute path of the `warden` executable script. */
export const WARDEN_BIN = fileURLToPath(new URL('../../bin/warden.mjs', import.meta.url));

/** A running Warden process. */
export interface WardenProcess {
  dataDir: string;
  ports: { api: number; postgres: number; ssh: number; kubernetes: number; http: number };
  url: string;
  adminToken: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): { stdout: string; stderr: string };
  /** Runs the CLI against this Warden (admin token unless `env.WARDEN_TOKEN` says otherwise). */
  cli(args: string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** Applies policy YAML with `warden apply -f -`; throws when the CLI fails. */
  applyPolicy(yaml: string): Promise<void>;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number | null>;
}

/** Outcome of one CLI run. */
export type CliResult = ProcessResult;

const children = new Set<ChildProcess>();
process.once('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** Runs `node bin/warden.mjs ARGS` and collects its output. */
export function runWarden(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return runProcess(process.execPath, [WARDEN_BIN, ...args], { env: { ...process.env, ...options.env }, stdin: options.stdin });
}

/** Starts Warden with ports 0 in a fresh data dir (or `dataDir`) and waits until ports.json appears. */
export async function startWarden(options: { dataDir?: string; args?: string[]; env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<WardenProcess> {
  const dataDir = options.dataDir ?? await fs.mkdtemp(path.join(os.tmpdir(), 'warden-e2e-'));
  await fs.rm(path.join(dataDir, 'ports.json'), { force: true });
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), WARDEN_BIN, 'start', '--data-dir', dataDir, '--api-port', '0',
    '--postgres-port', '0', '--ssh-port', '0', '--kube-port', '0', '--http-port', '0', '--log-level', 'info', ...(options.args ?? [])], {
    env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { children.delete(child); resolve(code); }));
  const ports = await waitForPorts(dataDir, exited, () => stderr);
  const adminToken = (await fs.readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim();
  const url = `http://127.0.0.1:${ports.api}`;
  const cli: WardenProcess['cli'] = (args, o = {}) =>
    runWarden(args, { stdin: o.stdin, env: { WARDEN_URL: url, WARDEN_TOKEN: adminToken, ...o.env } });
  return {
    dataDir, ports, url, adminToken, child,
    output: () => ({ stdout, stderr }),
    cli,
    applyPolicy: async (yaml) => {
      const r = await cli(['apply', '-f', '-'], { stdin: yaml });
      if (r.code !== 0) throw new Error(`warden apply failed: ${r.stderr}`);
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function waitForPorts(dataDir: string, exited: Promise<number | null>, stderr: () => string): Promise<WardenProcess['ports']> {
  let done = false;
  exited.then(() => (done = true), () => (done = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      return JSON.parse(await fs.readFile(path.join(dataDir, 'ports.json'), 'utf8'));
    } catch { /* not written yet */ }
    if (done) throw new Error(`warden exited during start:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`warden did not start within 60 s:\n${stderr()}`);
}
