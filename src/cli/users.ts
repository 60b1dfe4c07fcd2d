/**
 * `warden users list|disable|enable`: people known to Warden. Disabling refuses the user's new sessions at once
 * and ends the live ones (and those of every agent acting for the user) within a second; the name stays refused
 * even if an identity provider vouches for it again.
 */
import { clientFor } from './client.js';
import { toggleSubcommand } from './toggle.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, dispatch, expectPositionals, parseCommand, processIo, type Io } from './common.js';
import { json, shortTime, table } from './format.js';

/** Usage of `warden users`. */
export const USERS_USAGE = `Usage:
  warden users list [--json]
  warden users disable NAME [--let-statements-finish]
  warden users enable NAME

  disable  refuses new sessions now and ends live ones (also those acting for NAME through delegation); a name
           not seen yet is recorded as disabled so its first sign-in is refused too
${CONNECTION_HELP}`;

interface UserView {
  name: string;
  email: string | null;
  groups: string[];
  provider: string | null;
  disabledAt: string | null;
  lastLoginAt: string | null;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } });
  expectPositionals(positionals, []);
  const users = await clientFor(values, io).get<UserView[]>('/api/users');
  io.stdout(values.json ? json(users) : users.length === 0 ? 'no users\n' : table(
    ['name', 'email', 'groups', 'provider', 'last sign-in', 'status'],
    users.map((u) => [u.name, u.email ?? '-', u.groups.join(',') || '-', u.provider ?? '-', shortTime(u.lastLoginAt),
      u.disabledAt ? `disabled ${shortTime(u.disabledAt)}` : 'active']),
  ));
  return 0;
}


/** Runs `warden users ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, USERS_USAGE, { list, ls: list, disable: toggleSubcommand('users', 'user', 'disable'),
    enable: toggleSubcommand('users', 'user', 'enable') });
}
