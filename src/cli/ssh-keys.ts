/**
 * `warden ssh-keys add|list|rm`: SSH public keys registered to users and service accounts, so callers reach SSH
 * targets with `ssh -i KEY user:target@gateway` and no token. The key file is read here and only its public line
 * is sent; a private key is refused before anything leaves this machine.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SshKeyRecord } from '../store/types.js';
import { clientFor, seg } from './client.js';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, CliError, UsageError, dispatch, expectPositionals, parseCommand, processIo, required,
  type Io,
} from './common.js';
import { oneLine, shortTime, table } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit } from './output.js';

/** Usage of `warden ssh-keys`. */
export const SSH_KEYS_USAGE = `Usage:
  warden ssh-keys add [USER | --service NAME] --key ~/.ssh/id_ed25519.pub [--name LABEL] [--ttl 90d] [--json]
  warden ssh-keys list [--user NAME | --service NAME] [-o table|wide|json|yaml]
  warden ssh-keys rm ID

  add    registers a public key (ed25519, ecdsa P-256/384/521, or RSA of at least 2048 bits) to a user or a
         service account; without USER or --service, to yourself. A user's groups come from their last sign-in.
  rm     removes a key; live sessions opened with it end within a second
  Administrators manage every key; others may manage their own user keys with an undelegated token.
${OUTPUT_HELP}${CONNECTION_HELP}`;

/** Reads the `.pub` file; refuses a private key here, so it is never sent anywhere. */
export async function readPublicKeyFile(file: string, cwd: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (/PRIVATE KEY/.test(text)) {
    throw new CliError(`${file} is a private key; give the public key (${file.endsWith('.pub') ? file : `${file}.pub`})`);
  }
  return text.trim();
}

async function add(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, service: { type: 'string' }, key: { type: 'string' }, name: { type: 'string' }, ttl: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const [user] = positionals;
  if (user !== undefined && values.service !== undefined) throw new UsageError('give USER or --service NAME, not both');
  const publicKey = await readPublicKeyFile(required(values.key, 'key'), io.cwd);
  const record = await clientFor(values, io).post<SshKeyRecord>('/api/ssh-keys', {
    publicKey,
    ...(user !== undefined ? { user } : {}),
    ...(values.service !== undefined ? { serviceAccount: values.service } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(values.ttl !== undefined ? { ttl: values.ttl } : {}),
  });
  io.stdout(values.json ? `${JSON.stringify(record, null, 2)}\n`
    : `SSH key ${record.id} (${record.fingerprint}) added to ${ownerText(record)}${record.expiresAt ? `, expires ${record.expiresAt}` : ''}\n`);
  return 0;
}

function ownerText(k: SshKeyRecord): string {
  return `${k.ownerKind === 'user' ? 'user' : 'service account'} ${oneLine(k.owner)}`;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS, user: { type: 'string' }, service: { type: 'string' },
  });
  expectPositionals(positionals, []);
  const query = new URLSearchParams();
  if (values.user !== undefined) query.set('user', values.user);
  if (values.service !== undefined) query.set('serviceAccount', values.service);
  const keys = await clientFor(values, io).get<SshKeyRecord[]>(`/api/ssh-keys${query.size > 0 ? `?${query}` : ''}`);
  const now = Date.now();
  const rows = (wide: boolean) => keys.length === 0 ? 'no SSH keys\n' : table(
    ['id', 'owner', 'type', 'fingerprint', 'name', 'expires', 'last used', ...(wide ? ['created', 'added by'] : [])],
    keys.map((k) => [k.id, `${k.ownerKind === 'user' ? '' : 'sa:'}${k.owner}`, k.algorithm, k.fingerprint, k.name ?? '-',
      k.expiresAt === null ? 'never' : Date.parse(k.expiresAt) <= now ? 'expired' : shortTime(k.expiresAt), shortTime(k.lastUsedAt),
      ...(wide ? [shortTime(k.createdAt), k.createdBy ?? '-'] : [])]),
  );
  emit(io, values, keys, () => rows(false), () => rows(true));
  return 0;
}

async function rm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS });
  const [id] = expectPositionals(positionals, ['ID']);
  const done = await clientFor(values, io).request<SshKeyRecord & { sessionsEnded: string[] }>('DELETE', `/api/ssh-keys/${seg(id)}`);
  io.stdout(`SSH key ${oneLine(id)} of ${ownerText(done)} removed (${done.sessionsEnded.length} live session(s) ended)\n`);
  return 0;
}

/** Runs `warden ssh-keys ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, SSH_KEYS_USAGE, { add, list, ls: list, rm, remove: rm });
}
