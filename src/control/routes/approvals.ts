/**
 * `/api/approvals` and `/api/access-requests`: list, show, approve and deny approval requests, and ask for access to
 * a target. Unlike the admin routes these take any valid Warden token (`auth: 'authenticated'`): approvers are
 * ordinary members of groups like `dba`, and access requesters are ordinary users. What a caller may see is decided
 * here (eligibility.canView: a request the caller may not see is a 404 to list and show). A caller who names a
 * request's full id to approve or deny it, but may not decide it, is told so with who may (a 403): the id is 128
 * random bits handed out in the caller's NOTICE and the approvers' notifications, so holding it already proves the
 * caller was told about the request, and the answer names only the approvers, never the statement. What a caller
 * may decide is the ApprovalService's job. It must never change a request except through the service.
 */
import type { FastifyPluginAsync } from 'fastify';
import { canView, neededApprovers, type DecisionKind } from '../../approvals/eligibility.js';
import { MAX_ACCESS_SECONDS } from '../../approvals/records.js';
import { WardenError } from '../../errors.js';
import { parseDuration } from '../../identity/duration.js';
import { ADMIN_GROUP } from '../../identity/tokens.js';
import type { Subject } from '../../session/types.js';
import type { ApprovalRequest } from '../../store/types.js';
import type { ControlDeps } from '../app.js';
import { requireSubject } from '../auth.js';
import { authErrors, errorSchema, idParams } from '../schemas.js';
import {
  accessRequestBody, approvalListQuery, approvalRequestSchema, approveBody, denyBody,
  type AccessRequestBody, type ApprovalListQuery, type ApproveBody, type DenyBody,
} from './approvals-schemas.js';

/** The request `id` when `subject` may see it; WARDEN_ERR_NOT_FOUND otherwise (also when it does not exist). */
async function visibleRequest(deps: ControlDeps, id: string, subject: Subject): Promise<ApprovalRequest> {
  const request = await deps.approvals.get(id);
  if (request === undefined || !canView(request, subject)) {
    throw new WardenError('WARDEN_ERR_NOT_FOUND', `approval request ${id.slice(0, 64)} not found`);
  }
  return request;
}

/**
 * Checks a decision's request exists before the service judges the decider: a caller who may not even see it is
 * no eligible approver, and hears who is (instead of a 404 that reads as a typo in the id).
 */
async function requestToDecide(deps: ControlDeps, id: string, subject: Subject, decision: DecisionKind): Promise<void> {
  const request = await deps.approvals.get(id);
  if (request === undefined) throw new WardenError('WARDEN_ERR_NOT_FOUND', `approval request ${id.slice(0, 64)} not found`);
  if (!canView(request, subject)) {
    throw new WardenError('WARDEN_ERR_FORBIDDEN', `you are not an eligible approver of approval request ${request.id}: ` +
      `${decision === 'approve' ? 'approval' : 'denial'} needs ${neededApprovers(request)}`);
  }
}

/** Lists what the caller may see; non-administrators get their visible share of the newest 1,000. */
async function listVisible(deps: ControlDeps, query: ApprovalListQuery, subject: Subject): Promise<ApprovalRequest[]> {
  const filter = { status: query.status, kind: query.kind };
  if (subject.groups.includes(ADMIN_GROUP)) return deps.approvals.list({ ...filter, limit: query.limit });
  const all = await deps.approvals.list({ ...filter, limit: 1000 });
  return all.filter((r) => canView(r, subject)).slice(0, query.limit);
}

/** An access duration: a parseDuration string of at most MAX_ACCESS_SECONDS. */
function accessSeconds(text: string): number {
  const seconds = parseDuration(text);
  if (seconds > MAX_ACCESS_SECONDS) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `duration must be at most ${MAX_ACCESS_SECONDS / 3600}h`);
  }
  return seconds;
}

/** Registers the approval and access-request routes (under the `/api` prefix), open to any valid token. */
export function approvalRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['approvals'];
    const config = { auth: 'authenticated' as const };
    const one = { 200: approvalRequestSchema, 404: errorSchema, ...authErrors };
    // A decision needs no body (`curl -X POST .../approve`): an absent one is validated as `{}`.
    const emptyBodyIsObject = async (request: { body: unknown }) => {
      if (request.body === undefined || request.body === null) request.body = {};
    };

    app.get<{ Querystring: ApprovalListQuery }>(
      '/approvals',
      { config, schema: { tags, summary: 'List approval requests the caller may see, newest first', querystring: approvalListQuery,
        response: { 200: { type: 'array', items: approvalRequestSchema }, ...authErrors } } },
      async (request) => listVisible(deps, request.query, requireSubject(request)),
    );

    app.get<{ Params: { id: string } }>(
      '/approvals/:id',
      { config, schema: { tags, summary: 'Show an approval request', params: idParams, response: one } },
      async (request) => visibleRequest(deps, request.params.id, requireSubject(request)),
    );

    app.post<{ Params: { id: string }; Body: ApproveBody }>(
      '/approvals/:id/approve',
      { config, preValidation: emptyBodyIsObject, schema: { tags, summary: 'Approve a request (optionally granting a time window)', params: idParams, body: approveBody,
        response: { ...one, 409: errorSchema } } },
      async (request) => {
        const subject = requireSubject(request);
        await requestToDecide(deps, request.params.id, subject, 'approve');
        const { comment, window } = request.body;
        const windowSeconds = window === undefined ? undefined : parseDuration(window);
        const updated = await deps.approvals.approve(request.params.id, subject, { comment, windowSeconds });
        request.log.info({ request: updated.id, by: subject.id, status: updated.status }, 'approval given');
        return updated;
      },
    );

    app.post<{ Params: { id: string }; Body: DenyBody }>(
      '/approvals/:id/deny',
      { config, preValidation: emptyBodyIsObject, schema: { tags, summary: 'Deny a request', params: idParams, body: denyBody, response: { ...one, 409: errorSchema } } },
      async (request) => {
        const subject = requireSubject(request);
        await requestToDecide(deps, request.params.id, subject, 'deny');
        const updated = await deps.approvals.deny(request.params.id, subject, request.body.comment);
        request.log.info({ request: updated.id, by: subject.id }, 'approval denied');
        return updated;
      },
    );

    app.post<{ Body: AccessRequestBody }>(
      '/access-requests',
      { config, schema: { tags, summary: 'Ask the administrators for access to a target for a while', body: accessRequestBody,
        response: { 201: approvalRequestSchema, 404: errorSchema, ...authErrors } } },
      async (request, reply) => {
        const subject = requireSubject(request);
        const { target, duration, reason } = request.body;
        const seconds = accessSeconds(duration);
        if ((await deps.store.targets.get(target)) === undefined) {
          throw new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target ${target} not found`);
        }
        const created = await deps.approvals.requestAccess(subject, target, seconds, reason);
        request.log.info({ request: created.id, requester: subject.id, target }, 'access requested');
        return reply.code(201).send(created);
      },
    );
  };
}
