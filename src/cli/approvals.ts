/**
 * `warden approvals list|show|approve|deny`: the approver's side of just-in-time approvals, through the control API.
 * Approvers are ordinary members of groups like `dba` and run these with their own token (WARDEN_TOKEN or --token),
 * never the admin token: the API checks who may decide. It must never print a token.
 */
import { parseDuration } from '../identity/duration.js';
import type { ApprovalRequest } from '../store/types.js';
import { approvalDetails, approvalsTable, decisionSummary } from './approvals-format.js';
import { clientFor, seg } from './client.js';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, UsageError, dispatch, expectPositionals, parseCommand, processIo, type Io,
} from './common.js';
import { json } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit, outputFormat, render } from './output.js';
import { watchLoop } from './watch.js';

const STATUSES = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'all'];
const KINDS = ['statement', 'access'];

/** Usage of `warden approvals`. */
export const APPROVALS_USAGE = `Usage:
  warden approvals list [--status pending|approved|denied|expired|cancelled|all] [--kind statement|access]
                        [-o table|wide|json|yaml] [--watch [--interval 2s]]
  warden approvals show ID [-o table|json|yaml]
  warden approvals approve ID [--comment TEXT] [--window 30m] [--json]
  warden approvals deny ID [--comment TEXT] [--json]

  list       requests you may see, newest first (default: --status pending)
  --watch    keep the list on screen and reprint it whenever it changes, until Ctrl-C
  --interval how often --watch asks (default 2s, at least 1s)
  approve    approve as yourself; a request needs its number of distinct approvers, never its requester
  --window   also let the requester run this same statement again on this target for this long (other bound values
             allowed; at most 24h; with several approvers, only when each of them gives a window, for the shortest)
  deny       deny as yourself; one eligible denial ends the request
${OUTPUT_HELP}
Approvers use their own token: WARDEN_TOKEN=<your token> warden approvals approve ID

${CONNECTION_HELP}`;

/** Checks a choice flag, turning a bad value into a usage error that lists the choices. */
function choice(value: string | undefined, flag: string, choices: string[]): string | undefined {
  if (value !== undefined && !choices.includes(value)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got "${value}"`);
  }
  return value;
}

/** Parses a duration flag with the API's own rules, as a usage error when it is malformed. */
function durationFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, status: { type: 'string' }, kind: { type: 'string' }, ...OUTPUT_OPTIONS,
    watch: { type: 'boolean', short: 'w' }, interval: { type: 'string' },
  });
  expectPositionals(positionals, []);
  const status = choice(values.status, 'status', STATUSES) ?? 'pending';
  const kind = choice(values.kind, 'kind', KINDS);
  const format = outputFormat(values);
  if (values.interval !== undefined && !values.watch) throw new UsageError('--interval goes with --watch');
  const intervalSeconds = durationFlag(values.interval, 'interval') ?? 2;
  if (intervalSeconds < 1) throw new UsageError('--interval must be at least 1s');
  const query = new URLSearchParams({ status, ...(kind ? { kind } : {}) });
  const client = clientFor(values, io);
  const fetchText = async () => {
    const requests = await client.get<ApprovalRequest[]>(`/api/approvals?${query}`);
    return render(format, requests, () => approvalsTable(requests), () => approvalsTable(requests, true));
  };
  if (values.watch) return watchLoop(io, intervalSeconds * 1000, `warden approvals list --status ${status}`, fetchText);
  io.stdout(await fetchText());
  return 0;
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  const [id] = expectPositionals(positionals, ['ID']);
  const request = await clientFor(values, io).get<ApprovalRequest>(`/api/approvals/${seg(id)}`);
  emit(io, values, request, () => approvalDetails(request));
  return 0;
}

async function approve(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, comment: { type: 'string' }, window: { type: 'string' }, json: { type: 'boolean' },
  });
  const [id] = expectPositionals(positionals, ['ID']);
  const windowSeconds = durationFlag(values.window, 'window');
  const body = { ...(values.comment !== undefined ? { comment: values.comment } : {}),
    ...(values.window !== undefined ? { window: values.window } : {}) };
  const request = await clientFor(values, io).post<ApprovalRequest>(`/api/approvals/${seg(id)}/approve`, body);
  io.stdout(values.json ? json(request) : decisionSummary('approved', request, windowSeconds));
  return 0;
}

async function deny(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, comment: { type: 'string' }, json: { type: 'boolean' } });
  const [id] = expectPositionals(positionals, ['ID']);
  const body = values.comment !== undefined ? { comment: values.comment } : {};
  const request = await clientFor(values, io).post<ApprovalRequest>(`/api/approvals/${seg(id)}/deny`, body);
  io.stdout(values.json ? json(request) : decisionSummary('denied', request));
  return 0;
}

/** Runs `warden approvals ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, APPROVALS_USAGE, { list, ls: list, show, approve, deny });
}
