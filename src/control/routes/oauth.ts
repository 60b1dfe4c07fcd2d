/**
 * `POST /api/oauth/token`: Warden's OAuth 2.0 token endpoint, the standard way for agents to get short-lived
 * Warden tokens.
 *  - `client_credentials` (RFC 6749 section 4.4): a service account trades an API key (client_secret, or HTTP Basic)
 *    for a token.
 *  - `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693) with a Warden token as `subject_token`: delegation
 *    to a sub-agent (always an agent) named by `actor`, Warden's extension parameter. The new token
 *    carries the chain in `act` and is never wider than the subject token.
 *  - the same grant with an OIDC `id_token` as `subject_token`: a person's sign-in (src/identity/oidc.ts).
 * `scope` narrows: space-separated `target:NAME`, `class:CLASS`, `group:NAME`. Errors use RFC 6749 section 5.2's
 * shape (`{error, error_description}`) because OAuth clients expect it; descriptions never echo a secret.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { WardenError, toWardenError } from '../../errors.js';
import { parseDuration } from '../../identity/duration.js';
import type { IssuedToken } from '../../identity/tokens.js';
import type { ControlDeps } from '../app.js';

/** RFC 8693 identifiers. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/** Turns an id_token into a Warden token; supplied by the OIDC module when it is present. */
export type IdTokenExchange = (idToken: string) => Promise<IssuedToken>;

type Params = Record<string, string | undefined>;

/** An RFC 6749 error: `error` is one of the registered codes. */
class OAuthError extends Error {
  constructor(readonly error: string, description: string, readonly status = 400) {
    super(description);
  }
}

/** The narrowing asked for in `scope`. */
export function parseScope(scope: string | undefined): { targets?: string[]; classes?: string[]; groups?: string[] } {
  const out: { targets?: string[]; classes?: string[]; groups?: string[] } = {};
  for (const item of (scope ?? '').split(' ').filter((s) => s.length > 0)) {
    const colon = item.indexOf(':');
    const key = colon > 0 ? item.slice(0, colon) : '';
    const value = item.slice(colon + 1);
    const field = key === 'target' ? 'targets' : key === 'class' ? 'classes' : key === 'group' ? 'groups' : undefined;
    if (field === undefined || value.length === 0) {
      throw new OAuthError('invalid_scope', `unknown scope "${item.slice(0, 64)}": use target:NAME, class:CLASS or group:NAME`);
    }
    (out[field] ??= []).push(value);
  }
  return out;
}

/**
 * Parameters that carry a credential. Their surrounding whitespace is removed: keys and tokens never contain any,
 * and `curl --data-urlencode client_secret@key.txt` sends the file's trailing newline along with the key.
 */
const CREDENTIAL_PARAMS = new Set(['client_id', 'client_secret', 'subject_token', 'actor_token']);

/** Credentials of a client_credentials request: the body's, or HTTP Basic's (RFC 6749 section 2.3.1). */
function clientCredentials(params: Params, authorization: string | undefined): { id?: string; secret?: string } {
  const basic = authorization === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        return { id: decodeURIComponent(decoded.slice(0, colon)).trim(), secret: decodeURIComponent(decoded.slice(colon + 1)).trim() };
      } catch {
        throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials', 401);
      }
    }
  }
  return { id: params.client_id, secret: params.client_secret };
}

function ttlOf(params: Params): number | undefined {
  if (params.expires_in !== undefined) {
    const seconds = Number(params.expires_in);
    if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new OAuthError('invalid_request', 'expires_in must be a positive integer');
    return seconds;
  }
  return params.ttl === undefined ? undefined : parseDuration(params.ttl);
}

