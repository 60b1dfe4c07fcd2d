/**
 * `warden users list|disable|enable`: people known to Warden. Disabling refuses the user's new sessions at once
 * and ends the live ones (and those of every agent acting for the user) within a second; the name stays refused
 * even if an identity provider vouches for it again. A name Warden has never seen is refused (a likely typo)
 * unless `--force` says it is meant.
 */
import type { KnownPrincipal } from '../control/routes/known-principals.js';
import { clientFor } from './client.js';
import { toggleSubcommand } from './toggle.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, dispatch, expectPositionals, parseCommand, processIo, type Io } from './common.js';
import { shortTime, table } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit } from './output.js';

/** Usage of `warden users`. */
export const USERS_USAGE = `Usage:
  warden users list [-o table|wide|json|yaml]
  warden users disable NAME [--force] [--let-statements-finish]
  warden users enable NAME

  list     every principal Warden knows: signed-in users, service accounts, holders of tokens and subjects of
           recent sessions (the latest 1000), with how Warden knows them
  disable  refuses new sessions now and ends live ones (also those acting for NAME through delegation)
  --force  disable a name Warden has not seen yet (no sign-in, token or session), so its first sign-in is
           refused too; without it such a name is refused as a likely typo
${OUTPUT_HELP}
${CONNECTION_HELP}`;

/** One entry of `GET /api/principals`: the API's own type (control/routes/known-principals.ts), one definition. */
export type PrincipalView = KnownPrincipal;

/** The principals table; `wide` adds the groups and where Warden knows each from. */
export function principalsTable(principals: PrincipalView[], wide = false): string {
  if (principals.length === 0) return 'no users\n';
  return table(
    ['name', 'kind', ...(wide ? ['groups', 'known from'] : []), 'active tokens', 'sessions', 'last seen', 'status'],
    principals.map((p) => [p.name, p.kinds.join(',') || '-', ...(wide ? [p.groups.join(',') || '-', p.sources.join(', ')] : []),
      String(p.activeTokens), String(p.sessions), shortTime(p.lastSeenAt),
      p.disabledAt ? `disabled ${shortTime(p.disabledAt)}` : 'active']),
  );
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  expectPositionals(positionals, []);
  const principals = await clientFor(values, io).get<PrincipalView[]>('/api/principals');
  emit(io, values, principals, () => principalsTable(principals), () => principalsTable(principals, true));
  return 0;
}

/** Runs `warden users ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, USERS_USAGE, { list, ls: list, disable: toggleSubcommand('users', 'user', 'disable'),
    enable: toggleSubcommand('users', 'user', 'enable') });
}
