/**
 * `warden sessions export ID --format har [--output FILE] [--base-url URL]`: an HTTP session's recorded exchanges
 * as a HAR 1.2 document (open it in a browser's devtools, Network tab, "Import HAR"). Built here from the session's
 * events as the control API returns them, so it holds exactly what the recording holds (masked, no credentials).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { TargetView } from '../control/routes/targets.js';
import { buildHar } from '../recording/har.js';
import type { SessionEventRecord, SessionRecord } from '../store/types.js';
import { clientFor, seg } from './client.js';
import { CONNECTION_OPTIONS, UsageError, expectPositionals, parseCommand, type Io } from './common.js';

/** Usage lines of `warden sessions export`, for the sessions usage text. */
export const EXPORT_USAGE = `  warden sessions export ID --format har [--output FILE] [--base-url URL]`;
/** Help of `warden sessions export`, for the sessions usage text. */
export const EXPORT_HELP = `  export  an HTTP session as HAR 1.2 (devtools' "Import HAR"), to stdout or --output FILE (mode 0600); URLs start
          with the target's URL (or --base-url when the target is gone or should read differently)`;

/** The target's URL when the control API still knows the target (and it is an http one); undefined otherwise. */
async function targetUrl(client: ReturnType<typeof clientFor>, name: string): Promise<string | undefined> {
  try {
    return (await client.get<TargetView>(`/api/targets/${seg(name)}`)).url;
  } catch {
    return undefined; // deleted, or the caller may read sessions but not targets: fall back to http://<name>
  }
}

/** Runs `warden sessions export`. */
export async function exportSession(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, format: { type: 'string' }, output: { type: 'string', short: 'O' }, 'base-url': { type: 'string' },
  });
  const [id] = expectPositionals(positionals, ['ID']);
  if (values.format !== 'har') {
    throw new UsageError(`--format must be har${values.format === undefined ? '' : `, got "${values.format}"`} (a terminal session: warden sessions replay)`);
  }
  const baseUrl = values['base-url'];
  if (baseUrl !== undefined && !/^https?:\/\/[^/?#]+/.test(baseUrl)) throw new UsageError(`--base-url must be an http:// or https:// URL, got "${baseUrl}"`);
  const client = clientFor(values, io);
  const found = await client.get<{ session: SessionRecord; events: SessionEventRecord[] }>(`/api/sessions/${seg(id)}`);
  const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  const har = buildHar(found.session, found.events, { baseUrl: baseUrl ?? await targetUrl(client, found.session.target), version });
  const text = `${JSON.stringify(har, null, 2)}\n`;
  if (values.output === undefined) {
    io.stdout(text);
  } else {
    const file = path.resolve(io.cwd, values.output);
    writeFileSync(file, text, { mode: 0o600 });
    io.stderr(`wrote ${har.log.entries.length} entries to ${file}\n`);
  }
  return 0;
}
