/**
 * `warden access request`: ask the administrators for time-limited access to a target the caller's policies do not
 * reach. The caller uses their own token; the request id goes alone to stdout so scripts can capture it
 * (`id=$(warden access request ...)`), and `warden approvals show ID` follows it. It must never print a token.
 */
import type { ApprovalRequest } from '../store/types.js';
import { clientFor } from './client.js';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, UsageError, dispatch, expectPositionals, parseCommand, processIo, required,
  type Io,
} from './common.js';
import { json } from './format.js';
import { decisionOutcome, waitForDecision } from './watch.js';

/** Usage of `warden access`. */
export const ACCESS_USAGE = `Usage:
  warden access request --target TARGET --duration 1h --reason TEXT [--wait] [--json]

  --target     the target to reach
  --duration   how long access should last once approved (e.g. 30m, 1h; at most 24h)
  --reason     why, for the administrators who decide (1 to 500 characters)
  --wait       stay until the request is decided (a countdown to its expiry on stderr when that is a terminal):
               exit 0 when approved, 1 when denied, expired or cancelled; Ctrl-C stops waiting (exit 130)

Prints the request id; a member of warden-admins approves it with \`warden approvals approve ID\`, and the
request expires after 24 hours without a decision. Follow it with \`warden approvals show ID\`.

${CONNECTION_HELP}`;

async function request(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS, target: { type: 'string' }, duration: { type: 'string' }, reason: { type: 'string' },
    json: { type: 'boolean' }, wait: { type: 'boolean' },
  });
  expectPositionals(positionals, []);
  const body = {
    target: required(values.target, 'target'),
    duration: required(values.duration, 'duration'),
    reason: required(values.reason, 'reason').trim(),
  };
  if (body.reason.length === 0) throw new UsageError('--reason must not be blank');
  const client = clientFor(values, io);
  const created = await client.post<ApprovalRequest>('/api/access-requests', body);
  if (!values.wait) {
    io.stdout(values.json ? json(created) : `${created.id}\n`);
    return 0;
  }
  if (!values.json) io.stdout(`${created.id}\n`);
  const decided = await waitForDecision(client, created.id, io);
  if (decided === undefined) {
    io.stderr(`stopped waiting; request ${created.id} is still pending (follow it with: warden approvals show ${created.id})\n`);
    return 130;
  }
  if (values.json) io.stdout(json(decided));
  io.stderr(`${decisionOutcome(decided)}\n`);
  return 0;
}

/** Runs `warden access ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, ACCESS_USAGE, { request });
}
