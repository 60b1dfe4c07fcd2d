/**
 * `warden kubeconfig TARGET`: a kubeconfig that points kubectl (helm, k9s, client libraries) at a Kubernetes target
 * through Warden: a cluster whose server is `https://<gateway>:<kube port>/k8s/TARGET` with Warden's TLS certificate
 * as its CA, a context, and a user holding either the given Warden token or an `exec` credential plugin
 * (`warden login token --kube`) that hands kubectl the stored sign-in's token and its expiry, refreshed when needed.
 * Printed, or merged into `$KUBECONFIG` / `~/.kube/config` (other entries kept, file 0600).
 * It never prints a token unless asked to put one in the kubeconfig (`--token`), and never trusts a certificate it
 * fetched over the network without `--fetch-ca` (then its fingerprint is printed to compare).
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseDocument, stringify } from 'yaml';
import { clientFor } from './client.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, CliError, expectPositionals, guard, parseCommand, processIo, type Io } from './common.js';
import type { WhoamiView } from './status.js';

/** Usage of `warden kubeconfig`. */
export const KUBECONFIG_USAGE = `Usage:
  warden kubeconfig TARGET [--token T] [--merge] [--context-name N] [--server URL] [--ca-file F | --fetch-ca]

  Prints a kubeconfig for the Kubernetes target TARGET through Warden: cluster server
  https://<gateway>:<kubernetes port>/k8s/TARGET with Warden's certificate as its CA, a context and a user.
  The user runs \`warden login token --kube\` (a client.authentication.k8s.io/v1 exec credential plugin: the token of
  your \`warden login\`, refreshed before it ends) unless --token gives a Warden token to write into it.

  --merge            merge into $KUBECONFIG (its first existing file) or ~/.kube/config instead of printing,
                     keeping every other entry, and switch to the new context (file mode 0600)
  --context-name N   name of the context, cluster and user (default warden-TARGET)
  --server URL       the gateway's Kubernetes address as callers reach it (default: the control API's host and
                     the kubernetes port \`warden status\` lists)
  --ca-file F        the CA to trust (default: tls.crt in <$WARDEN_DATA_DIR or ./.warden>, Warden's own)
  --fetch-ca         take the certificate the gateway presents (prints its SHA-256 fingerprint: compare it with
                     \`openssl x509 -noout -fingerprint -sha256 -in tls.crt\` on the gateway)

  kubectl --kubeconfig <(warden kubeconfig prod-k8s) get pods
  warden kubeconfig prod-k8s --merge && kubectl get pods
${CONNECTION_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  merge: { type: 'boolean' },
  'context-name': { type: 'string' },
  server: { type: 'string' },
  'ca-file': { type: 'string' },
  'fetch-ca': { type: 'boolean' },
} as const;

/** What a kubeconfig for one target holds. */
export interface KubeconfigEntry {
  name: string;
  server: string;
  caPem: string;
  /** A Warden token, or the exec plugin's command line. */
  user: { token: string } | { command: string; args: string[] };
}

/** The kubeconfig document (as a plain object) for one entry. */
export function kubeconfigFor(entry: KubeconfigEntry): Record<string, unknown> {
  const user = 'token' in entry.user ? { token: entry.user.token }
    : { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: entry.user.command, args: entry.user.args,
      interactiveMode: 'Never', provideClusterInfo: false } };
  return {
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: entry.name, cluster: { server: entry.server, 'certificate-authority-data': Buffer.from(entry.caPem).toString('base64') } }],
    contexts: [{ name: entry.name, context: { cluster: entry.name, user: entry.name } }],
    users: [{ name: entry.name, user }],
    'current-context': entry.name,
  };
}

/**
 * Merges one entry's kubeconfig into an existing kubeconfig text: entries of the same name are replaced, every other
 * entry and field is kept, and the current context becomes the new one.
 */
export function mergeKubeconfig(existing: string, entry: KubeconfigEntry): string {
  const doc = parseDocument(existing.trim() === '' ? '{}' : existing);
  if (doc.errors.length > 0) throw new CliError(`the existing kubeconfig is not valid YAML: ${doc.errors[0].message}`);
  const current = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof current !== 'object' || Array.isArray(current)) throw new CliError('the existing kubeconfig is not a YAML mapping');
  const fresh = kubeconfigFor(entry);
  const merged: Record<string, unknown> = { apiVersion: 'v1', kind: 'Config', ...current };
  for (const key of ['clusters', 'contexts', 'users'] as const) {
    const list = Array.isArray(current[key]) ? (current[key] as Array<{ name?: unknown }>) : [];
    merged[key] = [...list.filter((e) => e?.name !== entry.name), ...(fresh[key] as unknown[])];
  }
  merged['current-context'] = entry.name;
  return stringify(merged);
}

/** The kubeconfig file `--merge` writes: the first existing file of $KUBECONFIG, else its last, else ~/.kube/config. */
export function kubeconfigPath(io: Pick<Io, 'env' | 'cwd'>): string {
  const files = (io.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '').map((f) => resolve(io.cwd, f));
  if (files.length === 0) return join(io.env.HOME || homedir(), '.kube', 'config');
  return files.find((f) => existsSync(f)) ?? files[files.length - 1];
}

/** The exec plugin's command line: `warden` when it is on PATH, else this node and this CLI's own script. */
export function execPluginCommand(io: Pick<Io, 'env'>): { command: string; args: string[] } {
  const args = ['login', 'token', '--kube'];
  const onPath = (io.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, 'warden')));
  if (onPath) return { command: 'warden', args };
  const bin = fileURLToPath(new URL('../../bin/warden.mjs', import.meta.url));
  return { command: process.execPath, args: [bin, ...args] };
}

/** Runs `warden kubeconfig`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return guard(io, KUBECONFIG_USAGE, async () => {
    const { values, positionals } = parseCommand(argv, OPTIONS);
    if (values.help) {
      io.stdout(KUBECONFIG_USAGE);
      return 0;
    }
    const [target] = expectPositionals(positionals, ['TARGET']);
    if (values['ca-file'] && values['fetch-ca']) throw new CliError('give --ca-file or --fetch-ca, not both');
    const server = await serverUrl(values, io, target);
    const caPem = await caCertificate(values, io, new URL(server));
    const name = values['context-name'] ?? `warden-${target}`;
    const user = values.token !== undefined ? { token: values.token.trim() } : execPluginCommand(io);
    const entry: KubeconfigEntry = { name, server, caPem, user };
    if (!values.merge) {
      io.stdout(stringify(kubeconfigFor(entry)));
      return 0;
    }
    const file = kubeconfigPath(io);
    const text = mergeKubeconfig(existsSync(file) ? readFileSync(file, 'utf8') : '', entry);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.warden-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    io.stderr(`Merged context "${name}" (${server}) into ${file} and switched to it.\n`);
    return 0;
  });
}

/** `https://<gateway>:<kube port>/k8s/TARGET`, from --server or the control API's host and the listed port. */
async function serverUrl(values: { server?: string; url?: string; token?: string }, io: Io, target: string): Promise<string> {
  const path = `/k8s/${encodeURIComponent(target)}`;
  if (values.server) {
    let base: URL;
    try {
      base = new URL(values.server);
    } catch {
      throw new CliError(`invalid --server URL "${values.server}"`);
    }
    if (base.protocol !== 'https:') throw new CliError('--server must be an https:// URL');
    return `${base.origin}${path}`;
  }
  // The token that lists the listeners is the caller's own; --token is the kubeconfig's, the same holder.
  const client = clientFor({ url: values.url, token: values.token }, io);
  const who = await client.get<WhoamiView>('/api/whoami');
  const port = who.listeners?.find((l) => l.protocol === 'kubernetes')?.port ?? portFromFile(io);
  if (port === undefined) throw new CliError('this Warden lists no Kubernetes listener (start it with --kube-port), or give --server');
  const host = new URL(client.connection.url).hostname;
  return `https://${host}:${port}${path}`;
}

