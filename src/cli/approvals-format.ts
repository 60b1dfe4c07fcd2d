/**
 * Human-readable output of `warden approvals` and `warden access`: the request table and the details of one
 * request. Pure functions of API responses to text. Statement text, reasons and comments come from callers, so
 * everything passes through format.ts's `clean`/`oneLine` and can never drive the terminal with escape sequences.
 */
import { formatDuration } from '../identity/duration.js';
import type { ApprovalRequest } from '../store/types.js';
import { clean, oneLine, shortTime, table } from './format.js';

/** Longest statement excerpt in the table. */
const EXCERPT = 60;

/** `2/2`: distinct approvals so far out of those needed. */
export function approvalCount(r: ApprovalRequest): string {
  const approvers = new Set(r.decisions.filter((d) => d.decision === 'approve').map((d) => d.by));
  return `${approvers.size}/${r.approvers.count}`;
}

/** What a request asks for, in one short line: a statement excerpt or `access for 1h`. */
export function requestSubject(r: ApprovalRequest): string {
  if (r.kind === 'access') return `access for ${formatDuration(r.accessSeconds ?? 0)}`;
  const text = oneLine(r.statement ?? '');
  return text.length > EXCERPT ? `${text.slice(0, EXCERPT - 1)}…` : text;
}

/** `bot on behalf of alice -> bot`, or just the requester. */
function requester(r: ApprovalRequest): string {
  return r.chain.length > 0 ? `${r.requester} (via ${r.chain.map((a) => a.id).join(' -> ')})` : r.requester;
}

/** A reason cut to fit a table cell. */
function shortReason(r: ApprovalRequest): string {
  const text = oneLine(r.reason ?? '-');
  return text.length > EXCERPT / 2 ? `${text.slice(0, EXCERPT / 2 - 1)}…` : text;
}

/** The `warden approvals list` table; `wide` adds the rule, the session and the creation time. */
export function approvalsTable(requests: ApprovalRequest[], wide = false): string {
  if (requests.length === 0) return 'no approval requests\n';
  return table(
    ['id', 'kind', 'status', 'requester', 'target', 'classes', 'approvals', 'expires', 'reason',
      ...(wide ? ['rule', 'session', 'created'] : []), 'request'],
    requests.map((r) => [r.id, r.kind, r.status, requester(r), r.target, r.classes.join(',') || '-', approvalCount(r),
      r.status === 'pending' ? shortTime(r.expiresAt) : '-', shortReason(r),
      ...(wide ? [r.rule ?? '-', r.sessionId ?? '-', shortTime(r.createdAt)] : []), requestSubject(r)]),
  );
}

/** Who may approve, e.g. `1 of group dba, user carol`. */
function approvers(r: ApprovalRequest): string {
  const named = [...r.approvers.groups.map((g) => `group ${g}`), ...r.approvers.users.map((u) => `user ${u}`)];
  return `${r.approvers.count} of ${named.join(', ') || 'nobody'}`;
}

/** One line per decision: time, who, what, window, comment. */
function decisionLines(r: ApprovalRequest): string[] {
  return r.decisions.map((d) => {
    const window = d.windowSeconds !== undefined ? ` (window ${formatDuration(d.windowSeconds)})` : '';
    const comment = d.comment !== undefined ? `: ${d.comment}` : '';
    return oneLine(`  ${shortTime(d.at)}  ${d.by} ${d.decision === 'approve' ? 'approved' : 'denied'}${window}${comment}`);
  });
}

/** `warden approvals show`: one field per line, the decisions, then the whole statement (control characters escaped). */
export function approvalDetails(r: ApprovalRequest): string {
  const rows: [string, string][] = [
    ['id', r.id], ['kind', r.kind], ['status', r.statusReason ? `${r.status} (${r.statusReason})` : r.status],
    ['requester', `${requester(r)} (${r.requesterKind}${r.requesterGroups.length ? `; groups ${r.requesterGroups.join(',')}` : ''})`],
    ['target', r.target],
  ];
  if (r.sessionId !== null) rows.push(['session', r.sessionId]);
  if (r.kind === 'statement') rows.push(['classes', r.classes.join(',') || '-'], ['rule', r.rule ?? '-']);
  if (r.accessSeconds !== null) rows.push(['access', formatDuration(r.accessSeconds)]);
  rows.push(['reason', r.reason ?? '-'], ['approvers', `${approvers(r)} (${approvalCount(r)} so far)`],
    ['created', shortTime(r.createdAt)], [r.status === 'pending' ? 'expires' : 'decided', shortTime(r.status === 'pending' ? r.expiresAt : r.decidedAt)]);
  const lines = rows.map(([k, v]) => `${k.padEnd(10)} ${oneLine(v)}`);
  if (r.decisions.length > 0) lines.push('decisions', ...decisionLines(r));
  if (r.statement !== null) lines.push('statement', ...r.statement.split(/\r?\n/).map((l) => `  ${clean(l)}`));
  if (r.status === 'pending') lines.push('', `approve: warden approvals approve ${r.id}`, `deny:    warden approvals deny ${r.id}`);
  return `${lines.join('\n')}\n`;
}

/** The one-line answer of `approve`/`deny`. */
export function decisionSummary(verb: 'approved' | 'denied', r: ApprovalRequest, windowSeconds?: number): string {
  if (verb === 'denied') return `denied ${r.id}: the request is now ${r.status}\n`;
  const window = windowSeconds !== undefined ? `; window of ${formatDuration(windowSeconds)} asked for` : '';
  const state = r.status === 'approved' ? 'the request is now approved' : `${approvalCount(r)} approvals so far, still ${r.status}`;
  return `approved ${r.id}: ${state}${window}\n`;
}
