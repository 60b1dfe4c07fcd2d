/**
 * Bearer authentication and authorization of control API requests. Every route is authenticated and needs the admin
 * group unless its config says `auth: 'public'` (no token) or `auth: 'authenticated'` (any valid token; the handler
 * checks what the caller may do, e.g. approvals); finer roles can be added through the same `auth` config.
 * This module must never log or echo the token, and must fail closed: a route that forgets its config is admin-only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardenError } from '../errors.js';
import { ADMIN_GROUP, type TokenService } from '../identity/tokens.js';
import type { Subject } from '../session/types.js';
import { tokenFromCookieHeader } from './portal-cookie.js';

/**
 * Who may call a route: anyone (`public`), any caller with a valid Warden token whatever its groups
 * (`authenticated`: the handler decides with `request.subject`), or members of the admin group (`admin`, the default).
 */
export type RouteAuth = 'public' | 'authenticated' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; absent means `admin`. */
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** The verified caller; set on every authenticated route before its handler runs. */
    subject?: Subject;
  }
}

/** Extracts the token of an `Authorization: Bearer <token>` header; throws when it is missing or malformed. */
export function bearerToken(header: string | undefined): string {
  if (!header) {
    throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'missing bearer token: send "Authorization: Bearer <token>"');
  }
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) {
    throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
  }
  return match[1];
}

/** Returns the verified subject of a request that passed the auth hook (throws if the route was public). */
export function requireSubject(request: FastifyRequest): Subject {
  if (!request.subject) throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'this request is not authenticated');
  return request.subject;
}

/** Installs the authentication hook on the root instance, so it covers every route registered anywhere. */
export function installAuth(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('subject', undefined);
  app.addHook('onRequest', async (request) => {
    // Unknown routes get their 404 without a token: the OpenAPI document already lists every route.
    if (request.is404) return;
    const auth = request.routeOptions.config.auth ?? 'admin';
    if (auth === 'public') return;
    // The portal's cookie stands in for a bearer header on safe methods only, so a cross-site form cannot act with it.
    const cookieToken = request.headers.authorization === undefined && (request.method === 'GET' || request.method === 'HEAD')
      ? tokenFromCookieHeader(request.headers.cookie) : undefined;
    const subject = await tokens.verify(cookieToken ?? bearerToken(request.headers.authorization));
    request.subject = subject;
    if (auth === 'authenticated') return;
    if (!subject.groups.includes(ADMIN_GROUP)) {
      throw new WardenError('WARDEN_ERR_FORBIDDEN', `this operation needs membership in the ${ADMIN_GROUP} group`);
    }
    // A delegated token is narrowed (targets, classes); administering Warden would let it mint itself a wider one.
    if (subject.chain.length > 0) {
      throw new WardenError('WARDEN_ERR_FORBIDDEN', 'a delegated token cannot administer Warden');
    }
  });
}
