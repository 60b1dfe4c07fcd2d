/**
 * Throwaway real OpenSSH servers for tests and benchmarks: `/usr/sbin/sshd -D -e -f CONFIG` as a child process (not
 * a daemon) on a free loopback port, with its own host keys, config, pid file and authorized_keys, and a test
 * account reachable with a password and with a key.
 *
 * The test account is a real local user, `wardentest` (sshd authenticates against the system's users; there is no
 * way around that). It is created once per machine, idempotently and under an exclusive `flock` so parallel test
 * files never race: `useradd -m -s /bin/bash wardentest`, a random password set with `chpasswd` and kept (0600, root
 * only) in `/var/lib/warden-test/wardentest.password`, and a key pair `wardentest_ed25519` beside it. Creating it
 * needs root (tests run as root in CI); it is only reachable through the test servers, which listen on 127.0.0.1
 * and allow no other user (`AllowUsers`).
 *
 * Owns only its temp dir and the sshd it started. It must never touch the system's sshd, its config or host keys,
 * and must never leave a server running when the test process ends.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const execFileAsync = promisify(execFile);
const SSHD = '/usr/sbin/sshd';
const READY_TIMEOUT_MS = 15_000;
const LOG_TAIL_BYTES = 32_768;
/** Where the shared test account's secrets live (root only). */
export const ACCOUNT_DIR = '/var/lib/warden-test';
/** The shared test account's user name. */
export const TEST_USER = 'wardentest';

/** The shared test account: its password and a private key sshd accepts for it. */
export interface TestAccount {
  user: string;
  home: string;
  password: string;
  /** OpenSSH private key (ed25519, unencrypted) and the path of the file holding it (0600). */
  privateKey: string;
  privateKeyFile: string;
  publicKey: string;
}

/** A running throwaway sshd. */
export interface SshServer {
  host: string;
  port: number;
  account: TestAccount;
  /** `SHA256:...` of the server's ed25519 host key, as `ssh-keygen -l` prints it. */
  hostKeyFingerprint: string;
  /** A known_hosts line for the server (`[127.0.0.1]:PORT ssh-ed25519 ...`). */
  knownHostsLine: string;
  tempDir: string;
  /** The server's log so far (its stderr with -e), for diagnosing a failing test. */
  log(): string;
  /** Stops the server and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of startSshd. */
export interface StartSshdOptions {
  /** Listen on this port instead of a free one (e.g. a second server in place of a stopped one). */
  port?: number;
  /** Extra sshd_config lines, placed before the built-in ones (sshd keeps the first value it reads). */
  extraConfig?: string[];
  /** More authorized_keys lines for the test account. */
  authorizedKeys?: string[];
}

let accountPromise: Promise<TestAccount> | undefined;

/**
 * Creates the test account if it is missing (idempotent, under an exclusive lock shared by every test process)
 * and returns its password and key.
 */
export function ensureTestAccount(): Promise<TestAccount> {
  accountPromise ??= createAccount();
  return accountPromise;
}

async function createAccount(): Promise<TestAccount> {
  if (process.getuid?.() !== 0) throw new Error('the sshd test harness creates a local user and must run as root');
  const passwordFile = path.join(ACCOUNT_DIR, `${TEST_USER}.password`);
  const keyFile = path.join(ACCOUNT_DIR, `${TEST_USER}_ed25519`);
  // One shell script under flock: parallel test files wait for each other instead of racing useradd/chpasswd.
  const script = `set -e
mkdir -p ${ACCOUNT_DIR} && chmod 700 ${ACCOUNT_DIR}
id -u ${TEST_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash ${TEST_USER}
if [ ! -s ${passwordFile} ]; then
  umask 077
  head -c 18 /dev/urandom | base64 | tr '+/' 'xy' > ${passwordFile}.new
  printf '%s:%s\\n' ${TEST_USER} "$(cat ${passwordFile}.new)" | chpasswd
  mv ${passwordFile}.new ${passwordFile}
fi
if [ ! -s ${keyFile} ]; then
  rm -f ${keyFile} ${keyFile}.pub
  ssh-keygen -q -t ed25519 -N '' -C ${TEST_USER}@warden-test -f ${keyFile}
fi`;
  await execFileAsync('flock', [path.join(os.tmpdir(), 'warden-test-account.lock'), 'sh', '-c', script]);
  const home = (await execFileAsync('sh', ['-c', `getent passwd ${TEST_USER} | cut -d: -f6`])).stdout.trim();
  return {
    user: TEST_USER, home,
    password: (await fsp.readFile(passwordFile, 'utf8')).trim(),
    privateKey: await fsp.readFile(keyFile, 'utf8'),
    privateKeyFile: keyFile,
    publicKey: (await fsp.readFile(`${keyFile}.pub`, 'utf8')).trim(),
  };
}

/** Generates an ed25519 key pair in `dir`; returns the private key path. */
export async function generateKey(dir: string, name: string, type = 'ed25519', passphrase = ''): Promise<string> {
  const file = path.join(dir, name);
  await execFileAsync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', name, '-f', file]);
  return file;
}

/** `SHA256:...` of a public key file (or a private key file, whose public half ssh-keygen derives). */
export async function fingerprintOf(keyFile: string): Promise<string> {
  const { stdout } = await execFileAsync('ssh-keygen', ['-l', '-E', 'sha256', '-f', keyFile]);
  const match = /(SHA256:\S+)/.exec(stdout);
  if (!match) throw new Error(`no fingerprint in ssh-keygen output: ${stdout}`);
  return match[1];
}

function sshdConfig(dir: string, port: number, extra: string[]): string {
  return [
    ...extra,
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'ssh_host_ed25519_key')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    // The temp dir is root's, the keys file too; StrictModes would want them owned by the user.
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication yes',
    'KbdInteractiveAuthentication yes',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    `AllowUsers ${TEST_USER}`,
    'Subsystem sftp internal-sftp',
    'AllowTcpForwarding yes',
    'AllowAgentForwarding yes',
    'X11Forwarding no',
    'AcceptEnv LANG LC_* TERM WARDEN_TEST_*',
    'PrintMotd no',
    'MaxStartups 200',
    'MaxSessions 100',
    'MaxAuthTries 6',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

interface Running {
  child: ChildProcess;
  tempDir: string;
}

const running = new Set<Running>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const r of running) {
      try { r.child.kill('SIGKILL'); } catch { /* already gone */ }
      try { fs.rmSync(r.tempDir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
  });
}

/** Spawns sshd and resolves once it says it listens; rejects with its log when it exits first. */
function launch(config: string, dir: string): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  const log = (): string => tail;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sshd did not listen within ${READY_TIMEOUT_MS} ms\n${tail}`));
    }, READY_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-LOG_TAIL_BYTES);
      if (/Server listening on/.test(tail)) {
        clearTimeout(timer);
        resolve({ child, log });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited during start (code ${code}, signal ${signal})\n${tail}`));
    });
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/**
 * Starts a throwaway sshd on a free loopback port (or `options.port`) with a fresh ed25519 host key; the test
 * account logs in with its password or its key. Call `stop()` when done.
 */
