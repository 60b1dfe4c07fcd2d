/**
 * `warden service-accounts ...`: accounts for services and AI agents, their API keys, and the key-for-token
 * exchange an agent runs itself. A key is printed once by `keys create` and never again; `token` reads the key
 * from standard input so it stays out of the process list and shell history, and prints the token alone.
 */
import { clientFor, resolveConnection, seg, unreachable } from './client.js';
import { toggleSubcommand } from './toggle.js';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, CliError, UsageError, dispatch, expectPositionals, parseCommand, processIo,
  splitList, type Io,
} from './common.js';
import { json, oneLine, shortTime, table } from './format.js';
import { didYouMean } from './usage.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit, outputFormat } from './output.js';

/** Usage of `warden service-accounts`. */
export const SERVICE_ACCOUNTS_USAGE = `Usage:
  warden service-accounts create NAME [--kind service|agent] [--groups a,b] [--targets a,b] [--description TEXT]
  warden service-accounts list [-o table|wide|json|yaml]
  warden service-accounts show NAME [-o table|json|yaml]
  warden service-accounts disable NAME [--let-statements-finish]
  warden service-accounts enable NAME
  warden service-accounts keys create NAME [--ttl 90d]      prints the API key once
  warden service-accounts keys revoke KEY_ID
  warden service-accounts token --key-stdin [--targets a,b] [--ttl 15m]

  token    trades an API key (read from standard input) for a short-lived Warden token and prints it alone:
           TOKEN=$(warden service-accounts token --key-stdin <key.txt). Needs no admin token; the same exchange
           is POST /api/oauth/token with grant_type=client_credentials.
  disable  its keys stop working, new sessions are refused and live ones end within a second
${OUTPUT_HELP}${CONNECTION_HELP}`;

interface AccountView {
  name: string;
  kind: string;
  description: string | null;
  groups: string[];
  targets: string[];
  disabledAt: string | null;
  keys?: Array<{ id: string; createdAt: string; expiresAt: string | null; lastUsedAt: string | null; revokedAt: string | null }>;
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, kind: { type: 'string' }, groups: { type: 'string' }, targets: { type: 'string' },
    description: { type: 'string' }, json: { type: 'boolean' },
  });
  const [name] = expectPositionals(positionals, ['NAME']);
  if (values.kind !== undefined && values.kind !== 'service' && values.kind !== 'agent') {
    throw new UsageError(`--kind must be one of service, agent, got "${values.kind}"`);
  }
  const account = await clientFor(values, io).post<AccountView>('/api/service-accounts', {
    name,
    ...(values.kind ? { kind: values.kind } : {}),
    ...(values.groups !== undefined ? { groups: splitList(values.groups) } : {}),
    ...(values.targets !== undefined ? { targets: splitList(values.targets) } : {}),
    ...(values.description !== undefined ? { description: values.description } : {}),
  });
  io.stdout(values.json ? json(account) : `service account ${oneLine(account.name)} (${account.kind}) created\n`);
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  expectPositionals(positionals, []);
  const accounts = await clientFor(values, io).get<AccountView[]>('/api/service-accounts');
  const rows = (wide: boolean) => accounts.length === 0 ? 'no service accounts\n' : table(
    ['name', 'kind', 'groups', 'targets', 'status', ...(wide ? ['description'] : [])],
    accounts.map((a) => [a.name, a.kind, a.groups.join(',') || '-', a.targets.join(','), a.disabledAt ? 'disabled' : 'active',
      ...(wide ? [a.description ?? '-'] : [])]),
  );
  emit(io, values, accounts, () => rows(false), () => rows(true));
  return 0;
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  const [name] = expectPositionals(positionals, ['NAME']);
  const format = outputFormat(values);
  const a = await clientFor(values, io).get<AccountView>(`/api/service-accounts/${seg(name)}`);
  if (format === 'json' || format === 'yaml') {
    emit(io, values, a, () => '');
    return 0;
  }
  const keys = (a.keys ?? []).map((k) => [k.id, shortTime(k.createdAt), shortTime(k.expiresAt), shortTime(k.lastUsedAt),
    k.revokedAt ? 'revoked' : 'active']);
  io.stdout(`name:        ${oneLine(a.name)}\nkind:        ${a.kind}\ndescription: ${oneLine(a.description ?? '-')}\n`
    + `groups:      ${a.groups.join(', ') || '-'}\ntargets:     ${a.targets.join(', ')}\n`
    + `status:      ${a.disabledAt ? `disabled ${shortTime(a.disabledAt)}` : 'active'}\n\n`
    + (keys.length === 0 ? 'no API keys\n' : table(['key id', 'created', 'expires', 'last used', 'status'], keys)));
  return 0;
}


async function keys(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseCommand(rest, { ...CONNECTION_OPTIONS, ttl: { type: 'string' }, json: { type: 'boolean' } });
  if (sub === 'create') {
    const [name] = expectPositionals(positionals, ['NAME']);
    const created = await clientFor(values, io).post<{ key: string; id: string; expiresAt: string | null }>(
      `/api/service-accounts/${seg(name)}/keys`, values.ttl !== undefined ? { ttl: values.ttl } : {});
    io.stdout(values.json ? json(created) : `${created.key}\n`);
    if (!values.json) io.stderr(`API key ${created.id} created${created.expiresAt ? `, expires ${created.expiresAt}` : ''}; it is shown only once\n`);
    return 0;
  }
  if (sub === 'revoke') {
    const [id] = expectPositionals(positionals, ['KEY_ID']);
    const done = await clientFor(values, io).post<{ revokedTokens?: string[]; sessionsEnded?: string[] }>(`/api/api-keys/${seg(id)}/revoke`, {});
    const tokens = done?.revokedTokens?.length ?? 0;
    const sessions = done?.sessionsEnded?.length ?? 0;
    io.stdout(`API key ${oneLine(id)} revoked (with ${tokens} token(s) traded for it; ${sessions} live session(s) ended)\n`);
    return 0;
  }
  throw new UsageError(sub === undefined ? 'missing keys subcommand (create or revoke)'
    : `unknown keys subcommand "${sub}"${didYouMean(sub, ['create', 'revoke'])}`);
}

async function token(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    url: { type: 'string' }, 'key-stdin': { type: 'boolean' }, targets: { type: 'string' }, ttl: { type: 'string' },
  });
  expectPositionals(positionals, []);
  if (!values['key-stdin']) throw new UsageError('give the API key on standard input with --key-stdin');
  const key = (await io.readStdin()).trim();
  if (key.length === 0) throw new UsageError('no API key on standard input');
  const { url } = resolveConnection({ url: values.url }, io);
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_secret: key });
  const scope = (splitList(values.targets) ?? []).map((t) => `target:${t}`).join(' ');
  if (scope) form.set('scope', scope);
  if (values.ttl !== undefined) form.set('ttl', values.ttl);
  let response: Response;
  try {
    response = await fetch(new URL('/api/oauth/token', url), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form,
    });
  } catch (err) {
    throw unreachable(url, err);
  }
  const body = await response.json().catch(() => ({})) as { access_token?: string; error?: string; error_description?: string };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new CliError(`token request refused: ${oneLine(body.error_description ?? `HTTP ${response.status}`)}`, body.error);
  }
  io.stdout(`${body.access_token}\n`);
  return 0;
}

/** Runs `warden service-accounts ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, SERVICE_ACCOUNTS_USAGE, {
    create, list, ls: list, show, disable: toggleSubcommand('service-accounts', 'service account', 'disable'),
    enable: toggleSubcommand('service-accounts', 'service account', 'enable'), keys, token,
  });
}
