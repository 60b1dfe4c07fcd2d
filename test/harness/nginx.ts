/**
 * Debian's real nginx (/usr/sbin/nginx) for tests and benchmarks, as a child process (`daemon off`, no root
 * needed): its pid file, logs and temp paths live in its own temp dir, and it listens on a free loopback port.
 * Two shapes:
 * - `startNginxUpstream`: a second real upstream for the HTTP engine's tests, serving static JSON files and
 *   refusing (401) a request without the expected header credential (`X-Api-Key` or `Authorization: Bearer`).
 * - `startNginxProxy`: a plain reverse proxy in front of any URL (keep-alive pool to it), the yardstick of
 *   bench/http.ts.
 *
 * Owns only its temp dir and the nginx it started; never touches the system's nginx, its config or /var/lib/nginx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from './poll.js';
import { freePort } from './ports.js';

/** Where Debian installs nginx. */
export const NGINX = '/usr/sbin/nginx';
const LOG_TAIL_BYTES = 32_768;

/** A running nginx. */
export interface NginxServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Its temp dir (config, pid, logs, served files). */
  prefix: string;
  /** What nginx wrote to stderr and its error log so far (for diagnosing a failing test). */
  log(): string;
  /** Stops nginx (SIGQUIT, then SIGKILL) and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** The credential the nginx upstream checks. */
export interface NginxAuth {
  kind: 'none' | 'bearer' | 'header';
  /** Header name for `header` (default `X-Api-Key`). */
  name?: string;
  /** Letters, digits and `-._~` only (it is written into nginx's config). */
  secret?: string;
}

/** Options of startNginxUpstream. */
export interface NginxUpstreamOptions {
  /** Default: `header` `X-Api-Key` with a random secret. */
  auth?: NginxAuth;
  /** Files served as application/json, by URL path (default: `/customers.json`). */
  files?: Record<string, string>;
}

const running = new Set<ChildProcess>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const child of running) { try { child.kill('SIGKILL'); } catch { /* already gone */ } }
  });
}

/** The parts every config shares: everything nginx writes goes into `prefix`, one worker, no access log. */
function mainConfig(prefix: string, port: number, workers: number, http: string): string {
  return [
    // As root, workers would run as `nobody` and could not read the 0700 temp dir.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `worker_processes ${workers};`,
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/error.log warn;`,
    'events { worker_connections 4096; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${prefix}/tmp/${t};`),
    '  default_type application/json;',
    '  keepalive_requests 1000000;',
    http,
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    server_name _;',
    '    include server.conf;',
    '  }',
    '}',
    '',
  ].join('\n');
}

function isListening(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(undefined));
  });
}

/** Writes the config, starts nginx on a free port and waits until it accepts connections (retrying a taken port). */
async function start(prefix: string, workers: number, http: string, server: string): Promise<NginxServer> {
  installExitHooks();
  await fsp.mkdir(path.join(prefix, 'tmp'), { recursive: true });
  await fsp.writeFile(path.join(prefix, 'server.conf'), server);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = path.join(prefix, 'nginx.conf');
    await fsp.writeFile(conf, mainConfig(prefix, port, workers, http));
    const child = spawn(NGINX, ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr!.on('data', (c: Buffer) => { tail = (tail + c.toString('utf8')).slice(-LOG_TAIL_BYTES); });
    const log = (): string => {
      let file = '';
      try { file = fs.readFileSync(path.join(prefix, 'error.log'), 'utf8').slice(-LOG_TAIL_BYTES); } catch { /* not yet written */ }
      return tail + file;
    };
    running.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
    try {
      await pollUntil(`nginx to listen on ${port}`, async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited during start\n${log()}`);
        return isListening(port);
      }, { timeoutMs: 15_000 });
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      lastError = err;
      if (/Address already in use/i.test(log())) continue;
      break;
    }
    child.unref();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    let stopped = false;
    return {
      url: `http://127.0.0.1:${port}`, port, prefix, log,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
        await fsp.rm(prefix, { recursive: true, force: true });
      },
    };
  }
  await fsp.rm(prefix, { recursive: true, force: true });
  throw lastError;
}

function checkedSecret(secret: string): string {
  if (!/^[A-Za-z0-9._~-]+$/.test(secret)) throw new Error('the nginx upstream secret must be letters, digits and -._~');
  return secret;
}

/**
 * Starts nginx serving `files` as static JSON, refusing with 401 any request without the credential. Returns the
 * credential it checks (`auth`, with defaults filled in).
 */
export async function startNginxUpstream(options: NginxUpstreamOptions = {}): Promise<NginxServer & { auth: Required<NginxAuth> }> {
  const kind = options.auth?.kind ?? 'header';
  const auth: Required<NginxAuth> = { kind, name: options.auth?.name ?? 'X-Api-Key',
    secret: checkedSecret(options.auth?.secret ?? Math.random().toString(36).slice(2) + Date.now().toString(36)) };
  const prefix = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-nginx-'));
  const files = options.files ?? { '/customers.json': JSON.stringify({ customers: [
    { id: 1, name: 'Ada', email: 'ada@example.com', ssn: '123-45-0001' },
    { id: 2, name: 'Grace', email: 'grace@example.com', ssn: '123-45-0002' }] }) };
  for (const [urlPath, content] of Object.entries(files)) {
    const file = path.join(prefix, 'www', path.normalize(urlPath));
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, content);
  }
  // nginx names a request header's variable by lower-casing it and turning `-` into `_`.
  const variable = kind === 'bearer' ? '$http_authorization' : `$http_${auth.name.toLowerCase().replace(/-/g, '_')}`;
  const expected = kind === 'bearer' ? `Bearer ${auth.secret}` : auth.secret;
  const check = kind === 'none' ? '' : `    if (${variable} != "${expected}") { return 401 '{"error":"missing or wrong credential"}'; }\n`;
  const server = `root ${prefix}/www;\nlocation / {\n${check}}\n`;
  return { ...await start(prefix, 1, '', server), auth };
}

/**
 * Starts nginx as a reverse proxy in front of `target` (http:// or https://, certificate not verified), with a
 * keep-alive pool to it and HTTP/1.1 upstream, as one would deploy it in front of an API.
 */
export async function startNginxProxy(target: string, options: { workers?: number } = {}): Promise<NginxServer> {
  const url = new URL(target);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const prefix = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-nginx-'));
  const http = `  upstream backend {\n    server ${url.hostname}:${port};\n    keepalive 128;\n  }\n`;
  const server = [
    'location / {',
    `  proxy_pass ${url.protocol.replace(':', '')}://backend;`,
    '  proxy_http_version 1.1;',
    '  proxy_set_header Connection "";',
    `  proxy_set_header Host ${url.host};`,
    '  proxy_ssl_verify off;',
    '}',
    '',
  ].join('\n');
  return start(prefix, options.workers ?? 1, http, server);
}