export async function startSshd(options: StartSshdOptions = {}): Promise<SshServer> {
  installExitHooks();
  const account = await ensureTestAccount();
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir sshd insists on
  const tempDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-sshd-'));
  try {
    // sshd reads authorized_keys as the user it authenticates: the dir must be traversable (the keys stay 0600).
    await fsp.chmod(tempDir, 0o755);
    await generateKey(tempDir, 'ssh_host_ed25519_key');
    await fsp.writeFile(path.join(tempDir, 'authorized_keys'),
      [account.publicKey, ...(options.authorizedKeys ?? [])].join('\n') + '\n', { mode: 0o644 });
    const hostKeyFingerprint = await fingerprintOf(path.join(tempDir, 'ssh_host_ed25519_key.pub'));
    const hostPub = (await fsp.readFile(path.join(tempDir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = options.port ?? await freePort();
      const config = path.join(tempDir, 'sshd_config');
      await fsp.writeFile(config, sshdConfig(tempDir, port, options.extraConfig ?? []), { mode: 0o600 });
      try {
        const { child, log } = await launch(config, tempDir);
        const r: Running = { child, tempDir };
        running.add(r);
        child.unref();
        (child.stderr as unknown as { unref?: () => void }).unref?.();
        return {
          host: '127.0.0.1', port, account, hostKeyFingerprint, tempDir, log,
          knownHostsLine: `[127.0.0.1]:${port} ${hostPub}`,
          stop: async () => {
            if (!running.delete(r)) return;
            child.kill('SIGTERM');
            await waitExit(child, 5000);
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            await fsp.rm(tempDir, { recursive: true, force: true });
          },
        };
      } catch (err) {
        lastError = err;
        if (options.port !== undefined || !/Address already in use|Cannot bind/i.test(String(err))) break;
      }
    }
    throw lastError;
  } catch (err) {
    await fsp.rm(tempDir, { recursive: true, force: true });
    throw err;
  }
}
