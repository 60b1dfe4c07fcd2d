/**
 * The store's contract for just-in-time approvals: approval requests (a held statement, or a request for access to
 * a target), the grants an approval leaves behind (a time window for one statement, or access to a target) and
 * the repository that keeps both. Types plus two constant lists (statuses, kinds); types.ts re-exports the types
 * so callers keep one import path (import the constants from here).
 * Timestamps are ISO-8601 strings in UTC, like every other record of the store.
 */
import type { Actor, PrincipalKind } from '../session/types.js';

/** What an approval request asks for: running one held statement, or access to a target for a while. */
export type ApprovalKind = 'statement' | 'access';

/** Where a request is in its life. Only `pending` ever changes; the four others are final. */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

/** Every status, for validation and CLI choices. */
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'cancelled'];

/** Every kind of request. */
export const APPROVAL_KINDS: readonly ApprovalKind[] = ['statement', 'access'];

/** One approver's decision on a request, in the order they were given. */
export interface ApprovalDecision {
  by: string;
  decision: 'approve' | 'deny';
  comment?: string;
  at: string;
  /** Statement requests: the approver also grants a time window of this length once the request is approved. */
  windowSeconds?: number;
}

/** Who may approve a request and how many distinct approvers it needs. */
export interface ApproverSpec {
  groups: string[];
  users: string[];
  count: number;
}

/** A request for a human decision. */
export interface ApprovalRequest {
  /** `apr_` followed by random characters. */
  id: string;
  kind: ApprovalKind;
  status: ApprovalStatus;
  /** The subject id of whoever asked (the caller of the held statement, or the user asking for access). */
  requester: string;
  requesterKind: PrincipalKind;
  requesterGroups: string[];
  /** The requester's delegation chain, outermost first; nobody in it may decide the request. */
  chain: Actor[];
  /** The session holding the statement; null for access requests. */
  sessionId: string | null;
  target: string;
  /** The held statement text as the approver sees it (bound values included); null for access requests. */
  statement: string | null;
  /**
   * Statement requests: the key of the statement the server runs (session/approval-wait.ts); a window the approval
   * grants covers only statements with this key. Absent on requests stored before it existed: their windows cover
   * nothing.
   */
  statementKey?: string | null;
  /** Statement requests: the statement as recordings keep it (literals and values redacted), for notifications. */
  recordedStatement?: string | null;
  classes: string[];
  reason: string | null;
  /** The `policy/rule` that asked for approval; null for access requests. */
  rule: string | null;
  approvers: ApproverSpec;
  timeoutSeconds: number;
  /** Access requests: how long access lasts once approved; null for statement requests. */
  accessSeconds: number | null;
  createdAt: string;
  /** When a still-pending request expires. */
  expiresAt: string;
  /** When the request reached its final status; null while pending. */
  decidedAt: string | null;
  decisions: ApprovalDecision[];
  /** Why it ended when no approver decided (expired, cancelled); null otherwise. */
  statusReason: string | null;
}

/** What an approval left behind: a window for one statement (its text and classes), or access to a target. */
export interface GrantRecord {
  /** `grt_` followed by random characters. */
  id: string;
  kind: ApprovalKind;
  /** The subject id the grant is for. */
  subject: string;
  target: string;
  /** Statement grants: the classes covered; access grants: empty. */
  classes: string[];
  /** Statement grants: the key of the one statement covered (null or absent: none). Access grants: null. */
  statementKey?: string | null;
  requestId: string;
  grantedBy: string[];
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

/** Filters for listing requests, newest first. */
export interface ApprovalQuery {
  status?: ApprovalStatus;
  kind?: ApprovalKind;
  /** 1..1000, default 100. */
  limit?: number;
}

/** Approval requests and grants. */
export interface ApprovalRepository {
  /** Inserts a new request; WARDEN_ERR_CONFLICT when the id exists. */
  insert(request: ApprovalRequest): Promise<void>;
  get(id: string): Promise<ApprovalRequest | undefined>;
  /** Newest first; `limit` defaults to 100 and must be 1..1000 (else WARDEN_ERR_BAD_REQUEST). */
  list(query?: ApprovalQuery): Promise<ApprovalRequest[]>;
  /** Every pending request, oldest first (startup recovery; there are few). */
  pending(): Promise<ApprovalRequest[]>;
  /**
   * Replaces a pending request with `next`, but only while the stored one is still pending with exactly
   * `expectedDecisions` decisions (compare-and-set: two approvers or two replicas can never both win). `grant`, when
   * given, is inserted in the same transaction. Returns false, changing nothing, when the stored request moved on.
   */
  updatePending(next: ApprovalRequest, expectedDecisions: number, grant?: GrantRecord): Promise<boolean>;
  /** Grants of `kind` for `subject` on `target` that are unrevoked and expire after `at`, newest first. */
  activeGrants(query: { kind: ApprovalKind; subject: string; target: string; at: string }): Promise<GrantRecord[]>;
  /** The grants a request left behind. */
  grantsFor(requestId: string): Promise<GrantRecord[]>;
}
