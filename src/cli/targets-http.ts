/**
 * The HTTP side of `warden targets add|update`: the request body of an http target from its flags. The credential
 * Warden injects upstream (`--auth bearer|basic|header:NAME|query:NAME`) is read only from standard input
 * (`--secret-stdin`; basic reads `user:password`), never from a flag, and never printed; a client key only from its
 * file. `--url` names the upstream here, so the control API's URL comes from `--api-url` (or $WARDEN_URL, ports.json)
 * when `--type http` is given.
 */
import { readFileSync } from 'node:fs';
import type { TargetView } from '../control/routes/targets.js';
import { staticHeaderRefusal } from '../protocols/http/definition.js';
import { clientFor, seg } from './client.js';
import { CliError, UsageError, type Io } from './common.js';
import { json } from './format.js';
import { parseLabels, readCa } from './targets.js';

/** The parsed flags these functions read. */
export interface HttpFlags {
  url?: string;
  'api-url'?: string;
  token?: string;
  'ca-file'?: string;
  'no-ca'?: boolean;
  auth?: string;
  'secret-stdin'?: boolean;
  'no-secret'?: boolean;
  'host-header'?: string;
  'no-host-header'?: boolean;
  header?: string[];
  'no-headers'?: boolean;
  'client-cert'?: string;
  'client-key'?: string;
  'no-client-key'?: boolean;
  label?: string[];
  json?: boolean;
}

/** Flags of `targets add|update` that only http targets have. */
export const HTTP_ONLY = ['auth', 'secret-stdin', 'no-secret', 'host-header', 'no-host-header', 'header', 'no-headers',
  'no-client-key', 'api-url'] as const;

/** The option table of these flags, for parseArgs (`--client-cert`, `--client-key`, `--ca-file` are shared). */
export const HTTP_OPTIONS = {
  auth: { type: 'string' }, 'secret-stdin': { type: 'boolean' }, 'host-header': { type: 'string' },
  header: { type: 'string', multiple: true }, 'api-url': { type: 'string' },
} as const;

/** The option table of `targets update` for http targets. */
export const HTTP_UPDATE_OPTIONS = { ...HTTP_OPTIONS, 'no-secret': { type: 'boolean' }, 'no-host-header': { type: 'boolean' },
  'no-headers': { type: 'boolean' }, 'no-client-key': { type: 'boolean' } } as const;

const AUTH = /^(none|bearer|basic|(header|query):[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128})$/;

type Entry = Record<string, unknown>;

function readFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `--auth`, checked. */
function parseAuth(auth: string): string {
  if (!AUTH.test(auth)) throw new UsageError(`--auth must be none, bearer, basic, header:NAME or query:NAME, got "${auth}"`);
  return auth;
}

