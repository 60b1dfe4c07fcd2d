/**
 * `/api/tokens`: issue, list and revoke Warden tokens through the TokenService. The token text appears in exactly
 * one response (the one that issues it) and is never logged; listings show stored records only.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { parseDuration } from '../../identity/duration.js';
import type { ControlDeps } from '../app.js';
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

/** Picks the one identifier of a revoke request; both or neither is a client error worth a clear sentence. */
export function revokeTarget(body: RevokeTokenBody): { by: 'id' | 'token'; value: string } {
  const hasId = body.id !== undefined;
  const hasToken = body.token !== undefined;
  if (hasId === hasToken) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'give exactly one of "id" and "token"');
  }
  return hasId ? { by: 'id', value: body.id! } : { by: 'token', value: body.token! };
}

/** Revokes through the service. A bad token in the body is the request's fault, not a failed login of the caller. */
async function revoke(deps: ControlDeps, body: RevokeTokenBody) {
  const { by, value } = revokeTarget(body);
  try {
    return await deps.tokens.revoke(value);
  } catch (err) {
    if (err instanceof WardenError && err.kind === 'unauthenticated') {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `cannot revoke: ${err.callerMessage}`, { cause: err });
    }
    if (err instanceof WardenError && err.kind === 'not_found' && by === 'id') {
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
        const record = await revoke(deps, request.body);
        request.log.info({ tokenId: record.id, by: request.subject?.id }, 'token revoked');
        return record;
      },
    );
  };
}
