/**
 * The Kubernetes side of `warden targets add`: the request body of a kubernetes target from its flags, or from a
 * kubeconfig (`--kubeconfig F [--context C]`: its cluster's server, CA and TLS server name, its user's token or
 * client certificate and key, inline or in files). Secrets are read only from standard input (`--token-stdin`) or
 * from files, never from a flag, and never printed. Credential plugins (`exec`) and `auth-provider`s in a kubeconfig
 * are refused: their tokens are short-lived and made on the caller's machine, so Warden could not keep them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { CliError, UsageError, type Io } from './common.js';
import { parseLabels } from './targets.js';

/** The parsed flags these functions read. */
export interface KubeFlags {
  server?: string;
  'ca-file'?: string;
  json?: boolean;
  'tls-server-name'?: string;
  'token-stdin'?: boolean;
  'client-cert'?: string;
  'client-key'?: string;
  kubeconfig?: string;
  context?: string;
  impersonate?: boolean;
  'no-impersonate'?: boolean;
  'no-token'?: boolean;
  'no-client-cert'?: boolean;
  'no-ca'?: boolean;
  label?: string[];
}

/** Flags of `targets add|update` that only kubernetes targets have. */
export const KUBE_ONLY = ['server', 'tls-server-name', 'token-stdin', 'client-cert', 'client-key', 'kubeconfig', 'context',
  'impersonate', 'no-impersonate', 'no-token', 'no-client-cert'] as const;

/** The option table of these flags, for parseArgs. */
export const KUBE_OPTIONS = {
  server: { type: 'string' }, 'tls-server-name': { type: 'string' }, 'token-stdin': { type: 'boolean' },
  'client-cert': { type: 'string' }, 'client-key': { type: 'string' }, kubeconfig: { type: 'string' },
  context: { type: 'string' }, impersonate: { type: 'boolean' },
} as const;

/** The option table of `targets update` for kubernetes targets (`--ca-file`/`--no-ca` are shared with postgres). */
export const KUBE_UPDATE_OPTIONS = { ...KUBE_OPTIONS, 'no-impersonate': { type: 'boolean' }, 'no-token': { type: 'boolean' },
  'no-client-cert': { type: 'boolean' } } as const;

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

type Entry = Record<string, unknown>;

/** The named entry of a kubeconfig list (`clusters`, `users`, `contexts`): its inner object. */
function named(config: Entry, list: string, name: string, inner: string, file: string): Entry {
  const items = Array.isArray(config[list]) ? config[list] as Entry[] : [];
  const found = items.find((i) => i?.name === name);
  const value = found?.[inner];
  if (value === null || typeof value !== 'object') throw new CliError(`${file}: no ${inner} named "${name}" in ${list}`);
  return value as Entry;
}

/** Inline base64 data or a file (relative to the kubeconfig's directory), as text; undefined when neither. */
function dataOrFile(entry: Entry, key: string, base: string, file: string): string | undefined {
  const data = entry[`${key}-data`];
  if (typeof data === 'string') return Buffer.from(data, 'base64').toString('utf8');
  const ref = entry[key];
  if (typeof ref === 'string') return readText(path.resolve(base, ref), `${file}: ${key}`);
  return undefined;
}