/** `--header 'Name: value'` flags as a map (a repeated name keeps its last value). */
export function parseHeaders(items: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const item of items) {
    const colon = item.indexOf(':');
    const name = colon < 0 ? '' : item.slice(0, colon).trim();
    if (colon <= 0) throw new UsageError(`--header must be 'Name: value', got "${item}"`);
    const why = staticHeaderRefusal(name);
    if (why !== undefined) throw new UsageError(`--header: ${why}`);
    const value = item.slice(colon + 1).trim();
    if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: the value must not hold CR, LF or NUL`);
    headers[name] = value;
  }
  return headers;
}

/** Reads `--secret-stdin`'s credential for `auth` (basic: `user:password`). */
async function readSecret(auth: string, io: Io): Promise<string> {
  if (io.stdinIsTTY) io.stderr(auth === 'basic' ? 'user:password (end with Ctrl-D): ' : 'Secret (end with Ctrl-D): ');
  const secret = (await io.readStdin()).trim();
  if (secret === '') throw new UsageError('--secret-stdin given but standard input was empty');
  if (auth === 'basic' && !secret.includes(':')) {
    throw new UsageError('--auth basic reads user:password from standard input, and it holds no ":"');
  }
  if (auth !== 'basic' && /[\r\n\0]/.test(secret)) throw new UsageError('the secret must be one line (no CR, LF or NUL inside)');
  return secret;
}

/** The client certificate and key flags: both or neither. */
function clientPair(values: HttpFlags): Entry {
  if ((values['client-cert'] === undefined) !== (values['client-key'] === undefined)) {
    throw new UsageError('--client-cert and --client-key go together');
  }
  if (values['client-cert'] === undefined) return {};
  return { clientCert: readFile(values['client-cert'], '--client-cert'), clientKey: readFile(values['client-key']!, '--client-key') };
}

/** The body of `POST /api/targets` for an http target, with its secret read from stdin. */
export async function httpAddBody(name: string, values: HttpFlags, io: Io): Promise<Entry> {
  if (values.url === undefined) throw new UsageError('missing --url (the upstream\'s base URL, https://HOST[:PORT][/BASE])');
  const auth = parseAuth(values.auth ?? 'none');
  if (auth === 'none' && values['secret-stdin']) throw new UsageError('--secret-stdin needs --auth (how Warden injects the secret upstream)');
  if (auth !== 'none' && !values['secret-stdin']) {
    throw new UsageError(`--auth ${auth} needs the credential: give --secret-stdin and write it to standard input`);
  }
  const body: Entry = { name, type: 'http', url: values.url, auth };
  if (values['ca-file'] !== undefined) body.caCert = readCa(values['ca-file']);
  if (values['host-header'] !== undefined) body.hostHeader = values['host-header'];
  if (values.header !== undefined) body.headers = parseHeaders(values.header);
  if (values.label) body.labels = parseLabels(values.label);
  Object.assign(body, clientPair(values));
  if (values['secret-stdin']) body.secret = await readSecret(auth, io);
  return body;
}

/**
 * The body of `PATCH /api/targets/NAME` for an http target: only the flags given change. `current` is the stored
 * target, read when the change must know its auth or whether a secret is stored.
 */
export async function httpUpdateBody(values: HttpFlags, io: Io, current: () => Promise<TargetView>): Promise<Entry> {
  for (const [a, b] of [['secret-stdin', 'no-secret'], ['client-cert', 'no-client-key'], ['client-key', 'no-client-key'],
    ['ca-file', 'no-ca'], ['host-header', 'no-host-header'], ['header', 'no-headers']] as const) {
    if (values[a] !== undefined && values[b] !== undefined) throw new UsageError(`--${a} and --${b} exclude each other`);
  }
  const auth = values.auth === undefined ? undefined : parseAuth(values.auth);
  const body: Entry = {
    ...(values.url !== undefined ? { url: values.url } : {}),
    ...(auth !== undefined ? { auth } : {}),
    ...(values['ca-file'] !== undefined ? { caCert: readCa(values['ca-file']) } : {}),
    ...(values['no-ca'] ? { caCert: null } : {}),
    ...(values['host-header'] !== undefined ? { hostHeader: values['host-header'] } : {}),
    ...(values['no-host-header'] ? { hostHeader: null } : {}),
    ...(values.header !== undefined ? { headers: parseHeaders(values.header) } : {}),
    ...(values['no-headers'] ? { headers: {} } : {}),
    ...(values['no-secret'] ? { secret: null } : {}),
    ...(values['no-client-key'] ? { clientCert: null, clientKey: null } : {}),
    ...(values.label ? { labels: parseLabels(values.label) } : {}),
    ...clientPair(values),
  };
  if (Object.keys(body).length === 0 && !values['secret-stdin']) {
    throw new UsageError('nothing to change: give at least one flag (see warden targets --help)');
  }
  // The auth the target will have, and whether it will hold a secret: an injecting auth without one is refused.
  const needsCurrent = values['secret-stdin'] || values['no-secret'] || (auth !== undefined && auth !== 'none');
  const stored = needsCurrent ? await current() : undefined;
  const nextAuth = auth ?? stored?.auth ?? 'none';
  if (values['secret-stdin']) {
    if (nextAuth === 'none') throw new UsageError('--secret-stdin needs --auth: target uses auth none, which injects no secret');
    body.secret = await readSecret(nextAuth, io);
  } else if (nextAuth !== 'none' && (values['no-secret'] || !stored?.hasSecret)) {
    throw new UsageError(`auth ${nextAuth} needs a credential: give --secret-stdin${values['no-secret'] ? ' instead of --no-secret, or --auth none' : ''}`);
  }
  // Moving a stored secret (another URL, CA, Host header or auth) without giving it again: the control API refuses.
  return body;
}

/** The words after `added` for an http target: where it is and how its credential is injected, never the credential. */
export function httpSummary(t: { url?: string; auth?: string; hasSecret?: boolean; hasClientKey?: boolean }): string {
  const auth = t.auth ?? 'none';
  const secret = auth === 'none' ? 'no credential' : `auth ${auth}, ${t.hasSecret ? 'secret stored encrypted' : 'NO secret stored'}`;
  return `${t.url ?? '-'}, http, ${secret}${t.hasClientKey ? ', client certificate' : ''}`;
}

/** The client of an http add or update: `--url` names the upstream, so the control API's URL is `--api-url`. */
function apiClient(values: HttpFlags, io: Io) {
  return clientFor({ url: values['api-url'], token: values.token }, io);
}

/** `warden targets add NAME --type http ...`. */
export async function addHttp(name: string, values: HttpFlags, io: Io): Promise<number> {
  const target = await apiClient(values, io).post<TargetView>('/api/targets', await httpAddBody(name, values, io));
  io.stdout(values.json ? json(target) : `target ${target.name} added (${httpSummary(target)})\n`);
  return 0;
}

/** `warden targets update NAME --type http ...`. */
export async function updateHttp(name: string, values: HttpFlags, io: Io): Promise<number> {
  const client = apiClient(values, io);
  const body = await httpUpdateBody(values, io, () => client.get<TargetView>(`/api/targets/${seg(name)}`));
  const target = await client.patch<TargetView>(`/api/targets/${seg(name)}`, body);
  io.stdout(values.json ? json(target) : `updated target ${target.name} (${httpSummary(target)})\n`);
  return 0;
}
