/**
 * Pure building blocks of approval records: new requests, the effect of one decision, final states, grants and the
 * outcome a waiting statement receives. No store, no timers, no clock of its own (every function takes `now`), so
 * the service stays about ordering and persistence while the rules live here, testable without I/O.
 * It must never decide who may approve: that is eligibility.ts.
 */
import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors.js';
import { principalKey } from '../identity/principal.js';
import { ADMIN_GROUP } from '../identity/tokens.js';
import type { ApprovalRequirement } from '../policy/types.js';
import type { Subject } from '../session/types.js';
import { APPROVAL_KINDS, APPROVAL_STATUSES } from '../store/approval-types.js';
import type {
  ApprovalDecision, ApprovalKind, ApprovalQuery, ApprovalRequest, ApprovalStatus, GrantRecord,
} from '../store/types.js';

/** How long an access request waits for an administrator before it expires. */
export const ACCESS_REQUEST_TIMEOUT_SECONDS = 24 * 3600;
/** Longest access an access request may ask for. */
export const MAX_ACCESS_SECONDS = 24 * 3600;
/** Longest time window an approver may grant with a statement approval. */
export const MAX_WINDOW_SECONDS = 24 * 3600;
/** Longest free text (reasons, comments) kept on a request. */
export const MAX_TEXT_LENGTH = 1000;

/** How a wait for approval ended. `by`: who approved (approved) or denied (denied); empty otherwise. */
export interface ApprovalOutcome {
  status: 'approved' | 'denied' | 'expired' | 'cancelled';
  by: string[];
  comment?: string;
  reason?: string;
}

/** What the data path hands in when a policy holds a statement for approval. */
export interface StatementApprovalInput {
  sessionId: string;
  subject: Subject;
  target: string;
  statement: string;
  classes: string[];
  reason: string | null;
  rule: string;
  requirement: ApprovalRequirement;
}

/** One change to a pending request: the next record, a grant to store with it, an error to throw once stored. */
export interface Change {
  next: ApprovalRequest;
  grant?: GrantRecord;
  error?: WardenError;
}

