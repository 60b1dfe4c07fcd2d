/**
 * `/api/tokens`: issue, list and revoke Warden tokens through the TokenService. The token text appears in exactly
 * one response (the one that issues it) and is never logged; listings show stored records only.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { parseDuration } from '../../identity/duration.js';
import type { ControlDeps } from '../app.js';
import { requireSubject } from '../auth.js';
import {
  authErrors,
  createTokenBody,
  errorSchema,
  issuedToken,
  revokeTokenBody,
  tokenRecord,
  type CreateTokenBody,
  type RevokeTokenBody,
} from '../schemas.js';

/** Body of `POST /api/tokens/delegate`. */
interface DelegateBody {
  to: string;
  targets?: string[];
  classes?: string[];
  groups?: string[];
  ttl?: string;
}

const list = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 256 } } as const;
const delegateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['to'],
  properties: {
    to: { type: 'string', minLength: 1, maxLength: 256, description: 'the sub-agent (an agent with a name of its own); it connects with user=<to>' },
    targets: { ...list, description: 'each must lie inside the caller\'s own target patterns' },
    classes: { ...list, description: 'statement classes the sub-agent may run (a subset of the caller\'s)' },
    groups: { ...list, description: 'a subset of the caller\'s groups (default: all of them)' },
    ttl: { type: 'string', description: 'lifetime, e.g. 10m; never beyond the caller\'s own token' },
  },
} as const;

/** Picks the one identifier of a revoke request; both or neither is a client error worth a clear sentence. */
export function revokeTarget(body: RevokeTokenBody): { by: 'id' | 'token'; value: string } {
  const hasId = body.id !== undefined;
  const hasToken = body.token !== undefined;
  if (hasId === hasToken) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'give exactly one of "id" and "token"');
  }
  return hasId ? { by: 'id', value: body.id! } : { by: 'token', value: body.token! };
}

/**
 * Revokes through the kill switch (the token, every token delegated from it, and their live sessions). A bad token
 * in the body is the request's fault, not a failed login of the caller.
 */
async function revoke(deps: ControlDeps, body: RevokeTokenBody, by: string | undefined) {
  const { by: kind, value } = revokeTarget(body);
  try {
    const { record, sessions } = await deps.killSwitch.revokeToken(value, { letStatementsFinish: body.letStatementsFinish, by });
    return { ...record, sessionsEnded: sessions };
  } catch (err) {
    if (err instanceof WardenError && err.kind === 'unauthenticated') {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `cannot revoke: ${err.callerMessage}`, { cause: err });
    }
    if (err instanceof WardenError && err.kind === 'not_found' && kind === 'id') {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', `token ${value} not found`, { cause: err });
    }
    throw err;
  }
}

/** Registers the token routes (under the `/api` prefix). */
export function tokenRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['tokens'];

    app.post<{ Body: CreateTokenBody }>(
      '/tokens',
      { schema: { tags, summary: 'Issue a token', body: createTokenBody, response: { 201: issuedToken, ...authErrors } } },
      async (request, reply) => {
        const body = request.body;
        const issued = await deps.tokens.issue({
          subject: body.user,
          kind: body.kind,
          groups: body.groups,
          targets: body.targets,
          ttlSeconds: parseDuration(body.ttl),
        });
        const r = issued.record;
        request.log.info({ tokenId: issued.id, subject: r.subject, by: request.subject?.id }, 'token issued');
        return reply.code(201).send({
          token: issued.token,
          id: issued.id,
          expiresAt: issued.expiresAt,
          user: r.subject,
          kind: r.subjectKind,
          groups: r.groups,
          targets: r.targets,
        });
      },
    );

    app.get(
      '/tokens',
      { schema: { tags, summary: 'List issued tokens', response: { 200: { type: 'array', items: tokenRecord }, ...authErrors } } },
      async () => {
        const records = await deps.store.tokens.list();
        return records.sort((a, b) => b.issuedAt.localeCompare(a.issuedAt)); // newest first, whatever the store's order
      },
    );

    app.post<{ Body: RevokeTokenBody }>(
      '/tokens/revoke',
      { schema: { tags, summary: 'Revoke a token by id or by its text', body: revokeTokenBody, response: { 200: tokenRecord, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const record = await revoke(deps, request.body, request.subject?.id);
        request.log.info({ tokenId: record.id, by: request.subject?.id, revoked: record.revokedIds.length,
          sessionsEnded: record.sessionsEnded.length }, 'token revoked');
        return record;
      },
    );

    app.post<{ Body: DelegateBody }>(
      '/tokens/delegate',
      {
        // Any valid token may delegate: the new token is only ever narrower than the caller's own.
        config: { auth: 'authenticated' },
        schema: { tags, summary: 'Mint a narrower token for a sub-agent (RFC 8693 delegation; the chain goes in `act`)',
          body: delegateBody, response: { 201: issuedToken, ...authErrors } },
      },
      async (request, reply) => {
        const parent = requireSubject(request);
        const body = request.body;
        const issued = await deps.tokens.delegate(parent, {
          to: body.to, targets: body.targets, classes: body.classes, groups: body.groups,
          ttlSeconds: body.ttl === undefined ? undefined : parseDuration(body.ttl),
        });
        const r = issued.record;
        request.log.info({ tokenId: issued.id, parent: parent.tokenId, subject: r.subject, chain: r.chain.map((a) => a.id) },
          'token delegated');
        return reply.code(201).send({
          token: issued.token, id: issued.id, expiresAt: issued.expiresAt, user: r.subject, kind: r.subjectKind,
          groups: r.groups, targets: r.targets, chain: r.chain, classes: r.classes,
        });
      },
    );
  };
}