/** The `kubernetes` port of the data dir's ports.json, if any. */
function portFromFile(io: Pick<Io, 'env' | 'cwd'>): number | undefined {
  try {
    const ports = JSON.parse(readFileSync(join(dataDir(io), 'ports.json'), 'utf8')) as { kubernetes?: unknown };
    return typeof ports.kubernetes === 'number' ? ports.kubernetes : undefined;
  } catch {
    return undefined;
  }
}

function dataDir(io: Pick<Io, 'env' | 'cwd'>): string {
  return resolve(io.cwd, io.env.WARDEN_DATA_DIR || '.warden');
}

/** The CA kubectl should trust: --ca-file, the data dir's tls.crt, or (--fetch-ca) what the gateway presents. */
async function caCertificate(values: { 'ca-file'?: string; 'fetch-ca'?: boolean }, io: Io, server: URL): Promise<string> {
  const file = values['ca-file'] ?? (values['fetch-ca'] ? undefined : join(dataDir(io), 'tls.crt'));
  if (file !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(resolve(io.cwd, file), 'utf8');
    } catch {
      throw new CliError(values['ca-file'] ? `cannot read --ca-file ${file}`
        : `Warden's certificate is not at ${file}: give --ca-file (the gateway's tls.crt) or --fetch-ca`);
    }
    try {
      new X509Certificate(pem);
    } catch {
      throw new CliError(`${file} is not a PEM certificate`);
    }
    return pem;
  }
  const pem = await fetchCertificate(server);
  io.stderr(`Trusting the certificate ${server.host} presented, SHA-256 fingerprint ${new X509Certificate(pem).fingerprint256}\n`);
  return pem;
}

/** The certificate a TLS server presents (not verified: the caller compares its fingerprint). */
function fetchCertificate(server: URL): Promise<string> {
  return new Promise((resolveCert, reject) => {
    const socket = connect({ host: server.hostname, port: Number(server.port || 443), servername: isIp(server.hostname) ? undefined : server.hostname,
      rejectUnauthorized: false, timeout: 10_000 }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      if (!raw) return reject(new CliError(`${server.host} presented no certificate`));
      resolveCert(`-----BEGIN CERTIFICATE-----\n${raw.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
    });
    socket.once('timeout', () => socket.destroy(new Error('timed out')));
    socket.once('error', (err) => reject(new CliError(`cannot fetch the certificate of ${server.host}: ${err.message}`)));
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[');
}
