/**
 * The SSH end-to-end setup: a throwaway real sshd (sshd.ts), a Warden process in front of it with an SSH target,
 * and helpers to run the real `ssh`, `scp`, `sftp` and `rsync` through Warden with a token (fed by SSH_ASKPASS with
 * SSH_ASKPASS_REQUIRE=force: no terminal, no prompt) and Warden's host key pinned in a known_hosts file, plus an
 * ssh2 client for what a script drives (PTY shells, signals, window changes). Owns its temp dir, the sshd and the
 * Warden it started.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { runProcess, type ProcessResult } from './process.js';
import { startSshd, type SshServer, type StartSshdOptions } from './sshd.js';
import { ALLOW_ALL_POLICY, startWarden, type WardenProcess } from './warden.js';

/** An sshd with Warden in front of it. */
export interface SshStack {
  sshd: SshServer;
  warden: WardenProcess;
  /** Name of the target that reaches `sshd` as the test account with its password. */
  target: string;
  /** Warden's host key fingerprint, as printed at start-up. */
  wardenFingerprint: string;
  /** A known_hosts file that pins Warden's host key for its SSH port. */
  knownHosts: string;
  tempDir: string;
  /** Mints a token with the CLI; `extra` are more `tokens create` flags. */
  token(user: string, ...extra: string[]): Promise<string>;
  /**
   * Adds another SSH target through the control API (`POST /api/targets`): host, port, user and one of password
   * or privateKey (with passphrase), optionally hostKeyFingerprint.
   */
  addTarget(name: string, spec: SshTargetSpec): Promise<void>;
  /** Runs `program` (ssh, scp, sftp, rsync) with the token fed by SSH_ASKPASS and Warden's key pinned. */
  run(program: 'ssh' | 'scp' | 'sftp', args: string[], options: RunOptions): Promise<ProcessResult>;
  /** Runs rsync over ssh through Warden. */
  rsync(args: string[], options: RunOptions): Promise<ProcessResult>;
  /** The options every OpenSSH tool gets (port, pinned key, no public keys, no prompts beyond the askpass). */
  sshOptions(): string[];
  /** An ssh2 client logged in through Warden (rejects with the login error). */
  connect(username: string, auth: Partial<ConnectConfig>): Promise<Client>;
  stop(): Promise<void>;
}

/** The fields of an SSH target as the control API takes them. */
export interface SshTargetSpec {
  host: string;
  port: number;
  user: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  hostKeyFingerprint?: string;
}

/** Options of one OpenSSH tool run. */
export interface RunOptions {
  token: string;
  stdin?: string;
  env?: Record<string, string>;
}

/** Starts sshd and Warden, registers the target `web-1` (password login, host key trusted on first use) and a policy. */
export async function startSshStack(options: { sshd?: StartSshdOptions; wardenArgs?: string[]; nodeArgs?: string[]; policy?: string } = {}): Promise<SshStack> {
  const sshd = await startSshd(options.sshd);
  const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-ssh-stack-'));
  let warden: WardenProcess;
  try {
    warden = await startWarden({ args: options.wardenArgs, nodeArgs: options.nodeArgs });
  } catch (err) {
    await sshd.stop();
    throw err;
  }
  const pub = (await fs.readFile(path.join(warden.dataDir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  const knownHosts = path.join(tempDir, 'known_hosts');
  await fs.writeFile(knownHosts, `[127.0.0.1]:${warden.ports.ssh} ${pub}\n`);
  const askpass = path.join(tempDir, 'askpass.sh');
  await fs.writeFile(askpass, '#!/bin/sh\nprintf \'%s\\n\' "$WARDEN_SSH_TOKEN"\n', { mode: 0o700 });
  const fingerprint = /SSH host key (SHA256:[A-Za-z0-9+/]+)/.exec(warden.output().stdout)?.[1] ?? '';
  const addTarget: SshStack['addTarget'] = async (name, spec) => {
    const res = await fetch(`${warden.url}/api/targets`, { method: 'POST',
      headers: { authorization: `Bearer ${warden.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, type: 'ssh', ...spec }) });
    if (!res.ok) throw new Error(`adding target ${name} failed: ${res.status} ${await res.text()}`);
  };
  const target = 'web-1';
  await addTarget(target, { host: sshd.host, port: sshd.port, user: sshd.account.user, password: sshd.account.password });
  await warden.applyPolicy(options.policy ?? ALLOW_ALL_POLICY);
  const sshOptions = (): string[] => ['-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1',
    '-o', 'ConnectTimeout=20', '-F', '/dev/null'];
  const env = (o: RunOptions) => ({ ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0',
    WARDEN_SSH_TOKEN: o.token, ...o.env });
  return {
    sshd, warden, target, wardenFingerprint: fingerprint, knownHosts, tempDir,
    token: async (user, ...extra) => {
      const r = await warden.cli(['tokens', 'create', '--user', user, ...extra]);
      if (r.code !== 0) throw new Error(`tokens create failed: ${r.stderr}`);
      return r.stdout.trim();
    },
    addTarget,
    sshOptions,
    run: (program, args, o) => runProcess(program, [program === 'ssh' ? '-p' : '-P', String(warden.ports.ssh), ...sshOptions(), ...args],
      { env: env(o), stdin: o.stdin }),
    rsync: (args, o) => runProcess('rsync', ['-e', ['ssh', '-p', String(warden.ports.ssh), ...sshOptions()].join(' '), ...args],
      { env: env(o), stdin: o.stdin }),
    connect: (username, auth) => connectSsh2(warden.ports.ssh, username, auth),
    stop: async () => {
      await warden.stop();
      await sshd.stop();
      await fs.rm(tempDir, { recursive: true, force: true });
    },
  };
}

/** An ssh2 client logged in to `port` on loopback. */
export function connectSsh2(port: number, username: string, auth: Partial<ConnectConfig>): Promise<Client> {
  const client = new Client();
  return new Promise((resolve, reject) => {
    client.once('ready', () => {
      client.removeAllListeners('error');
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port, username, readyTimeout: 20_000, ...auth });
  });
}

/** What an exec through ssh2 produced. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal?: string;
}

/** Runs one command over an ssh2 client and collects its output and exit. */
export function execSsh2(client: Client, command: string, options: { stdin?: string; pty?: boolean } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, options.pty ? { pty: { rows: 24, cols: 80, term: 'xterm' } } : {}, (err, stream: ClientChannel) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | undefined;
      stream.on('data', (d: Buffer) => (stdout += d));
      stream.stderr.on('data', (d: Buffer) => (stderr += d));
      stream.on('exit', (c: number | null, s?: string) => { code = c; signal = s; });
      stream.on('close', () => resolve({ stdout, stderr, code, signal }));
      stream.end(options.stdin ?? '');
    });
  });
}
