/**
 * `warden targets add|list|show|update|test|rm`: manage backends through the control API. A password is only ever read from
 * stdin (`--password-stdin`), never from a flag, because flags end up in shell history and in `ps` output; it is
 * sent once to the API and never printed.
 */
import { readFileSync } from 'node:fs';
import type { TargetView } from '../control/routes/targets.js';
import { clientFor, seg } from './client.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  CliError,
  UsageError,
  dispatch,
  expectPositionals,
  parseCommand,
  processIo,
  required,
  type Io,
} from './common.js';
import { json, oneLine, targetDetails, targetsTable } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit } from './output.js';
import { test, update } from './targets-change.js';
import { HTTP_OPTIONS, addHttp } from './targets-http.js';
import { KUBE_OPTIONS, kubeAddBody, kubeSummary } from './targets-kubernetes.js';
import { refuseForeignFlags, sshAddBody, sshSecrets, sshSummary, type SshFlags } from './targets-ssh.js';

/** The backend TLS modes, as `--tls` takes them. */
export const TLS_MODES = ['disable', 'prefer', 'require', 'verify-full'];

/** The target types `--type` takes. */
export const TARGET_TYPES = ['postgres', 'ssh', 'kubernetes', 'http'];

/** Usage of `warden targets`. */
export const TARGETS_USAGE = `Usage:
  warden targets add NAME --type postgres --host HOST --port PORT --database DB --user USER
                     [--password-stdin] [--tls disable|prefer|require|verify-full] [--ca-file PATH]
                     [--label KEY=VALUE ...] [--json]
  warden targets add NAME --type ssh --host HOST [--port 22] --user USER
                     [--password-stdin | --private-key-file PATH] [--host-key-fingerprint SHA256:...]
                     [--label KEY=VALUE ...] [--json]
  warden targets add NAME --type kubernetes --server https://HOST:6443 [--ca-file PATH] [--tls-server-name NAME]
                     (--token-stdin | --client-cert PATH --client-key PATH | --kubeconfig PATH [--context NAME])
                     [--impersonate] [--label KEY=VALUE ...] [--json]
  warden targets add NAME --type http --url https://HOST[:PORT][/BASE] [--ca-file PATH]
                     [--auth none|bearer|basic|header:NAME|query:NAME --secret-stdin] [--host-header HOST]
                     [--header 'Name: value' ...] [--client-cert PATH --client-key PATH] [--api-url URL]
                     [--label KEY=VALUE ...] [--json]
  warden targets list [-o table|wide|json|yaml]
  warden targets show NAME [-o table|json|yaml]
  warden targets update NAME [--host HOST] [--port PORT] [--database DB] [--user USER]
                     [--password-stdin | --no-password] [--tls MODE] [--ca-file PATH | --no-ca]
                     [--private-key-file PATH | --no-private-key] [--host-key-fingerprint SHA256:...]
                     [--label KEY=VALUE ...] [--json]
  warden targets update NAME --type kubernetes [--server URL] [--ca-file PATH | --no-ca] [--tls-server-name NAME]
                     [--token-stdin | --no-token] [--client-cert PATH --client-key PATH | --no-client-cert]
                     [--impersonate | --no-impersonate] [--label KEY=VALUE ...] [--json]
  warden targets update NAME --type http [--url URL] [--ca-file PATH | --no-ca] [--auth MODE]
                     [--secret-stdin | --no-secret] [--host-header HOST | --no-host-header]
                     [--header 'Name: value' ... | --no-headers] [--client-cert PATH --client-key PATH | --no-client-key]
                     [--api-url URL] [--label KEY=VALUE ...] [--json]
  warden targets test NAME [--json]
  warden targets rm NAME

  --password-stdin   read the backend password from standard input (surrounding whitespace is removed);
                     passwords are never accepted as flags. Stored encrypted; never shown again.
  --tls              how Warden connects to the backend (default prefer)
  --ca-file          PEM CA bundle to trust for verify-full
  --private-key-file ssh: the private key Warden logs in with (ed25519, RSA, ECDSA); when it is encrypted, its
                     passphrase is read from standard input. Stored encrypted; never shown again.
  --host-key-fingerprint
                     ssh: pin the server's host key (SHA256:..., as ssh-keygen -lf prints it); without it the first
                     key seen is recorded and enforced afterwards
  --server           kubernetes: the API server's URL; callers reach it at https://WARDEN:8443/k8s/NAME
  --ca-file          kubernetes: PEM CA bundle trusted for the API server (default: the system's CAs)
  --token-stdin      kubernetes: read a bearer token (e.g. a service account's) from standard input
  --client-cert, --client-key
                     kubernetes: a client certificate and its key (the key is stored encrypted)
  --kubeconfig, --context
                     kubernetes: import the server, CA and credential of a kubeconfig context (default: its
                     current context); credential plugins (exec) and auth-providers are refused
  --impersonate      kubernetes: Warden's credential impersonates the caller's user and groups upstream, so the
                     cluster's own RBAC applies too
  --url              http (with --type http): the upstream's base URL; callers reach it at
                     http://WARDEN:8081/t/NAME/... (the control API's URL is then --api-url or $WARDEN_URL)
  --auth             http: how Warden injects the credential upstream: none (default), bearer (Authorization:
                     Bearer), basic (user:password), header:NAME (NAME: secret) or query:NAME (?NAME=secret)
  --secret-stdin     http: read that credential from standard input (basic: user:password); stored encrypted
  --host-header      http: the Host header sent upstream, when not the URL's host
  --header           http: a static header added to every upstream request, 'Name: value' (repeatable; on
                     update it replaces them all)
  --client-cert, --client-key
                     http: a client certificate Warden presents upstream (mTLS) and its key (stored encrypted)
${OUTPUT_HELP}
  update             changes only the flags given (--label replaces all labels); changing host, port, user or
                     CA, or lowering --tls, needs the password again (--password-stdin) or --no-password, so a
                     stored password is never sent to a server it was not given for
  test               checks DNS, TCP, TLS and the login with the stored credentials, step by step (ssh: DNS
                     and TCP); exits 0 when every step worked, 1 when one failed

${CONNECTION_HELP}`;