/** Registers the token endpoint (under `/api`); public: the grant itself authenticates. */
export function oauthRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));

    const grant = async (params: Params, authorization: string | undefined): Promise<IssuedToken> => {
      if (params.grant_type === 'client_credentials') {
        const { id, secret } = clientCredentials(params, authorization);
        if (!secret) throw new OAuthError('invalid_client', 'client_secret (the API key) is required', 401);
        const scope = parseScope(params.scope);
        try {
          return await deps.serviceAccounts.exchange(secret, { clientId: id, targets: scope.targets, ttlSeconds: ttlOf(params) });
        } catch (err) {
          // RFC 6749 section 5.2: a client that fails to authenticate is invalid_client (401), not invalid_grant.
          if (err instanceof WardenError && err.code === 'WARDEN_ERR_UNAUTHENTICATED') throw new OAuthError('invalid_client', err.message, 401);
          throw err;
        }
      }
      if (params.grant_type === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
      if (params.grant_type !== TOKEN_EXCHANGE) {
        throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials or token-exchange');
      }
      if (!params.subject_token) throw new OAuthError('invalid_request', 'subject_token is required');
      if (params.subject_token_type === ID_TOKEN_TYPE) {
        if (!deps.idTokenExchange) throw new OAuthError('invalid_request', 'no OIDC identity provider support');
        return deps.idTokenExchange(params.subject_token);
      }
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE && params.subject_token_type !== JWT_TOKEN_TYPE) {
        throw new OAuthError('invalid_request', 'subject_token_type must be an access_token, jwt or id_token type');
      }
      if (!params.actor) throw new OAuthError('invalid_request', 'actor (the sub-agent\'s name) is required for delegation');
      const parent = await deps.tokens.verify(params.subject_token);
      const scope = parseScope(params.scope);
      return deps.tokens.delegate(parent, { to: params.actor, ...scope, ttlSeconds: ttlOf(params) });
    };

    app.post('/oauth/token', {
      config: { auth: 'public' },
      schema: { tags: ['tokens'], summary: 'OAuth 2.0 token endpoint: API key exchange and RFC 8693 token exchange', hide: false,
        response: { 200: tokenResponse } },
    }, async (request, reply) => {
      const body = request.body;
      const params: Params = body !== null && typeof body === 'object' ? Object.fromEntries(
        Object.entries(body as Record<string, unknown>).map(([k, v]) =>
          [k, typeof v !== 'string' ? undefined : CREDENTIAL_PARAMS.has(k) ? v.trim() : v])) : {};
      try {
        const issued = await grant(params, request.headers.authorization);
        const expiresIn = Math.max(0, Math.round((Date.parse(issued.expiresAt) - Date.now()) / 1000));
        request.log.info({ tokenId: issued.id, grant: params.grant_type, subject: issued.record.subject }, 'token granted');
        return sendToken(reply, issued, expiresIn);
      } catch (err) {
        return sendError(reply, err, request.log);
      }
    });
  };
}

/** RFC 6749 section 5.1 / RFC 8693 section 2.2.1 token response, as sendToken writes it. */
const tokenResponse = {
  type: 'object',
  required: ['access_token', 'issued_token_type', 'token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string', description: 'the Warden token' },
    issued_token_type: { type: 'string' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer', description: 'seconds' },
    act_chain: { type: 'array', items: { type: 'string' }, description: 'delegation chain, outermost first' },
  },
} as const;

function sendToken(reply: FastifyReply, issued: IssuedToken, expiresIn: number) {
  // RFC 6749 section 5.1: token responses must not be cached.
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send({
    access_token: issued.token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: expiresIn,
    ...(issued.record.chain.length > 0 ? { act_chain: issued.record.chain.map((a) => a.id) } : {}),
  });
}

function sendError(reply: FastifyReply, err: unknown, log: { warn: (o: object, m: string) => void }) {
  if (err instanceof OAuthError) return reply.code(err.status).header('cache-control', 'no-store')
    .send({ error: err.error, error_description: err.message });
  const error = toWardenError(err);
  log.warn({ code: error.code, detail: error.detail }, `token request refused: ${error.message}`);
  const [status, code] = error.kind === 'unauthenticated' ? [400, 'invalid_grant']
    : error.code === 'WARDEN_ERR_FORBIDDEN' ? [400, 'invalid_scope']
      : error.kind === 'bad_input' ? [400, 'invalid_request']
        : error.kind === 'unavailable' ? [503, 'temporarily_unavailable'] : [500, 'server_error'];
  return reply.code(status).header('cache-control', 'no-store').send({ error: code, error_description: error.callerMessage });
}