/** Filters of ApprovalService.list: `status` may also be `all`. */
export interface ApprovalListFilter {
  status?: string;
  kind?: string;
  limit?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const badRequest = (message: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', message);

/** The refusal of a decision on a request that is no longer pending. */
export function notPending(r: ApprovalRequest): WardenError {
  return new WardenError('WARDEN_ERR_CONFLICT', `approval request ${r.id} is already ${r.status}`);
}

/** A fresh random id with a type prefix (`apr_`, `grt_`). */
export function newId(prefix: 'apr' | 'grt'): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

/** True for a whole number of seconds from 1 to `max`. */
export function isSeconds(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= max;
}

/** Validates an approval requirement from a policy; a requirement nobody could satisfy is refused up front. */
function checkRequirement(r: ApprovalRequirement): void {
  if (!Number.isSafeInteger(r.count) || r.count < 1) throw badRequest('approval count must be a positive integer');
  if (!Number.isSafeInteger(r.timeoutSeconds) || r.timeoutSeconds < 1) throw badRequest('approval timeout must be positive');
  if (r.groups.length === 0 && r.users.length === 0) throw badRequest('an approval requirement must name groups or users');
}

/** The pending record of a held statement. */
export function statementRequest(input: StatementApprovalInput, now: number): ApprovalRequest {
  const { subject, requirement } = input;
  checkRequirement(requirement);
  return {
    id: newId('apr'), kind: 'statement', status: 'pending', requester: subject.id, requesterKind: subject.kind,
    requesterGroups: [...subject.groups], chain: subject.chain.map((a) => ({ id: a.id, kind: a.kind })),
    sessionId: input.sessionId, target: input.target, statement: input.statement, classes: [...new Set(input.classes)].sort(),
    reason: input.reason, rule: input.rule,
    approvers: { groups: [...requirement.groups], users: [...requirement.users], count: requirement.count },
    timeoutSeconds: requirement.timeoutSeconds, accessSeconds: null,
    createdAt: iso(now), expiresAt: iso(now + requirement.timeoutSeconds * 1000), decidedAt: null, decisions: [],
    statusReason: null,
  };
}

/** The pending record of a request for access to a target; administrators decide it. */
export function accessRequest(subject: Subject, target: string, accessSeconds: number, reason: string, now: number): ApprovalRequest {
  if (!isSeconds(accessSeconds, MAX_ACCESS_SECONDS)) {
    throw badRequest(`access duration must be from 1 second to ${MAX_ACCESS_SECONDS / 3600} hours`);
  }
  const why = typeof reason === 'string' ? reason.trim() : '';
  if (why.length === 0 || why.length > 500) throw badRequest('a reason of 1 to 500 characters is required');
  if (typeof target !== 'string' || target.length === 0) throw badRequest('a target is required');
  return {
    id: newId('apr'), kind: 'access', status: 'pending', requester: subject.id, requesterKind: subject.kind,
    requesterGroups: [...subject.groups], chain: subject.chain.map((a) => ({ id: a.id, kind: a.kind })),
    sessionId: null, target, statement: null, classes: [], reason: why, rule: null,
    approvers: { groups: [ADMIN_GROUP], users: [], count: 1 },
    timeoutSeconds: ACCESS_REQUEST_TIMEOUT_SECONDS, accessSeconds,
    createdAt: iso(now), expiresAt: iso(now + ACCESS_REQUEST_TIMEOUT_SECONDS * 1000), decidedAt: null, decisions: [],
    statusReason: null,
  };
}

/** A request moved to a final status without a decision (expired, cancelled). */
export function finished(request: ApprovalRequest, status: ApprovalStatus, reason: string, now: number): ApprovalRequest {
  return { ...request, status, statusReason: reason, decidedAt: iso(now) };
}

/** The expired form of a pending request. */
export function expired(request: ApprovalRequest, now: number): ApprovalRequest {
  return finished(request, 'expired', `no decision within ${request.timeoutSeconds}s`, now);
}

/** Runs a decision unless the request is already past due: then it is expired (stored) and the decision refused. */
export function unlessDue(current: ApprovalRequest, now: number, decide: () => Change): Change {
  if (!isDue(current, now)) return decide();
  const next = expired(current, now);
  return { next, error: notPending(next) };
}

/** Checks an optional comment: trimmed, at most MAX_TEXT_LENGTH characters, undefined when empty. */
export function cleanComment(comment: string | undefined): string | undefined {
  if (comment === undefined) return undefined;
  if (typeof comment !== 'string' || comment.length > MAX_TEXT_LENGTH) {
    throw badRequest(`a comment must be at most ${MAX_TEXT_LENGTH} characters`);
  }
  return comment.trim() || undefined;
}

/** Turns list filters into a store query; unknown values are WARDEN_ERR_BAD_REQUEST, `all` means any status. */
export function toQuery(filter: ApprovalListFilter): ApprovalQuery {
  const query: ApprovalQuery = {};
  if (filter.status !== undefined && filter.status !== 'all') {
    if (!APPROVAL_STATUSES.includes(filter.status as ApprovalStatus)) {
      throw badRequest(`status must be one of: ${APPROVAL_STATUSES.join(', ')}, all`);
    }
    query.status = filter.status as ApprovalStatus;
  }
  if (filter.kind !== undefined) {
    if (!APPROVAL_KINDS.includes(filter.kind as ApprovalKind)) throw badRequest(`kind must be one of: ${APPROVAL_KINDS.join(', ')}`);
    query.kind = filter.kind as ApprovalKind;
  }
  if (filter.limit !== undefined) query.limit = filter.limit;
  return query;
}

/** True when a still-pending request is past its expiry at `now`. */
export function isDue(request: ApprovalRequest, now: number): boolean {
  return request.status === 'pending' && Date.parse(request.expiresAt) <= now;
}

/**
 * The grant an approved request leaves behind, if any. Access requests always grant access for `accessSeconds`.
 * A statement request grants a window only when every approver asked for one, for the shortest asked: with two
 * approvers required, one of them alone must not be able to waive the second approval for later statements.
 */
export function grantFor(request: ApprovalRequest, now: number): GrantRecord | undefined {
  const approvals = request.decisions.filter((d) => d.decision === 'approve');
  let seconds: number | undefined;
  if (request.kind === 'access') seconds = request.accessSeconds ?? undefined;
  else if (approvals.length > 0 && approvals.every((d) => d.windowSeconds !== undefined)) {
    seconds = Math.min(...approvals.map((d) => d.windowSeconds!));
  }
  if (seconds === undefined) return undefined;
  return {
    // Keyed by the requester with its delegation origin, so another principal of the same name cannot use it.
    id: newId('grt'), kind: request.kind, subject: principalKey(request.requester, request.chain), target: request.target,
    classes: request.kind === 'access' ? [] : [...request.classes], requestId: request.id,
    grantedBy: approvals.map((d) => d.by), createdAt: iso(now), expiresAt: iso(now + seconds * 1000), revokedAt: null,
  };
}

/** Adds one (already authorized) decision: a deny ends the request, enough approvals approve it. */
export function withDecision(request: ApprovalRequest, decision: ApprovalDecision, now: number): Change {
  const next: ApprovalRequest = { ...request, decisions: [...request.decisions, decision] };
  if (decision.decision === 'deny') return { next: { ...next, status: 'denied', decidedAt: iso(now) } };
  const approvers = new Set(next.decisions.filter((d) => d.decision === 'approve').map((d) => d.by));
  if (approvers.size < request.approvers.count) return { next };
  const approved: ApprovalRequest = { ...next, status: 'approved', decidedAt: iso(now) };
  return { next: approved, grant: grantFor(approved, now) };
}

/** The outcome a waiting statement receives for a request in a final status. */
export function outcomeOf(request: ApprovalRequest): ApprovalOutcome {
  const status = request.status === 'pending' ? 'cancelled' : request.status;
  const wanted = status === 'approved' ? 'approve' : 'deny';
  const deciding = status === 'approved' || status === 'denied' ? request.decisions.filter((d) => d.decision === wanted) : [];
  const outcome: ApprovalOutcome = { status, by: deciding.map((d) => d.by) };
  const comment = deciding.map((d) => d.comment).filter((c): c is string => c !== undefined).at(-1);
  if (comment !== undefined) outcome.comment = comment;
  if (request.statusReason !== null) outcome.reason = request.statusReason;
  return outcome;
}
