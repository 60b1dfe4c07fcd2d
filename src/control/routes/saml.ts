/**
 * SAML sign-in routes for the portal, all public (they are how a person gets a token): `GET /auth/saml/NAME/login`
 * redirects the browser to the IdP with an AuthnRequest, `POST /auth/saml/NAME/acs` receives the IdP's response
 * (HTTP-POST binding), validates it (identity/saml.ts), completes the sign-in and sets the portal cookie, and
 * `GET /auth/saml/NAME/metadata` serves the SP metadata an IdP administrator imports.
 * Over HTTPS the login also sets a cookie naming its request, and the ACS accepts only a response to that request,
 * so nobody can post their own valid response from another site to sign a victim's browser into their account.
 * No route ever logs or echoes the SAMLResponse, an assertion or a token: fastify's request line shows only the URL,
 * and failures log the error code and the validation reason.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { WardenError } from '../../errors.js';
import type { SamlProvider } from '../../identity/providers.js';
import { SamlSignIn } from '../../identity/saml.js';
import type { ControlDeps } from '../app.js';
import { sendErrorPage } from '../html.js';
import { portalCookie } from '../portal-cookie.js';
import { nameParams } from '../schemas.js';

/** Largest ACS form accepted: signed responses are a few KiB, large group lists some tens. */
export const ACS_BODY_LIMIT = 512 * 1024;
/** The cookie binding an ACS post to the browser that started the sign-in (HTTPS only, see the header). */
const REQUEST_COOKIE = 'warden_saml_request';
const REQUEST_COOKIE_PATH = '/auth/saml/';
const REQUEST_COOKIE_MAX_AGE = 600;

/** What the SAML routes need; `publicUrl` (Warden's external base URL) defaults to the address the request reached. */
export type SamlRouteDeps = Pick<ControlDeps, 'signIn' | 'logger'> & { publicUrl?: string; saml?: SamlSignIn };

const acsBody = {
  type: 'object',
  required: ['SAMLResponse'],
  properties: {
    SAMLResponse: { type: 'string', minLength: 1, maxLength: ACS_BODY_LIMIT },
    RelayState: { type: 'string', maxLength: 2048 },
  },
} as const;
const loginQuery = {
  type: 'object',
  properties: { next: { type: 'string', maxLength: 2048, description: 'a path on Warden to return to after sign-in' } },
} as const;

/** A local path to return to after sign-in; anything else (another origin, `//host`, `/\host`) becomes `/`. */
export function safeReturnPath(value: string | undefined): string {
  if (value === undefined || !/^\/(?![/\\])/.test(value) || /[\s\p{Cc}]/u.test(value)) return '/';
  return value;
}

/** The value of cookie `name` in a Cookie header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** SameSite=None: the IdP's form post is a cross-site navigation, which Lax cookies do not follow. */
const requestCookie = (value: string, maxAge: number) =>
  `${REQUEST_COOKIE}=${value}; Path=${REQUEST_COOKIE_PATH}; HttpOnly; Secure; SameSite=None; Max-Age=${maxAge}`;

/** Registers the SAML routes (no prefix: they live under `/auth/saml`). */
export function samlRoutes(deps: SamlRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const saml = deps.saml ?? new SamlSignIn();
    const log = deps.logger.child({ component: 'saml' });
    const tags = ['sign-in'];
    const baseUrl = (request: FastifyRequest) => deps.publicUrl ?? `${request.protocol}://${request.host}`;
    const isSecure = (request: FastifyRequest) => baseUrl(request).startsWith('https:');
    const load = async (name: string): Promise<SamlProvider> => {
      const { provider } = await deps.signIn.load(name);
      if (provider.type !== 'saml') throw new WardenError('WARDEN_ERR_NOT_FOUND', `identity provider "${name}" is not a SAML provider`);
      return provider;
    };

    // Scoped to this plugin (fastify encapsulation): the rest of the API stays JSON only.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: ACS_BODY_LIMIT },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));

    app.get<{ Params: { name: string }; Querystring: { next?: string } }>('/auth/saml/:name/login', {
      config: { auth: 'public' },
      schema: { tags, summary: 'Start the portal sign-in (redirects to the SAML identity provider)', security: [],
        params: nameParams, querystring: loginQuery,
        response: { 302: { description: 'Redirect to the SAML identity provider', type: 'null' } } },
    }, async (request, reply) => {
      try {
        const provider = await load(request.params.name);
        const { url, requestId } = await saml.authorize(provider, baseUrl(request), safeReturnPath(request.query.next));
        if (isSecure(request)) reply.header('set-cookie', requestCookie(requestId, REQUEST_COOKIE_MAX_AGE));
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      } catch (err) {
        return sendErrorPage(request, reply, err);
      }
    });

    app.post<{ Params: { name: string }; Body: { SAMLResponse: string; RelayState?: string } }>('/auth/saml/:name/acs', {
      config: { auth: 'public' },
      schema: { tags, summary: 'Assertion consumer service (the IdP posts its response here)', security: [],
        params: nameParams, body: acsBody, consumes: ['application/x-www-form-urlencoded'],
        response: { 303: { description: 'Signed in: redirect to the portal (or RelayState) with its cookie set', type: 'null' } } },
    }, async (request, reply) => {
      const secure = isSecure(request);
      // The request cookie is single use whatever happens (fastify appends further set-cookie headers).
      if (secure) reply.header('set-cookie', requestCookie('', 0));
      try {
        const provider = await load(request.params.name);
        const bound = secure ? cookieValue(request.headers.cookie, REQUEST_COOKIE) ?? '' : undefined;
        const identity = await saml.verify(provider, baseUrl(request), request.body.SAMLResponse, bound);
        const issued = await deps.signIn.complete(provider, identity);
        log.info({ user: issued.user.name, provider: provider.name, tokenId: issued.id }, 'signed in to the portal');
        const maxAge = (Date.parse(issued.expiresAt) - Date.now()) / 1000;
        return reply.header('set-cookie', portalCookie(issued.token, maxAge, secure)).header('cache-control', 'no-store')
          .redirect(safeReturnPath(request.body.RelayState), 303);
      } catch (err) {
        return sendErrorPage(request, reply, err);
      }
    });

    app.get<{ Params: { name: string } }>('/auth/saml/:name/metadata', {
      config: { auth: 'public' },
      schema: { tags, summary: 'SAML service provider metadata of this provider', security: [], params: nameParams,
        response: { 200: { description: 'SAML 2.0 metadata XML', content: { 'application/samlmetadata+xml': { schema: { type: 'string' } } } } } },
    }, async (request, reply) => {
      try {
        const provider = await load(request.params.name);
        return reply.header('content-type', 'application/samlmetadata+xml; charset=utf-8')
          .send(saml.metadata(provider, baseUrl(request)));
      } catch (err) {
        return sendErrorPage(request, reply, err, 'SAML metadata unavailable');
      }
    });
  };
}
