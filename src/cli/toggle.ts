/**
 * The `disable NAME` / `enable NAME` subcommands shared by `warden users` and `warden service-accounts`: both go
 * through the kill switch's routes (`POST /api/<resource>/NAME/disable|enable`) and report the live sessions ended.
 */
import { clientFor, seg } from './client.js';
import { CONNECTION_OPTIONS, expectPositionals, parseCommand, type Io, type Subcommand } from './common.js';
import { oneLine } from './format.js';

/** A subcommand that disables or enables one principal of `resource` (`users` or `service-accounts`). */
export function toggleSubcommand(resource: 'users' | 'service-accounts', label: string, action: 'disable' | 'enable'): Subcommand {
  return async (argv: string[], io: Io): Promise<number> => {
    const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, 'let-statements-finish': { type: 'boolean' } });
    const [name] = expectPositionals(positionals, ['NAME']);
    const body = values['let-statements-finish'] ? { letStatementsFinish: true } : {};
    const result = await clientFor(values, io).post<{ sessionsEnded: string[] }>(`/api/${resource}/${seg(name)}/${action}`, body);
    io.stdout(action === 'enable' ? `${label} ${oneLine(name)} enabled\n`
      : `${label} ${oneLine(name)} disabled; ${result.sessionsEnded.length} live session(s) ended\n`);
    return 0;
  };
}
