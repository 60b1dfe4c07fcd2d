/**
 * Throwaway real PostgreSQL servers for tests and benchmarks: initdb into a fresh temp dir, a CA and a server
 * certificate, roles for every authentication method Warden must speak upstream, and a server on a free port.
 * Owns only its temp dir and the server process it started. It must never touch a system cluster, a fixed port or
 * a directory it did not create, and must never leave a server running when the test process ends.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { generate } from 'selfsigned';
import { freePort } from './ports.js';

const execFileAsync = promisify(execFile);
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const LOG_TAIL_BYTES = 16_384;

/** A running throwaway server and everything a test needs to reach it. */
export interface PgServer {
  host: string;
  port: number;
  socketDir: string;
  dataDir: string;
  version: string;
  /** Connect as this over the unix socket (`host: socketDir`); trust. */
  superuser: string;
  /** SCRAM-SHA-256 role over TCP; owns `app` and `other`. */
  scram: { user: string; password: string };
  /** md5 role over TCP (its password is stored as an md5 hash). */
  md5: { user: string; password: string };
  /** Cleartext-password role over TCP (pg_hba method `password`). */
  cleartext: { user: string; password: string };
  /** Trust role over TCP. */
  trust: { user: string };
  /** SCRAM role allowed only over hostssl; plain TCP is rejected by pg_hba. */
  tlsOnly: { user: string; password: string };
  /** PEM of the CA that signed the server certificate (SAN: 127.0.0.1, localhost). */
  caCert: string;
  /** 'app'; a second database 'other' exists too. */
  database: string;
  /** The server's log so far (its stderr), for diagnosing a failing test. */
  log(): string;
  /** Fast shutdown, wait for exit, remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of startPostgres. */
export interface StartPostgresOptions {
  maxConnections?: number;
  /** Extra `postgresql.conf` settings, passed as `-c name=value`. */
  extraConf?: Record<string, string>;
  /** Extra pg_hba.conf lines, placed before the built-in ones (first match wins). */
  hba?: string[];
}

/** A CA and a server certificate signed by it, all PEM. */
export interface TestCertificates {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

interface Running {
  child: ChildProcess;
  tempDir: string;
}

const running = new Set<Running>();
let hooksInstalled = false;

/** The bin dir of the highest installed PostgreSQL major version. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v) && fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root} (apt-get install postgresql)`);
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(root, versions[0], 'bin');
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** Wraps a command so it runs as the `postgres` OS user when we are root (initdb and postgres refuse root). */
function asPostgres(file: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [file, args];
  // setpriv execs in place (unlike runuser, which forks), so the child's pid is the server's and signals reach it.
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', file, ...args]];
}

let postgresIds: Promise<{ uid: number; gid: number }> | undefined;

async function chownToPostgres(...paths: string[]): Promise<void> {
  if (!isRoot()) return;
  postgresIds ??= Promise.all([execFileAsync('id', ['-u', 'postgres']), execFileAsync('id', ['-g', 'postgres'])])
    .then(([u, g]) => ({ uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) }));
  const { uid, gid } = await postgresIds;
  for (const p of paths) await fsp.chown(p, uid, gid);
}

/** Generates a fresh CA and a server certificate for 127.0.0.1/localhost signed by it (EC P-256: fast). */
export async function generateCertificates(commonName = 'Warden Test CA'): Promise<TestCertificates> {
  const ca = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { caCert: ca.cert, caKey: ca.private, serverCert: server.cert, serverKey: server.private };
}

function hbaConf(extra: string[]): string {
  return [
    ...extra,
    'local all all trust',
    'hostssl all warden_tls 127.0.0.1/32 scram-sha-256',
    'hostnossl all warden_tls 127.0.0.1/32 reject',
    'host all warden_scram 127.0.0.1/32 scram-sha-256',
    'host all warden_md5 127.0.0.1/32 md5',
    'host all warden_cleartext 127.0.0.1/32 password',
    'host all warden_trust 127.0.0.1/32 trust',
    // Roles that tests create themselves authenticate with SCRAM.
    'host all all 127.0.0.1/32 scram-sha-256',
    '',
  ].join('\n');
}

/** Creates the temp dir layout, runs initdb and writes certificates and pg_hba.conf. */
async function prepareDataDir(binDir: string, hba: string[]): Promise<{ tempDir: string; dataDir: string;
  socketDir: string; certDir: string; caCert: string }> {
  const tempDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-pg-'));
  try {
    const dataDir = path.join(tempDir, 'data');
    const socketDir = path.join(tempDir, 'sock');
    const certDir = path.join(tempDir, 'certs');
    await fsp.mkdir(socketDir, { mode: 0o700 });
    await fsp.mkdir(certDir, { mode: 0o700 });
    await chownToPostgres(tempDir, socketDir, certDir);
    const [file, args] = asPostgres(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust',
      '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    await execFileAsync(file, args, { cwd: tempDir }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`initdb failed: ${err.stderr || err.message}`);
    });
    const certs = await generateCertificates();
    const certFile = path.join(certDir, 'server.crt');
    const keyFile = path.join(certDir, 'server.key');
    await fsp.writeFile(certFile, certs.serverCert, { mode: 0o644 });
    await fsp.writeFile(keyFile, certs.serverKey, { mode: 0o600 });
    await chownToPostgres(certFile, keyFile);
    const hbaFile = path.join(dataDir, 'pg_hba.conf');
    await fsp.writeFile(hbaFile, hbaConf(hba));
    await chownToPostgres(hbaFile);
    return { tempDir, dataDir, socketDir, certDir, caCert: certs.caCert };
  } catch (err) {
    await fsp.rm(tempDir, { recursive: true, force: true });
    throw err;
  }
}

