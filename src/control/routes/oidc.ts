/**
 * OIDC sign-in routes, all public (they are how a person gets a token): the list of providers a person can sign in
 * with (`GET /api/auth/providers`, what `warden login` reads), the exchange of an id_token the CLI obtained for a
 * Warden token (`POST /api/auth/oidc/exchange`), and the portal's browser flow (`GET /auth/oidc/NAME/login` and
 * `.../callback`, which ends with the portal cookie set). The callback's URL carries the authorization code, so its
 * request is not logged (route log level `warn`); no route ever logs or echoes a code, a token or a secret.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { signInWithIdToken } from '../../identity/oidc.js';
import { beginPortalSignIn, finishPortalSignIn, PendingSignIns, PENDING_TTL_MS } from '../../identity/oidc-portal.js';
import type { IdentityProvider } from '../../identity/providers.js';
import type { ControlDeps } from '../app.js';
import { sendErrorPage } from '../html.js';
import { isSecureRequest, portalCookie } from '../portal-cookie.js';
import { errorSchema, nameParams } from '../schemas.js';

/** The cookie that ties a callback to the browser that started the sign-in. */
const STATE_COOKIE = 'warden_oidc_state';
const STATE_COOKIE_PATH = '/auth/oidc/';

const providerView = {
  type: 'object',
  required: ['name', 'type', 'loginUrl'],
  properties: {
    name: { type: 'string' }, type: { type: 'string', enum: ['oidc', 'saml'] }, description: { type: 'string' },
    loginUrl: { type: 'string', description: 'where a browser starts the portal sign-in' },
    issuer: { type: 'string' }, clientId: { type: 'string', description: 'the client `warden login` uses (cliClientId or clientId)' },
    scopes: { type: 'array', items: { type: 'string' } },
  },
} as const;

const exchangeBody = {
  type: 'object', required: ['idToken'], additionalProperties: false,
  properties: { idToken: { type: 'string', minLength: 1, maxLength: 16_384 } },
} as const;

const exchangeResponse = {
  type: 'object',
  required: ['token', 'expiresAt', 'user', 'groups'],
  properties: {
    token: { type: 'string' }, expiresAt: { type: 'string' }, user: { type: 'string' },
    groups: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** The public view of a provider: what a person (or `warden login`) needs to sign in with it. */
export function providerSignInView(p: IdentityProvider): Record<string, unknown> {
  const common = { name: p.name, type: p.type, ...(p.description ? { description: p.description } : {}),
    loginUrl: `/auth/${p.type}/${encodeURIComponent(p.name)}/login` };
  if (p.type !== 'oidc') return common;
  return { ...common, issuer: p.issuer, clientId: p.cliClientId ?? p.clientId, scopes: p.scopes };
}

/** The value of cookie `name` in a Cookie header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

const stateCookie = (value: string, maxAge: number, secure: boolean) =>
  `${STATE_COOKIE}=${value}; Path=${STATE_COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;

/** The callback URL of provider `name`: under `--public-url` when set, else as this request reached Warden. */
function callbackUrl(request: FastifyRequest, name: string, publicUrl: string | undefined): string {
  const base = publicUrl?.replace(/\/+$/, '') ?? `${request.protocol}://${request.host}`;
  return `${base}/auth/oidc/${encodeURIComponent(name)}/callback`;
}

/** Registers the OIDC routes (no prefix: they span `/api/auth` and `/auth`). */
export function oidcRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const pending = new PendingSignIns();
    const log = deps.logger.child({ component: 'oidc' });
    const tags = ['sign-in'];

    app.get('/api/auth/providers', {
      config: { auth: 'public' },
      schema: { tags, summary: 'Identity providers a person can sign in with', security: [],
        response: { 200: { type: 'array', items: providerView } } },
    }, async () => (await deps.signIn.list()).map(providerSignInView));

    app.post<{ Body: { idToken: string } }>('/api/auth/oidc/exchange', {
      config: { auth: 'public' },
      schema: { tags, summary: 'Exchange an OIDC id_token for a Warden token (what `warden login` does)', security: [],
        body: exchangeBody, response: { 200: exchangeResponse, 400: errorSchema, 401: errorSchema, 502: errorSchema } },
    }, async (request) => {
      const issued = await signInWithIdToken(deps.signIn, request.body.idToken);
      log.info({ user: issued.user.name, provider: issued.user.provider, tokenId: issued.id }, 'signed in with an id_token');
      return { token: issued.token, expiresAt: issued.expiresAt, user: issued.user.name, groups: issued.record.groups };
    });

    app.get<{ Params: { name: string } }>('/auth/oidc/:name/login', {
      config: { auth: 'public' },
      schema: { tags, summary: 'Start the portal sign-in (redirects to the provider)', security: [], params: nameParams,
        response: { 302: { description: 'Redirect to the identity provider', type: 'null' } } },
    }, async (request, reply) => {
      try {
        const { name } = request.params;
        const { url, state } = await beginPortalSignIn(deps.signIn, pending, name, callbackUrl(request, name, deps.publicUrl));
        return reply.header('set-cookie', stateCookie(state, PENDING_TTL_MS / 1000, isSecureRequest(request, deps.publicUrl)))
          .header('cache-control', 'no-store').redirect(url, 302);
      } catch (err) {
        return sendErrorPage(request, reply, err);
      }
    });

    app.get<{ Params: { name: string } }>('/auth/oidc/:name/callback', {
      config: { auth: 'public' },
      // The URL carries the authorization code: keep fastify's request lines (which show the URL) out of the log.
      logLevel: 'warn',
      schema: { tags, summary: 'Finish the portal sign-in (the provider redirects here)', security: [], params: nameParams,
        response: { 303: { description: 'Signed in: redirect to the portal with its cookie set', type: 'null' } } },
    }, async (request, reply) => {
      const secure = isSecureRequest(request, deps.publicUrl);
      // The state cookie is single use whatever happens (fastify appends further set-cookie headers).
      reply.header('set-cookie', stateCookie('', 0, secure));
      try {
        const query = new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1 || request.url.length));
        const issued = await finishPortalSignIn(deps.signIn, pending, request.params.name, query,
          cookieValue(request.headers.cookie, STATE_COOKIE));
        log.info({ user: issued.user.name, provider: request.params.name, tokenId: issued.id }, 'signed in to the portal');
        const maxAge = (Date.parse(issued.expiresAt) - Date.now()) / 1000;
        return reply.header('set-cookie', portalCookie(issued.token, maxAge, secure))
          .header('cache-control', 'no-store').redirect('/', 303);
      } catch (err) {
        return sendErrorPage(request, reply, err);
      }
    });
  };
}