/** Parses `--label k=v` values into a map. */
export function parseLabels(values: string[] | undefined): Record<string, string> | undefined {
  if (!values || values.length === 0) return undefined;
  const labels: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label must be KEY=VALUE, got "${item}"`);
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}

/** Parses a TCP port flag. */
export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new UsageError(`--port must be 1-65535, got "${text}"`);
  return port;
}

/**
 * Reads the password from stdin without its surrounding whitespace (the newline `echo`, here-strings and files
 * end with, a pasted space), as every secret Warden reads from stdin or a file.
 */
export async function readPassword(io: Io): Promise<string> {
  if (io.stdinIsTTY) io.stderr('Password (end with Ctrl-D): ');
  const password = (await io.readStdin()).trim();
  if (password === '') throw new UsageError('--password-stdin given but standard input was empty');
  return password;
}

/** Reads a --ca-file. */
export function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read --ca-file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

async function add(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS,
    type: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, database: { type: 'string' },
    user: { type: 'string' }, 'password-stdin': { type: 'boolean' }, tls: { type: 'string' },
    'ca-file': { type: 'string' }, label: { type: 'string', multiple: true }, json: { type: 'boolean' },
    'private-key-file': { type: 'string' }, 'host-key-fingerprint': { type: 'string' }, ...KUBE_OPTIONS, ...HTTP_OPTIONS,
  });
  const [name] = expectPositionals(positionals, ['NAME']);
  const type = required(values.type, 'type');
  if (!TARGET_TYPES.includes(type)) throw new UsageError(`--type must be one of ${TARGET_TYPES.join(', ')}, got "${type}"`);
  refuseForeignFlags(type, values);
  if (type === 'ssh') return addSsh(name, values, io);
  if (type === 'http') return addHttp(name, values, io);
  if (type === 'kubernetes') {
    const target = await clientFor(values, io).post<TargetView>('/api/targets', await kubeAddBody(name, values, io));
    io.stdout(values.json ? json(target) : `target ${target.name} added (${kubeSummary(target)})\n`);
    return 0;
  }
  if (values.tls !== undefined && !TLS_MODES.includes(values.tls)) {
    throw new UsageError(`--tls must be one of ${TLS_MODES.join(', ')}, got "${values.tls}"`);
  }
  const body = {
    name, type,
    host: required(values.host, 'host'),
    port: parsePort(required(values.port, 'port')),
    database: required(values.database, 'database'),
    user: required(values.user, 'user'),
    ...(values.tls ? { tls: values.tls } : {}),
    ...(values['ca-file'] ? { ca: readCa(values['ca-file']) } : {}),
    ...(values.label ? { labels: parseLabels(values.label) } : {}),
  };
  const client = clientFor(values, io);
  const password = values['password-stdin'] ? await readPassword(io) : undefined;
  const target = await client.post<TargetView>('/api/targets', password === undefined ? body : { ...body, password });
  io.stdout(values.json ? json(target) : `target ${target.name} added (${target.user}@${target.host}:${target.port}/${target.database}, tls ${target.tls}${target.hasPassword ? ', password stored encrypted' : ''})\n`);
  return 0;
}

/** `targets add NAME --type ssh ...`: the key file is read here, its passphrase (if encrypted) from stdin. */
async function addSsh(name: string, values: SshFlags & { json?: boolean; url?: string; token?: string }, io: Io): Promise<number> {
  const body = sshAddBody(name, values);
  const client = clientFor(values, io);
  const secrets = await sshSecrets(values, io);
  const target = await client.post<TargetView>('/api/targets', { ...body, ...secrets });
  const stored = secrets.privateKey !== undefined ? ', private key stored encrypted' : target.hasPassword ? ', password stored encrypted' : '';
  io.stdout(values.json ? json(target) : `target ${target.name} added (${sshSummary(target as Parameters<typeof sshSummary>[0], stored)})\n`);
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  expectPositionals(positionals, []);
  const targets = await clientFor(values, io).get<TargetView[]>('/api/targets');
  emit(io, values, targets, () => targetsTable(targets), () => targetsTable(targets, true));
  return 0;
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  const [name] = expectPositionals(positionals, ['NAME']);
  const target = await clientFor(values, io).get<TargetView>(`/api/targets/${seg(name)}`);
  emit(io, values, target, () => targetDetails(target));
  return 0;
}

async function rm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, CONNECTION_OPTIONS);
  const [name] = expectPositionals(positionals, ['NAME']);
  await clientFor(values, io).delete(`/api/targets/${seg(name)}`);
  io.stdout(`target ${oneLine(name)} removed\n`);
  return 0;
}

/** Runs `warden targets ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, TARGETS_USAGE, { add, list, ls: list, show, update, test, rm, remove: rm });
}