/** A kubernetes target's fields and secrets read from a kubeconfig. */
export function fromKubeconfig(file: string, contextName: string | undefined): Entry {
  let config: Entry;
  try {
    config = parse(readText(file, '--kubeconfig')) as Entry;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${file} is not a kubeconfig (YAML): ${(err as Error).message.split('\n')[0]}`);
  }
  if (config === null || typeof config !== 'object') throw new CliError(`${file} is not a kubeconfig`);
  const name = contextName ?? config['current-context'];
  if (typeof name !== 'string' || name === '') throw new UsageError(`${file} has no current-context: give --context NAME`);
  const context = named(config, 'contexts', name, 'context', file);
  const cluster = named(config, 'clusters', String(context.cluster), 'cluster', file);
  const user = named(config, 'users', String(context.user), 'user', file);
  const base = path.dirname(file);
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new CliError(`${file}: user "${String(context.user)}" gets its credential from a ${user.exec !== undefined ? 'credential plugin (exec)' : 'auth-provider'}, `
      + 'which Warden cannot store; give Warden a service-account token (--token-stdin) or a client certificate instead');
  }
  if (cluster['insecure-skip-tls-verify'] === true) {
    throw new CliError(`${file}: cluster "${String(context.cluster)}" skips TLS verification; Warden always verifies the API server`);
  }
  const token = typeof user.token === 'string' ? user.token
    : typeof user.tokenFile === 'string' ? readText(path.resolve(base, user.tokenFile), `${file}: tokenFile`).trim() : undefined;
  const clientCert = dataOrFile(user, 'client-certificate', base, file);
  const clientKey = dataOrFile(user, 'client-key', base, file);
  if (token === undefined && (clientCert === undefined || clientKey === undefined)) {
    throw new CliError(`${file}: user "${String(context.user)}" has no token and no client certificate with its key`);
  }
  const caCert = dataOrFile(cluster, 'certificate-authority', base, file);
  return {
    server: cluster.server,
    ...(caCert !== undefined ? { caCert } : {}),
    ...(typeof cluster['tls-server-name'] === 'string' ? { tlsServerName: cluster['tls-server-name'] } : {}),
    ...(token !== undefined ? { token } : { clientCert, clientKey }),
  };
}

/** The body of `POST /api/targets` for a kubernetes target, with its secret (token or client key). */
export async function kubeAddBody(name: string, values: KubeFlags, io: Io): Promise<Entry> {
  const credentialFlags = [values['token-stdin'] ? '--token-stdin' : '', values['client-cert'] !== undefined ? '--client-cert' : '',
    values.kubeconfig !== undefined ? '--kubeconfig' : ''].filter(Boolean);
  if (values['client-cert'] !== undefined && values['client-key'] === undefined) throw new UsageError('--client-cert needs --client-key');
  if (values['client-key'] !== undefined && values['client-cert'] === undefined) throw new UsageError('--client-key needs --client-cert');
  if (credentialFlags.length > 1) throw new UsageError(`${credentialFlags.join(', ')} exclude each other: give one credential`);
  if (values.context !== undefined && values.kubeconfig === undefined) throw new UsageError('--context needs --kubeconfig');
  const imported = values.kubeconfig !== undefined ? fromKubeconfig(values.kubeconfig, values.context) : {};
  const server = values.server ?? imported.server;
  if (typeof server !== 'string') throw new UsageError('missing --server (the API server URL, https://HOST:6443)');
  const body: Entry = { ...imported, name, type: 'kubernetes', server };
  if (values['ca-file'] !== undefined) body.caCert = readText(values['ca-file'], '--ca-file');
  if (values['tls-server-name'] !== undefined) body.tlsServerName = values['tls-server-name'];
  if (values.impersonate) body.impersonate = true;
  if (values.label) body.labels = parseLabels(values.label);
  if (values['client-cert'] !== undefined) {
    body.clientCert = readText(values['client-cert'], '--client-cert');
    body.clientKey = readText(values['client-key']!, '--client-key');
  }
  if (values['token-stdin']) body.token = await readToken(io);
  if (body.token === undefined && body.clientKey === undefined) {
    throw new UsageError('give the credential Warden uses: --token-stdin, --client-cert with --client-key, or --kubeconfig');
  }
  return body;
}

/** Reads `--token-stdin`'s token. */
async function readToken(io: Io): Promise<string> {
  if (io.stdinIsTTY) io.stderr('Token (end with Ctrl-D): ');
  const token = (await io.readStdin()).trim();
  if (token === '') throw new UsageError('--token-stdin given but standard input was empty');
  return token;
}

/** The body of `PATCH /api/targets/NAME` for a kubernetes target: only the flags given change. */
export async function kubeUpdateBody(values: KubeFlags, io: Io): Promise<Entry> {
  if (values.kubeconfig !== undefined || values.context !== undefined) {
    throw new UsageError('--kubeconfig is for targets add: remove the target and add it again, or give the fields');
  }
  for (const [a, b] of [['impersonate', 'no-impersonate'], ['token-stdin', 'no-token'], ['client-cert', 'no-client-cert'],
    ['ca-file', 'no-ca']] as const) {
    if (values[a] !== undefined && values[b] !== undefined) throw new UsageError(`--${a} and --${b} exclude each other`);
  }
  if ((values['client-cert'] === undefined) !== (values['client-key'] === undefined)) {
    throw new UsageError('--client-cert and --client-key go together');
  }
  const body: Entry = {
    ...(values.server !== undefined ? { server: values.server } : {}),
    ...(values['ca-file'] !== undefined ? { caCert: readText(values['ca-file'], '--ca-file') } : {}),
    ...(values['no-ca'] ? { caCert: null } : {}),
    ...(values['tls-server-name'] !== undefined ? { tlsServerName: values['tls-server-name'] } : {}),
    ...(values.impersonate ? { impersonate: true } : {}),
    ...(values['no-impersonate'] ? { impersonate: false } : {}),
    ...(values['no-token'] ? { token: null } : {}),
    ...(values['no-client-cert'] ? { clientCert: null, clientKey: null } : {}),
    ...(values.label ? { labels: parseLabels(values.label) } : {}),
  };
  if (values['client-cert'] !== undefined) {
    body.clientCert = readText(values['client-cert'], '--client-cert');
    body.clientKey = readText(values['client-key']!, '--client-key');
  }
  if (values['token-stdin']) body.token = await readToken(io);
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one flag (see warden targets --help)');
  return body;
}

/** The words after `added` for a kubernetes target: where it is and which credential was stored, never the credential. */
export function kubeSummary(t: { server?: string; hasToken?: boolean; hasClientKey?: boolean; impersonate?: boolean }): string {
  const stored = t.hasToken ? 'token stored encrypted' : t.hasClientKey ? 'client key stored encrypted' : 'no credential';
  return `${t.server ?? '-'}, kubernetes, ${stored}${t.impersonate ? ', impersonates callers' : ''}`;
}
