/**
 * Holding a statement for a human: use a time-window grant when one covers it, otherwise create an approval
 * request, tell the caller where to approve it, wait for the outcome and turn it into a verdict. The statement runs
 * only on `approved`; denial, expiry, cancellation and any failure to ask (store down) refuse it (fail closed).
 * One approval, one execution: a window, when the approvers grant one, covers the statement they saw (its key:
 * the text the server runs, with what each EXECUTE in it runs), never other statements of the same classes.
 * The approver sees the values (the request, shown only to those who may decide or asked); recordings and
 * notifications get the statement redacted as recordings keep it.
 */
import { isLongValue, MAX_RECORDED_TEXT_CHARS, recordedText, type LongValue, type RecordedParam } from '../recording/values.js';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApprovalService } from '../approvals/service.js';
import { toWardenError } from '../errors.js';
import type { Decision } from '../policy/types.js';
import type { Recorder } from '../recording/recorder.js';
import type { Session } from './session.js';
import type { SessionState } from './session-state.js';
import type { Command, CommandContext, DecisionNote, Verdict } from './types.js';

/** What waiting for an approval needs. */
export interface ApprovalWaitDeps {
  approvals: ApprovalService;
  recorder: Recorder;
  logger: Logger;
}

/** Resolves with allow once approved (or covered by a grant), deny otherwise. Never rejects. */
export async function requestApproval(deps: ApprovalWaitDeps, session: Session, state: SessionState, command: Command,
  decision: Decision, context: CommandContext): Promise<Verdict> {
  const note: DecisionNote = { effect: 'require_approval', rule: decision.rule, classes: decision.classes };
  const record = (type: string, data: Record<string, unknown>) => deps.recorder.append(session.id, type, { text: command.text, ...data });
  // Called synchronously when the statement is held: a cancel can only come after this.
  state.withdrawn = undefined;
  try {
    // What else the command runs (SQL: the PREPARE behind each EXECUTE) is part of what the approver sees and approves.
    const runs = state.analysis?.runsAlso?.(command) ?? [];
    const key = statementKey(command.text, [...runs, ...(state.analysis?.keyAlso?.(command) ?? [])]);
    const grant = await deps.approvals.findGrant(session.subject, session.target.name, decision.classes, key);
    if (state.withdrawn !== undefined) return { effect: 'deny', note, message: `cancelled: ${state.withdrawn}` };
    if (grant) {
      record('approval.grant_used', { grant: grant.id, rule: decision.rule });
      return { effect: 'allow', note: { ...note, approval: grant.id } };
    }
    const { request, outcome } = await deps.approvals.requestStatement({
      sessionId: session.id, subject: session.subject, target: session.target.name, statement: approverText(command, runs),
      statementKey: key, recordedStatement: recordedApproverText(deps.recorder, session.id, command, runs),
      classes: decision.classes, reason: state.reason ?? session.applicationName ?? null, rule: decision.rule ?? 'default',
      requirement: decision.approval!,
    });
    state.pendingApproval = request.id;
    // Cancelled while the request was being stored: withdraw it now (the outcome then settles as cancelled).
    if (state.withdrawn !== undefined) await deps.approvals.cancel(request.id, state.withdrawn);
    record('approval.requested', { request: request.id, rule: decision.rule, classes: decision.classes });
    context.notify(`Warden: this statement needs approval (rule ${decision.rule}); waiting up to `
      + `${formatSeconds(decision.approval!.timeoutSeconds)} for request ${request.id}. `
      + `An approver runs: warden approvals approve ${request.id}`);
    const result = await outcome;
    state.pendingApproval = undefined;
    record(`approval.${result.status}`, { request: request.id, by: result.by, ...(result.comment ? { comment: result.comment } : {}),
      ...(result.reason ? { reason: result.reason } : {}) });
    if (result.status === 'approved') return { effect: 'allow', note: { ...note, approval: request.id } };
    return { effect: 'deny', note, message: refusalMessage(request.id, result, decision.approval!.timeoutSeconds) };
  } catch (err) {
    const error = toWardenError(err);
    deps.logger.error({ session: session.id, code: error.code, detail: error.detail }, 'approval request failed');
    record('approval.failed', { code: error.code });
    return { effect: 'deny', note, message: `the statement needs approval and Warden could not ask for it: ${error.callerMessage}` };
  }
}

