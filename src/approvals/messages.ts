/**
 * The bodies of approval notifications: a generic JSON webhook payload and a Slack-compatible incoming-webhook
 * message (`text` plus Block Kit `blocks`). Pure functions of an event and a request.
 * Statement text comes from callers, so everything put into Slack mrkdwn is escaped (`&`, `<`, `>`: no
 * `<!channel>` pings, no disguised links) and code fences inside a statement cannot close the code block.
 * This module must never put a token, a password or a target's connection secret into a message, nor a value the
 * caller sent: notifications leave Warden (a channel, a webhook receiver) and are read by people who may not see the
 * request itself, so they carry the statement as recordings keep it (literals and bound values redacted by the
 * requester's rules); eligible approvers see the values in Warden (`warden approvals show`, the request's URL).
 */
import { formatDuration } from '../identity/duration.js';
import type { ApprovalRequest } from '../store/types.js';

/** The events approvals announce. */
export type ApprovalEvent =
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.cancelled';

/** Statements longer than this are cut in Slack messages (Slack refuses sections over 3,000 characters). */
export const MAX_SLACK_STATEMENT = 2000;

/** The JSON body of a generic webhook. */
export interface WebhookPayload {
  event: ApprovalEvent;
  request: ApprovalRequest;
  approveCommand: string;
  url: string;
}

/** The CLI command an approver runs. */
export function approveCommand(id: string): string {
  return `warden approvals approve ${id}`;
}

/** Where the request lives in the control API. */
export function requestUrl(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/api/approvals/${encodeURIComponent(id)}`;
}

/** What stands in for a statement whose redacted form is unknown (a request stored before it was kept). */
export const STATEMENT_WITHHELD = '[statement not shown here: see the request in Warden]';

/**
 * The request as notifications carry it: its statement replaced by the redacted copy recordings keep (or withheld
 * when there is none), without Warden's own bookkeeping (the statement's key and that copy).
 */
export function notifiedRequest(request: ApprovalRequest): ApprovalRequest {
  const { statementKey: _key, recordedStatement, ...rest } = request;
  if (request.statement === null) return rest;
  return { ...rest, statement: recordedStatement ?? STATEMENT_WITHHELD };
}

/** The generic webhook body: the request as notified (no secret, no value), the approve command and the API address. */
export function webhookPayload(event: ApprovalEvent, request: ApprovalRequest, publicUrl: string): WebhookPayload {
  return { event, request: notifiedRequest(request), approveCommand: approveCommand(request.id), url: requestUrl(publicUrl, request.id) };
}

/** Escapes text for Slack mrkdwn. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A statement as a Slack code block: cut at MAX_SLACK_STATEMENT, fences inside broken with a zero-width space. */
export function slackCode(statement: string): string {
  const cut = statement.length > MAX_SLACK_STATEMENT
    ? `${statement.slice(0, MAX_SLACK_STATEMENT)}\n… (${statement.length - MAX_SLACK_STATEMENT} more characters)`
    : statement;
  return `\`\`\`${slackEscape(cut).replace(/```/g, '`\u200b``')}\`\`\``;
}

/** `bot (agent) on behalf of alice -> bot`. */
function who(request: ApprovalRequest): string {
  const chain = request.chain.length > 0 ? ` on behalf of ${request.chain.map((a) => a.id).join(' -> ')}` : '';
  return `${request.requester} (${request.requesterKind})${chain}`;
}

/** The one-line summary, also Slack's notification text. */
export function summary(event: ApprovalEvent, request: ApprovalRequest): string {
  const what = request.kind === 'access'
    ? `access to ${request.target} for ${formatDuration(request.accessSeconds ?? 0)}`
    : `a statement on ${request.target}`;
  const by = (decision: string) => request.decisions.filter((d) => d.decision === decision).map((d) => d.by).join(', ');
  switch (event) {
    case 'approval.requested': return `${who(request)} asks for approval of ${what}`;
    case 'approval.approved': return `Approved by ${by('approve')}: ${what} for ${request.requester}`;
    case 'approval.denied': return `Denied by ${by('deny')}: ${what} for ${request.requester}`;
    case 'approval.expired': return `Expired without a decision: ${what} for ${request.requester}`;
    case 'approval.cancelled': return `Cancelled (${request.statusReason ?? 'no reason'}): ${what} for ${request.requester}`;
  }
}

/** The mrkdwn lines describing a request, for the Slack message body. */
function detailLines(request: ApprovalRequest): string[] {
  const lines = [`*Request:* \`${request.id}\` (${request.kind})`, `*Requester:* ${slackEscape(who(request))}`,
    `*Target:* ${slackEscape(request.target)}`];
  if (request.classes.length > 0) lines.push(`*Classes:* ${slackEscape(request.classes.join(', '))}`);
  if (request.rule !== null) lines.push(`*Rule:* ${slackEscape(request.rule)}`);
  if (request.reason !== null) lines.push(`*Reason:* ${slackEscape(request.reason)}`);
  const { groups, users, count } = request.approvers;
  const named = [...groups.map((g) => `group ${g}`), ...users.map((u) => `user ${u}`)].join(', ');
  lines.push(`*Approvers:* ${count} of ${slackEscape(named)}; expires ${request.expiresAt}`);
  return lines;
}

/** The Slack incoming-webhook body: a readable summary, the statement in a code block and how to decide. */
export function slackPayload(event: ApprovalEvent, request: ApprovalRequest, publicUrl: string): { text: string; blocks: unknown[] } {
  // Slack parses the fallback text as mrkdwn too, so it is escaped like the blocks.
  const text = slackEscape(summary(event, request));
  const section = (mrkdwn: string) => ({ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } });
  const blocks: unknown[] = [section(`*${text}*`), section(detailLines(request).join('\n'))];
  const { statement } = notifiedRequest(request);
  if (statement !== null) blocks.push(section(slackCode(statement)));
  if (event === 'approval.requested') {
    blocks.push(section(`Approve: \`${approveCommand(request.id)}\`  Deny: \`warden approvals deny ${request.id}\`\n` +
      `Details: ${slackEscape(requestUrl(publicUrl, request.id))}`));
  }
  return { text, blocks };
}