function serverArgs(dataDir: string, socketDir: string, certDir: string, port: number,
  options: StartPostgresOptions): string[] {
  const conf: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    max_connections: String(options.maxConnections ?? 100),
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    ssl: 'on',
    ssl_cert_file: path.join(certDir, 'server.crt'),
    ssl_key_file: path.join(certDir, 'server.key'),
    password_encryption: 'scram-sha-256',
    ...options.extraConf,
  };
  const args = ['-D', dataDir, '-p', String(port), '-k', socketDir];
  for (const [name, value] of Object.entries(conf)) args.push('-c', `${name}=${value}`);
  return args;
}

/** Spawns the server process; keeps a bounded tail of its log. */
function spawnServer(binDir: string, args: string[], cwd: string): { child: ChildProcess; log: () => string } {
  const [file, wrapped] = asPostgres(path.join(binDir, 'postgres'), args);
  const child = spawn(file, wrapped, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const append = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-LOG_TAIL_BYTES);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  // A test that forgets stop() must not hang its process: the exit hook kills the server instead.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return { child, log: () => tail };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls a superuser connection over the unix socket until the server accepts it; returns the version. */
async function waitReady(child: ChildProcess, socketDir: string, port: number, log: () => string): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited during startup (code ${child.exitCode}, signal ${child.signalCode})\n${log()}`);
    }
    const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres',
      connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      return rows[0].v;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(50);
  }
  throw new Error(`postgres did not accept connections within ${READY_TIMEOUT_MS} ms (${lastError})\n${log()}`);
}

interface Roles {
  scram: { user: string; password: string };
  md5: { user: string; password: string };
  cleartext: { user: string; password: string };
  trust: { user: string };
  tlsOnly: { user: string; password: string };
}

const secret = (prefix: string): string => `${prefix}-${randomBytes(9).toString('base64url')}`;

/** Creates the roles and databases over the unix socket as superuser. */
async function setupRoles(socketDir: string, port: number): Promise<Roles> {
  const roles: Roles = {
    scram: { user: 'warden_scram', password: secret('scram') },
    md5: { user: 'warden_md5', password: secret('md5') },
    cleartext: { user: 'warden_cleartext', password: secret('clear') },
    trust: { user: 'warden_trust' },
    tlsOnly: { user: 'warden_tls', password: secret('tls') },
  };
  const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const lit = (s: string): string => client.escapeLiteral(s);
    await client.query(`SET password_encryption = 'scram-sha-256'`);
    await client.query(`CREATE ROLE warden_scram LOGIN CREATEDB PASSWORD ${lit(roles.scram.password)}`);
    await client.query(`CREATE ROLE warden_cleartext LOGIN PASSWORD ${lit(roles.cleartext.password)}`);
    await client.query(`CREATE ROLE warden_tls LOGIN PASSWORD ${lit(roles.tlsOnly.password)}`);
    await client.query(`CREATE ROLE warden_trust LOGIN`);
    // md5 must be the encryption in force when the password is set, or the server stores (and asks for) SCRAM.
    await client.query(`SET password_encryption = 'md5'`);
    await client.query(`CREATE ROLE warden_md5 LOGIN PASSWORD ${lit(roles.md5.password)}`);
    await client.query(`CREATE DATABASE app OWNER warden_scram`);
    await client.query(`CREATE DATABASE other OWNER warden_scram`);
  } finally {
    await client.end();
  }
  return roles;
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      // Only re-raise when we were the sole listener, so we never change someone else's signal handling.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** Immediate shutdown of every server this process still runs; synchronous because 'exit' hooks must be. */
function killAll(): void {
  for (const r of running) {
    try {
      r.child.kill('SIGQUIT');
    } catch {
      // Already gone.
    }
    try {
      fs.rmSync(r.tempDir, { recursive: true, force: true });
    } catch {
      // The dying server may still hold files; the OS temp cleaner takes the rest.
    }
  }
  running.clear();
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopServer(r: Running): Promise<void> {
  if (!running.delete(r)) return;
  if (r.child.exitCode === null && r.child.signalCode === null) {
    r.child.kill('SIGINT'); // fast shutdown: roll back open transactions, disconnect clients
    if (!(await waitExit(r.child, STOP_TIMEOUT_MS))) {
      r.child.kill('SIGKILL');
      await waitExit(r.child, 2000);
    }
  }
  await fsp.rm(r.tempDir, { recursive: true, force: true });
}

/** Starts the server on a free port, retrying when another process grabbed the port first. */
async function launch(binDir: string, dirs: { tempDir: string; dataDir: string; socketDir: string; certDir: string },
  options: StartPostgresOptions): Promise<{ running: Running; port: number; version: string; log: () => string }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const { child, log } = spawnServer(binDir, serverArgs(dirs.dataDir, dirs.socketDir, dirs.certDir, port, options),
      dirs.tempDir);
    const r: Running = { child, tempDir: dirs.tempDir };
    running.add(r);
    try {
      const version = await waitReady(child, dirs.socketDir, port, log);
      return { running: r, port, version, log };
    } catch (err) {
      lastError = err;
      running.delete(r);
      child.kill('SIGKILL');
      await waitExit(child, 5000);
      if (!/could not bind|already in use/i.test(log())) break;
    }
  }
  throw lastError;
}

/**
 * Starts a throwaway PostgreSQL server (highest installed version) on a free loopback port with TLS, roles for
 * scram, md5, cleartext, trust and TLS-only, and databases `app` and `other`. Call `stop()` when done.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgServer> {
  installExitHooks();
  const binDir = postgresBinDir();
  const dirs = await prepareDataDir(binDir, options.hba ?? []);
  let started: Awaited<ReturnType<typeof launch>>;
  try {
    started = await launch(binDir, dirs, options);
  } catch (err) {
    await fsp.rm(dirs.tempDir, { recursive: true, force: true });
    throw err;
  }
  const stop = (): Promise<void> => stopServer(started.running);
  try {
    const roles = await setupRoles(dirs.socketDir, started.port);
    return { host: '127.0.0.1', port: started.port, socketDir: dirs.socketDir, dataDir: dirs.dataDir,
      version: started.version, superuser: 'postgres', ...roles, caCert: dirs.caCert, database: 'app',
      log: started.log, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
