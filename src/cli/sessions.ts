/**
 * `warden sessions list|show|kill|replay|export`: read recorded sessions through the control API, as a table, a timeline or JSON.
 * Read-only; everything printed from a recording goes through format.ts, which escapes control characters.
 */
import type { SessionEventRecord, SessionRecord } from '../store/types.js';
import { clientFor, seg } from './client.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  UsageError,
  dispatch,
  expectPositionals,
  parseCommand,
  processIo,
  type Io,
} from './common.js';
import { oneLine, sessionTimeline, sessionsTable } from './format.js';
import { EXPORT_HELP, EXPORT_USAGE, exportSession } from './sessions-export.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit } from './output.js';

/** Usage of `warden sessions`. */
export const SESSIONS_USAGE = `Usage:
  warden sessions list [-o table|wide|json|yaml] [--active] [--limit N] [--subject NAME] [--target NAME]
  warden sessions show ID [-o table|json|yaml]
  warden sessions kill ID [--let-statements-finish]
  warden sessions replay ID [--from SECONDS] [--channel N] > session.cast
${EXPORT_USAGE}

  list    newest first (default limit 100, at most 1000); --active shows only sessions still open
  show    the session and a timeline of its events: offset, type, statement, params, the decision and the rule
          behind it (allows included), duration, rows, error; HTTP: one line per exchange (method, path, status,
          duration, bytes up and down, values masked) and per WebSocket message
  kill    ends a live session now; the caller is told why (--let-statements-finish: after the running statement)
  replay  writes a terminal session as asciicast v2 (play it with "asciinema play session.cast"), as the caller saw
          it (masked output, echoed input); --from starts that many seconds in, from the nearest screen keyframe;
          --channel picks one terminal of a session that had several
${EXPORT_HELP}
${OUTPUT_HELP}
${CONNECTION_HELP}`;

/** Builds the query string of `GET /api/sessions` from the list flags. */
export function sessionsQuery(values: { active?: boolean; limit?: string; subject?: string; target?: string }): string {
  const params = new URLSearchParams();
  if (values.limit !== undefined) {
    if (!/^\d+$/.test(values.limit) || Number(values.limit) < 1) {
      throw new UsageError(`--limit must be a positive integer, got "${values.limit}"`);
    }
    params.set('limit', values.limit);
  }
  if (values.active) params.set('active', 'true');
  if (values.subject !== undefined) params.set('subject', values.subject);
  if (values.target !== undefined) params.set('target', values.target);
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS,
    ...OUTPUT_OPTIONS, active: { type: 'boolean' }, limit: { type: 'string' },
    subject: { type: 'string' }, target: { type: 'string' },
  });
  expectPositionals(positionals, []);
  const sessions = await clientFor(values, io).get<SessionRecord[]>(`/api/sessions${sessionsQuery(values)}`);
  emit(io, values, sessions, () => sessionsTable(sessions), () => sessionsTable(sessions, true));
  return 0;
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  const [id] = expectPositionals(positionals, ['ID']);
  const found = await clientFor(values, io).get<{ session: SessionRecord; events: SessionEventRecord[] }>(
    `/api/sessions/${seg(id)}`,
  );
  emit(io, values, found, () => sessionTimeline(found.session, found.events));
  return 0;
}

async function kill(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, 'let-statements-finish': { type: 'boolean' } });
  const [id] = expectPositionals(positionals, ['ID']);
  await clientFor(values, io).post(`/api/sessions/${seg(id)}/kill`, values['let-statements-finish'] ? { letStatementsFinish: true } : {});
  io.stdout(`session ${oneLine(id)} ${values['let-statements-finish'] ? 'ends after its running statement' : 'ended'}\n`);
  return 0;
}

async function replay(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, from: { type: 'string' }, channel: { type: 'string' } });
  const [id] = expectPositionals(positionals, ['ID']);
  const params = new URLSearchParams();
  if (values.from !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(values.from)) throw new UsageError(`--from must be a number of seconds, got "${values.from}"`);
    params.set('from', values.from);
  }
  if (values.channel !== undefined) params.set('channel', values.channel);
  const query = params.toString();
  const cast = await clientFor(values, io).request<string>('GET', `/api/sessions/${seg(id)}/cast${query ? `?${query}` : ''}`, undefined,
    { accept: 'application/x-asciicast' });
  // The cast is JSON lines: control characters in recorded output are escaped in it, so it is safe to print.
  io.stdout(cast);
  return 0;
}

/** Runs `warden sessions ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, SESSIONS_USAGE, { list, ls: list, show, kill, replay, export: exportSession });
}
