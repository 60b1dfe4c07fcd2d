/**
 * The `disable NAME` / `enable NAME` subcommands shared by `warden users` and `warden service-accounts`: both go
 * through the kill switch's routes (`POST /api/<resource>/NAME/disable|enable`) and report the live sessions ended.
 */
import type { ParseArgsConfig } from 'node:util';
import { clientFor, seg } from './client.js';
import { CONNECTION_OPTIONS, expectPositionals, parseCommand, type Io, type Subcommand } from './common.js';
import { oneLine } from './format.js';

/** A subcommand that disables or enables one principal of `resource` (`users` or `service-accounts`). */
export function toggleSubcommand(resource: 'users' | 'service-accounts', label: string, action: 'disable' | 'enable'): Subcommand {
  return async (argv: string[], io: Io): Promise<number> => {
    // --force (users only): disable a name Warden has not seen yet; without it the API refuses a likely typo.
    const options: ParseArgsConfig['options'] = { ...CONNECTION_OPTIONS, 'let-statements-finish': { type: 'boolean' } };
    if (resource === 'users' && action === 'disable') options.force = { type: 'boolean' };
    const { values, positionals } = parseCommand(argv, options);
    const [name] = expectPositionals(positionals, ['NAME']);
    const body = { ...(values['let-statements-finish'] ? { letStatementsFinish: true } : {}),
      ...(values.force ? { force: true } : {}) };
    const result = await clientFor(values, io).post<{ sessionsEnded: string[] }>(`/api/${resource}/${seg(name)}/${action}`, body);
    io.stdout(action === 'enable' ? `${label} ${oneLine(name)} enabled\n`
      : `${label} ${oneLine(name)} disabled; ${result.sessionsEnded.length} live session(s) ended\n`);
    return 0;
  };
}