/**
 * The key of the statement a window covers: a SHA-256 of the text exactly as the server receives it and of the
 * PREPARE text each of its EXECUTEs runs (null for none). Bound values are not part of it: a window granted on a
 * prepared statement covers that statement with other values, which is what granting a window means.
 */
export function statementKey(text: string, executes: ReadonlyArray<string | null> = []): string {
  return createHash('sha256').update(JSON.stringify([text, ...executes])).digest('hex');
}

/** The approver's text as recordings would keep it: the statement and values through the session's redactor. */
function recordedApproverText(recorder: Recorder, sessionId: string, command: Command, runs: ReadonlyArray<string | null>): string {
  const redactedText = (value: string) => {
    const redacted = recorder.redacted(sessionId, { text: value }).text;
    return typeof redacted === 'string' ? redacted : isLongValue(redacted) ? summary(redacted) : '[not recorded]';
  };
  const redacted = recorder.redacted(sessionId, { text: command.text, ...(command.params ? { params: command.params } : {}) });
  const text = typeof redacted.text === 'string' ? redacted.text
    : isLongValue(redacted.text) ? summary(redacted.text) : '[not recorded]';
  return approverText({ ...command, text, params: Array.isArray(redacted.params) ? redacted.params as RecordedParam[] : command.params },
    runs.map((r) => (r === null ? null : redactedText(r))));
}

/** A long text as the approver reads it: its prefix, then its length and hash. */
function summary(value: LongValue): string {
  return `${value.prefix}\n-- ... (${value.bytes} bytes in all, sha256 ${value.sha256})`;
}

/** Longest bound value shown whole to an approver; a longer one is shown as a prefix, its length and a hash. */
const MAX_SHOWN_VALUE = 200;

/**
 * What the approver sees: the statement and, for one execution of a prepared statement, the values bound to it,
 * since the approval covers exactly that execution.
 */
export function approverText(command: Command, runs: ReadonlyArray<string | null> = []): string {
  // A text over the recording limit is shown (and stored, and sent) as its prefix with its length and hash.
  const shown = (value: string) => (value.length > MAX_RECORDED_TEXT_CHARS ? summary(recordedText(value) as LongValue) : value);
  // An `EXECUTE w` alone does not say what it does: the approver is shown the statement each one runs.
  const behind = runs.map((r) => (r === null ? '\n-- it runs a prepared statement Warden has not seen'
    : `\n-- it runs the prepared statement: ${shown(r)}`)).join('');
  const text = shown(command.text) + behind;
  if (!command.params || command.params.length === 0) return text;
  const values = command.params.map((value, i) => `$${i + 1} = ${showValue(value)}`);
  return `${text}\n-- with bound values: ${values.join(', ')}`;
}

/** A value as a JSON string: quotes, newlines and control characters escaped, so no value can fake the layout. */
function showValue(value: RecordedParam): string {
  if (value === null) return 'NULL';
  // Long values were summarised when bound (recording/values.ts): the approver sees the same prefix, length and hash.
  if (isLongValue(value)) return `${JSON.stringify(value.prefix)}... (${value.bytes} bytes, sha256 ${value.sha256.slice(0, 16)}...)`;
  if (value.length <= MAX_SHOWN_VALUE) return JSON.stringify(value);
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return `${JSON.stringify(value.slice(0, MAX_SHOWN_VALUE))}... (${value.length} characters, sha256 ${digest}...)`;
}

function refusalMessage(id: string, result: { status: string; by: string[]; comment?: string; reason?: string }, timeoutSeconds: number): string {
  switch (result.status) {
    case 'denied':
      return `approval request ${id} was denied by ${result.by.join(', ') || 'an approver'}${result.comment ? `: ${result.comment}` : ''}`;
    case 'expired':
      return `approval request ${id} timed out after ${formatSeconds(timeoutSeconds)}`;
    default:
      return `approval request ${id} was cancelled${result.reason ? `: ${result.reason}` : ''}`;
  }
}

function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
