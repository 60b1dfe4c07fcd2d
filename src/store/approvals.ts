/**
 * The approval repository of approval-types.ts over kysely, shared by every dialect, with the translation between
 * records and rows of `approval_requests` and `approval_grants` (migrations 003_approvals, 009_statement_windows). Decisions on a pending
 * request are written with a compare-and-set on (status, decision_count), so two approvers or two replicas can never
 * both move the same request. Like repositories.ts, it must never open connections or know which database it talks
 * to; every operation runs inside the store's `guard` (handed in), so failures surface as
 * WARDEN_ERR_STORE_UNAVAILABLE and a closed store refuses work.
 */
import type { Kysely } from 'kysely';
import { WardenError } from '../errors.js';
import type { Actor, PrincipalKind } from '../session/types.js';
import type {
  ApprovalDecision, ApprovalKind, ApprovalQuery, ApprovalRepository, ApprovalRequest, ApprovalStatus, ApproverSpec,
  GrantRecord,
} from './approval-types.js';

/** `approval_requests`: JSON-shaped fields are TEXT holding JSON; `decision_count` backs the compare-and-set. */
export interface ApprovalRequestsTable {
  id: string;
  kind: string;
  status: string;
  requester: string;
  requester_kind: string;
  requester_groups: string;
  chain: string;
  session_id: string | null;
  target: string;
  statement: string | null;
  statement_key: string | null;
  statement_recorded: string | null;
  classes: string;
  reason: string | null;
  rule: string | null;
  approvers: string;
  timeout_seconds: number;
  access_seconds: number | null;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decisions: string;
  decision_count: number;
  status_reason: string | null;
}

/** `approval_grants`: windows and access left behind by approvals. */
export interface ApprovalGrantsTable {
  id: string;
  kind: string;
  subject: string;
  target: string;
  classes: string;
  statement_key: string | null;
  request_id: string;
  granted_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** The tables of this repository, merged into the store's Database type with `withTables`. */
export type ApprovalTables = {
  approval_requests: ApprovalRequestsTable;
  approval_grants: ApprovalGrantsTable;
};

/** Runs one operation under the store's failure mapping and closed check (repositories.ts `guard`). */
export type ApprovalGuard = <T>(op: string, fn: () => Promise<T>) => Promise<T>;

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** Parses a JSON column, insisting on the expected shape so a corrupt row cannot pass as data. */
function parse<T>(text: string, column: string, shape: 'array' | 'object'): T {
  const value: unknown = JSON.parse(text);
  const ok = shape === 'array' ? Array.isArray(value) : value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!ok) throw new Error(`column ${column} does not hold a JSON ${shape}`);
  return value as T;
}

/** A request record as a row. */
export function requestToRow(r: ApprovalRequest): ApprovalRequestsTable {
  return {
    id: r.id, kind: r.kind, status: r.status, requester: r.requester, requester_kind: r.requesterKind,
    requester_groups: JSON.stringify(r.requesterGroups), chain: JSON.stringify(r.chain), session_id: r.sessionId,
    target: r.target, statement: r.statement, statement_key: r.statementKey ?? null, statement_recorded: r.recordedStatement ?? null,
    classes: JSON.stringify(r.classes), reason: r.reason, rule: r.rule,
    approvers: JSON.stringify(r.approvers), timeout_seconds: r.timeoutSeconds, access_seconds: r.accessSeconds,
    created_at: r.createdAt, expires_at: r.expiresAt, decided_at: r.decidedAt, decisions: JSON.stringify(r.decisions),
    decision_count: r.decisions.length, status_reason: r.statusReason,
  };
}

/** An `approval_requests` row as a record. */
export function requestFromRow(r: ApprovalRequestsTable): ApprovalRequest {
  return {
    id: r.id, kind: r.kind as ApprovalKind, status: r.status as ApprovalStatus, requester: r.requester,
    requesterKind: r.requester_kind as PrincipalKind,
    requesterGroups: parse<string[]>(r.requester_groups, 'approval_requests.requester_groups', 'array'),
    chain: parse<Actor[]>(r.chain, 'approval_requests.chain', 'array'), sessionId: r.session_id, target: r.target,
    statement: r.statement, statementKey: r.statement_key ?? null, recordedStatement: r.statement_recorded ?? null,
    classes: parse<string[]>(r.classes, 'approval_requests.classes', 'array'),
    reason: r.reason, rule: r.rule, approvers: parse<ApproverSpec>(r.approvers, 'approval_requests.approvers', 'object'),
    timeoutSeconds: Number(r.timeout_seconds), accessSeconds: r.access_seconds === null ? null : Number(r.access_seconds),
    createdAt: r.created_at, expiresAt: r.expires_at, decidedAt: r.decided_at,
    decisions: parse<ApprovalDecision[]>(r.decisions, 'approval_requests.decisions', 'array'),
    statusReason: r.status_reason,
  };
}

