/**
 * JSON Schemas of the approval routes, with the TypeScript types of the bodies they describe. Fastify validates
 * requests with them, serializes responses with them (a field not listed here never reaches a client) and
 * @fastify/swagger turns them into OpenAPI. They are inline rather than shared components so the approvals feature
 * stays in its own files. Data only: no behaviour.
 */
import { APPROVAL_KINDS, APPROVAL_STATUSES } from '../../store/approval-types.js';

const PRINCIPAL_KINDS = ['user', 'service', 'agent'] as const;
const timestamp = { type: 'string', description: 'ISO-8601 timestamp in UTC' } as const;
const nullableTimestamp = { type: ['string', 'null'], description: 'ISO-8601 timestamp in UTC' } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;
const duration = { type: 'string', minLength: 1, maxLength: 32, description: 'e.g. 90s, 30m, 1h, 1h30m' } as const;

/** An approval request as the API returns it. */
export const approvalRequestSchema = {
  type: 'object',
  required: ['id', 'kind', 'status', 'requester', 'requesterKind', 'requesterGroups', 'chain', 'sessionId', 'target',
    'statement', 'classes', 'reason', 'rule', 'approvers', 'timeoutSeconds', 'accessSeconds', 'createdAt', 'expiresAt',
    'decidedAt', 'decisions', 'statusReason'],
  properties: {
    id: { type: 'string', description: '`apr_` followed by random characters' },
    kind: { type: 'string', enum: APPROVAL_KINDS },
    status: { type: 'string', enum: APPROVAL_STATUSES },
    requester: { type: 'string' },
    requesterKind: { type: 'string', enum: PRINCIPAL_KINDS },
    requesterGroups: strings,
    chain: {
      type: 'array',
      description: 'who acts on behalf of whom, outermost first',
      items: { type: 'object', required: ['id', 'kind'], properties: { id: { type: 'string' }, kind: { type: 'string' } } },
    },
    sessionId: { type: ['string', 'null'] },
    target: { type: 'string' },
    statement: { type: ['string', 'null'], description: 'the held statement; null for access requests' },
    classes: strings,
    reason: { type: ['string', 'null'] },
    rule: { type: ['string', 'null'], description: '`policy/rule` that asked for approval' },
    approvers: {
      type: 'object',
      required: ['groups', 'users', 'count'],
      properties: { groups: strings, users: strings, count: { type: 'integer' } },
    },
    timeoutSeconds: { type: 'integer' },
    accessSeconds: { type: ['integer', 'null'], description: 'access requests: how long access lasts once approved' },
    createdAt: timestamp,
    expiresAt: { ...timestamp, description: 'when the request expires if still pending' },
    decidedAt: nullableTimestamp,
    decisions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['by', 'decision', 'at'],
        properties: {
          by: { type: 'string' },
          decision: { type: 'string', enum: ['approve', 'deny'] },
          comment: { type: 'string' },
          at: timestamp,
          windowSeconds: { type: 'integer' },
        },
      },
    },
    statusReason: { type: ['string', 'null'] },
  },
} as const;

/** Query of `GET /api/approvals`. */
export interface ApprovalListQuery {
  status?: string;
  kind?: string;
  limit: number;
}

/** Schema of ApprovalListQuery; no `status` (or `all`) lists every status. */
export const approvalListQuery = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: [...APPROVAL_STATUSES, 'all'] },
    kind: { type: 'string', enum: APPROVAL_KINDS },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const;

/** Body of `POST /api/approvals/:id/approve`. */
export interface ApproveBody {
  comment?: string;
  window?: string;
}

/** Schema of ApproveBody. */
export const approveBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    comment: { type: 'string', maxLength: 1000 },
    window: { ...duration, description: 'statement requests: also let the requester run this same statement (other bound values allowed) on this target for this long (at most 24h)' },
  },
} as const;

/** Body of `POST /api/approvals/:id/deny`. */
export interface DenyBody {
  comment?: string;
}

/** Schema of DenyBody. */
export const denyBody = {
  type: 'object',
  additionalProperties: false,
  properties: { comment: { type: 'string', maxLength: 1000 } },
} as const;

/** Body of `POST /api/access-requests`. */
export interface AccessRequestBody {
  target: string;
  duration: string;
  reason: string;
}

/** Schema of AccessRequestBody. */
export const accessRequestBody = {
  type: 'object',
  additionalProperties: false,
  required: ['target', 'duration', 'reason'],
  properties: {
    target: { type: 'string', minLength: 1, maxLength: 255 },
    duration: { ...duration, description: 'how long access should last once approved, at most 24h' },
    reason: { type: 'string', minLength: 1, maxLength: 500, description: 'why access is needed, for the approvers' },
  },
} as const;
