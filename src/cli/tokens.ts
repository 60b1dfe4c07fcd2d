/**
 * `warden tokens create|list|revoke`: issue and revoke Warden tokens through the control API. `create` prints only
 * the token and a newline so `T=$(warden tokens create --user alice)` works; nothing else ever prints token text.
 */
import type { TokenRecord } from '../store/types.js';
import { clientFor } from './client.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  UsageError,
  dispatch,
  expectPositionals,
  parseCommand,
  processIo,
  required,
  splitList,
  type Io,
} from './common.js';
import { json, oneLine, tokensTable } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit } from './output.js';

const KINDS = ['user', 'service', 'agent'];

/** Usage of `warden tokens`. */
export const TOKENS_USAGE = `Usage:
  warden tokens create --user NAME [--groups a,b] [--targets a,b] [--ttl 1h] [--kind user|service|agent] [--json]
  warden tokens list [-o table|wide|json|yaml]
  warden tokens revoke ID|TOKEN [--let-statements-finish] [--json]
  warden tokens delegate --to NAME [--targets a,b] [--classes read,write] [--groups a,b] [--ttl 10m] [--json]

  create     prints only the token (so T=$(warden tokens create --user alice) works); --json prints id and expiry too
  --targets  target name patterns the token may reach (* = all)
  --ttl      lifetime, e.g. 30m, 1h, 7d (default 1h)
  revoke     takes a token id, or the token itself; every token delegated from it is revoked too, and their live
             sessions end within a second (--let-statements-finish: after the running statement)
  delegate   mints a narrower token for a sub-agent from the token in --token/$WARDEN_TOKEN (RFC 8693 delegation:
             the chain travels in the token's act claim); prints the new token alone. The sub-agent is an
             agent with a name of its own (not a user's or service account's) and connects with user=NAME. Targets, classes, groups and lifetime may only narrow the parent's (default ttl 15m)

${OUTPUT_HELP}
${CONNECTION_HELP}`;

/** The API's answer to `POST /api/tokens`. */
interface IssuedTokenView {
  token: string;
  id: string;
  expiresAt: string;
  user: string;
  groups: string[];
  targets: string[];
}

/** Tokens are JWTs (`header.payload.signature`): two dots mean the argument is a token, anything else an id. */
export function revokeBody(arg: string): { id: string } | { token: string } {
  return arg.split('.').length >= 3 ? { token: arg } : { id: arg };
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS,
    user: { type: 'string' }, groups: { type: 'string' }, targets: { type: 'string' }, ttl: { type: 'string' },
    kind: { type: 'string' }, json: { type: 'boolean' },
  });
  expectPositionals(positionals, []);
  const user = required(values.user, 'user');
  if (values.kind !== undefined && !KINDS.includes(values.kind)) {
    throw new UsageError(`--kind must be one of ${KINDS.join(', ')}, got "${values.kind}"`);
  }
  const body = {
    user,
    ...(values.groups !== undefined ? { groups: splitList(values.groups) } : {}),
    ...(values.targets !== undefined ? { targets: splitList(values.targets) } : {}),
    ...(values.ttl !== undefined ? { ttl: values.ttl } : {}),
    ...(values.kind !== undefined ? { kind: values.kind } : {}),
  };
  const issued = await clientFor(values, io).post<IssuedTokenView>('/api/tokens', body);
  io.stdout(values.json ? json(issued) : `${issued.token}\n`);
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  expectPositionals(positionals, []);
  const tokens = await clientFor(values, io).get<TokenRecord[]>('/api/tokens');
  emit(io, values, tokens, () => tokensTable(tokens), () => tokensTable(tokens, Date.now(), true));
  return 0;
}

async function revoke(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, json: { type: 'boolean' }, 'let-statements-finish': { type: 'boolean' },
  });
  const [arg] = expectPositionals(positionals, ['ID|TOKEN']);
  const body = { ...revokeBody(arg), ...(values['let-statements-finish'] ? { letStatementsFinish: true } : {}) };
  const record = await clientFor(values, io).post<TokenRecord & { revokedIds?: string[]; sessionsEnded?: string[] }>(
    '/api/tokens/revoke', body);
  const below = (record.revokedIds?.length ?? 1) - 1;
  const ended = record.sessionsEnded?.length ?? 0;
  io.stdout(values.json ? json(record) : `token ${oneLine(record.id)} of ${oneLine(record.subject)}`
    + `${below > 0 ? ` and ${below} delegated from it` : ''} revoked; ${ended} live session(s) ended\n`);
  return 0;
}

async function delegate(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, to: { type: 'string' }, targets: { type: 'string' }, classes: { type: 'string' },
    groups: { type: 'string' }, ttl: { type: 'string' }, json: { type: 'boolean' },
  });
  expectPositionals(positionals, []);
  const to = required(values.to, 'to');
  const body = {
    to,
    ...(values.targets !== undefined ? { targets: splitList(values.targets) } : {}),
    ...(values.classes !== undefined ? { classes: splitList(values.classes) } : {}),
    ...(values.groups !== undefined ? { groups: splitList(values.groups) } : {}),
    ...(values.ttl !== undefined ? { ttl: values.ttl } : {}),
  };
  const issued = await clientFor(values, io).post<IssuedTokenView>('/api/tokens/delegate', body);
  io.stdout(values.json ? json(issued) : `${issued.token}\n`);
  return 0;
}

/** Runs `warden tokens ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, TOKENS_USAGE, { create, list, ls: list, revoke, delegate });
}