/** A grant record as a row. */
export function grantToRow(g: GrantRecord): ApprovalGrantsTable {
  return {
    id: g.id, kind: g.kind, subject: g.subject, target: g.target, classes: JSON.stringify(g.classes),
    statement_key: g.statementKey ?? null,
    request_id: g.requestId, granted_by: JSON.stringify(g.grantedBy), created_at: g.createdAt,
    expires_at: g.expiresAt, revoked_at: g.revokedAt,
  };
}

/** An `approval_grants` row as a record. */
export function grantFromRow(r: ApprovalGrantsTable): GrantRecord {
  return {
    id: r.id, kind: r.kind as ApprovalKind, subject: r.subject, target: r.target,
    classes: parse<string[]>(r.classes, 'approval_grants.classes', 'array'), statementKey: r.statement_key ?? null,
    requestId: r.request_id,
    grantedBy: parse<string[]>(r.granted_by, 'approval_grants.granted_by', 'array'), createdAt: r.created_at,
    expiresAt: r.expires_at, revokedAt: r.revoked_at,
  };
}

/** True for a primary-key violation on SQLite (better-sqlite3) or PostgreSQL (SQLSTATE 23505). */
function isDuplicate(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** Validates a list limit: an integer from 1 to 1000, 100 when absent. */
function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return limit;
}

/** Builds the ApprovalRepository over the store's Kysely instance; `run` is the store's guard. */
export function approvalRepository(base: Kysely<any>, run: ApprovalGuard): ApprovalRepository {
  const db = base.withTables<ApprovalTables>() as unknown as Kysely<ApprovalTables>;
  return {
    insert: (request) =>
      run('approvals.insert', async () => {
        try {
          await db.insertInto('approval_requests').values(requestToRow(request)).execute();
        } catch (err) {
          if (isDuplicate(err)) throw new WardenError('WARDEN_ERR_CONFLICT', `approval request "${request.id}" already exists`);
          throw err;
        }
      }),
    get: (id) =>
      run('approvals.get', async () => {
        const row = await db.selectFrom('approval_requests').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : requestFromRow(row);
      }),
    list: (query: ApprovalQuery = {}) =>
      run('approvals.list', async () => {
        let q = db.selectFrom('approval_requests').selectAll();
        if (query.status !== undefined) q = q.where('status', '=', query.status);
        if (query.kind !== undefined) q = q.where('kind', '=', query.kind);
        const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(listLimit(query.limit)).execute();
        return rows.map(requestFromRow);
      }),
    pending: () =>
      run('approvals.pending', async () =>
        (await db.selectFrom('approval_requests').selectAll().where('status', '=', 'pending').orderBy('created_at')
          .execute()).map(requestFromRow)),
    updatePending: (next, expectedDecisions, grant) =>
      run('approvals.updatePending', () =>
        db.transaction().execute(async (trx) => {
          const { id, ...row } = requestToRow(next);
          const result = await trx.updateTable('approval_requests').set(row).where('id', '=', id)
            .where('status', '=', 'pending').where('decision_count', '=', expectedDecisions).executeTakeFirst();
          if (Number(result.numUpdatedRows) !== 1) return false;
          if (grant !== undefined) await trx.insertInto('approval_grants').values(grantToRow(grant)).execute();
          return true;
        })),
    activeGrants: ({ kind, subject, target, at }) =>
      run('approvals.activeGrants', async () =>
        (await db.selectFrom('approval_grants').selectAll().where('subject', '=', subject).where('target', '=', target)
          .where('kind', '=', kind).where('expires_at', '>', at).where('revoked_at', 'is', null)
          .orderBy('created_at', 'desc').execute()).map(grantFromRow)),
    grantsFor: (requestId) =>
      run('approvals.grantsFor', async () =>
        (await db.selectFrom('approval_grants').selectAll().where('request_id', '=', requestId).orderBy('created_at')
          .execute()).map(grantFromRow)),
  };
}
