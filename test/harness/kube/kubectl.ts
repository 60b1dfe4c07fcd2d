/**
 * Running the real `kubectl` in tests: a kubeconfig for a server (CA, token or client certificate) written to a
 * temp dir, and a runner that sets `KUBECONFIG` and `HOME` (kubectl caches discovery under `~/.kube/cache`, which
 * must never be the machine's own). `KUBECTL` in the environment names another binary (default: `kubectl` on PATH).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runProcess, type ProcessResult } from '../process.js';

/** The kubectl binary tests run. */
export const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** How a kubeconfig's user authenticates. */
export type KubeCredential = { token: string } | { clientCert: string; clientKey: string } | Record<string, never>;

/** What a kubeconfig points at. */
export interface KubeconfigSpec {
  server: string;
  caCert: string;
  credential: KubeCredential;
  namespace?: string;
}

/** A kubeconfig (JSON, which kubectl reads as YAML) with one cluster, user and context named `test`. */
export function kubeconfigText(spec: KubeconfigSpec): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const c = spec.credential;
  const user = 'token' in c ? { token: c.token }
    : 'clientCert' in c ? { 'client-certificate-data': b64(c.clientCert), 'client-key-data': b64(c.clientKey) } : {};
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', preferences: {},
    clusters: [{ name: 'test', cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caCert) } }],
    users: [{ name: 'test', user }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: spec.namespace ?? 'default' } }],
    'current-context': 'test',
  }, null, 2);
}

/** A kubectl left running: its output so far, a wait for output, and its end. */
export interface RunningKubectl {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) matches `pattern`; rejects when kubectl exits first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** The exit code and all output, once kubectl ended. */
  result: Promise<ProcessResult>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => { for (const c of running) c.kill('SIGKILL'); });

/** Starts kubectl with `env` (its KUBECONFIG and HOME) and leaves it running. */
export function startKubectl(args: string[], env: NodeJS.ProcessEnv): RunningKubectl {
  const child = spawn(KUBECTL, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const out = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const wake = (): void => { for (const w of [...waiters]) w(); };
  child.stdout.on('data', (d) => { out.stdout += d; wake(); });
  child.stderr.on('data', (d) => { out.stderr += d; wake(); });
  child.stdin.on('error', () => {});
  let ended = false;
  const result = new Promise<ProcessResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      ended = true;
      wake();
      resolve({ code: code ?? -1, stdout: out.stdout, stderr: out.stderr });
    });
  });
  return {
    child, result, stdout: () => out.stdout, stderr: () => out.stderr,
    waitFor: (pattern, stream = 'stdout') => new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(out[stream]);
        if (m) {
          waiters.delete(check);
          resolve(m);
        } else if (ended) {
          waiters.delete(check);
          reject(new Error(`kubectl ${args.join(' ')} exited before printing ${String(pattern)}; stdout: ${out.stdout} stderr: ${out.stderr}`));
        }
      };
      waiters.add(check);
      check();
    }),
  };
}

/** A temp HOME with a kubeconfig in it, and a way to run kubectl with both. */
export interface KubectlHome {
  home: string;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
  /** Runs kubectl to completion (stdin written then closed). */
  run(args: string[], options?: { stdin?: string }): Promise<ProcessResult>;
  /** Starts kubectl and leaves it running (for `get -w`, `logs -f`, `exec`). */
  spawn(args: string[]): RunningKubectl;
  /** Removes the temp dir. */
  remove(): Promise<void>;
}

/** Writes a kubeconfig for `spec` under a fresh temp HOME. */
export async function kubectlHome(spec: KubeconfigSpec): Promise<KubectlHome> {
  const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-kubectl-'));
  const kubeconfig = path.join(home, 'kubeconfig');
  await fsp.writeFile(kubeconfig, kubeconfigText(spec), { mode: 0o600 });
  const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: home, KUBECACHEDIR: path.join(home, '.kube', 'cache') };
  return {
    home, kubeconfig, env,
    run: (args, options = {}) => runProcess(KUBECTL, args, { env, stdin: options.stdin }),
    spawn: (args) => startKubectl(args, env),
    remove: () => fsp.rm(home, { recursive: true, force: true }),
  };
}
