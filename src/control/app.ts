/**
 * The control API: a fastify instance with every `/api` route, bearer authentication, JSON errors and the OpenAPI
 * document. It owns HTTP concerns only; the store, the vault and the token service are handed in by the server,
 * which also decides where to listen. It must never log an Authorization header, a password or a token text.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ApprovalService } from '../approvals/service.js';
import type { ServiceAccounts } from '../identity/service-accounts.js';
import type { SshCertificateAuthority } from '../identity/ssh-ca.js';
import type { SshKeys } from '../identity/ssh-keys.js';
import type { SignInService } from '../identity/signin.js';
import type { KillSwitch } from '../session/kill-switch.js';
import type { TokenService } from '../identity/tokens.js';
import type { TargetDiagnoser } from '../protocols/diagnosers.js';
import type { ProtocolRegistry } from '../session/protocol-registry.js';
import type { PolicyCatalog } from '../session/policy-catalog.js';
import type { Store } from '../store/types.js';
import type { Vault } from '../vault/vault.js';
import { installAuth } from './auth.js';
import { installErrorHandling } from './errors.js';
import { approvalRoutes } from './routes/approvals.js';
import { healthRoutes } from './routes/health.js';
import { policyRoutes } from './routes/policies.js';
import { resourceRoutes } from './routes/resources.js';
import { oauthRoutes, type IdTokenExchange } from './routes/oauth.js';
import { oidcRoutes } from './routes/oidc.js';
import { portalRoutes } from './routes/portal.js';
import { principalRoutes } from './routes/principals.js';
import { knownPrincipalRoutes } from './routes/known-principals.js';
import { whoamiRoutes } from './routes/whoami.js';
import { samlRoutes } from './routes/saml.js';
import { sessionRoutes } from './routes/sessions.js';
import { sshRoutes } from './routes/ssh.js';
import { targetRoutes } from './routes/targets.js';
import { tokenRoutes } from './routes/tokens.js';
import { SHARED_SCHEMAS } from './schemas.js';

/** What the control API needs from the rest of the server. */
export interface ControlDeps {
  store: Store;
  tokens: TokenService;
  vault: Vault;
  logger: Logger;
  /** The session recorder; flushed before session reads so buffered events are visible. */
  recorder: { flush(): Promise<void> };
  /** Warden's version, shown by `/api/health` and in the OpenAPI document. */
  version: string;
  /** The policies in force; the policy routes write through it so the store and memory agree. */
  policies: PolicyCatalog;
  /** What `POST /api/policy/test` assumes for statements no rule decides (the server's configured default). */
  defaultEffect: 'allow' | 'deny';
  /** The protocols Warden speaks: target specs, analysers and policy vocabulary come from here. */
  protocols: ProtocolRegistry;
  /** Approval requests and decisions; its routes take any valid token (approvers need not be admins). */
  approvals: ApprovalService;
  /** Identity provider resources and the end of every person's sign-in (OIDC, SAML). */
  signIn: SignInService;
  /** Service accounts, their API keys and the key-for-token exchange. */
  serviceAccounts: ServiceAccounts;
  /** Revocation that reaches live sessions (tokens, users, service accounts, single sessions). */
  killSwitch: KillSwitch;
  /** SSH public keys registered to users and service accounts. */
  sshKeys: SshKeys;
  /** Warden's SSH user CA (certificates for token holders). */
  sshCa: SshCertificateAuthority;
  /** Verifies an OIDC id_token and signs the person in (RFC 8693 exchange); absent without OIDC support. */
  idTokenExchange?: IdTokenExchange;
  /** Warden's external base URL (`--public-url`), for sign-in callbacks behind a proxy; unset: the request's own. */
  publicUrl?: string;
  /** Transport settings of the API's HTTP server (TLS, trusted proxies, request timeout). */
  http?: ControlHttpOptions;
  /**
   * The data-path listeners once they are bound: port and what callers should know (e.g. the SSH host key
   * fingerprint to pin), by protocol. Shown by `GET /api/whoami`; absent or empty before they listen.
   */
  listeners?: () => Array<{ protocol: string; port: number; note?: string }>;
  /** `warden targets test` by protocol name (src/protocols/diagnosers.ts); a protocol without one cannot be tested. */
  diagnosers?: Readonly<Record<string, TargetDiagnoser>>;
}

/** How the control API's HTTP server is set up. */
export interface ControlHttpOptions {
  /** Serve HTTPS with this certificate and key (PEM); plain HTTP when absent. */
  tls?: { cert: string; key: string };
  /**
   * Whose X-Forwarded-For/-Proto/-Host to believe (fastify's trustProxy): false = nobody (default), true =
   * anybody, a hop count, or addresses/CIDRs of the proxies. Decides `request.protocol` and so the cookies' Secure.
   */
  trustProxy?: boolean | number | string[];
  /** Milliseconds a caller has to send a whole request, headers and body (default 10 s). */
  requestTimeoutMs?: number;
}

/** Default time a caller has to send a whole request to the control API. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** How often node checks for requests past their timeout; the default (30 s) would let slow senders linger. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** Log paths that may carry secrets; pino replaces them before anything is written. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'body',
  'req.body',
  'password',
  '*.password',
  'token',
  '*.token',
];

/** The logger fastify gets: the server's logger, with redaction and a request serializer that drops headers. */
function controlLogger(logger: Logger): Logger {
  return logger.child(
    { component: 'control' },
    {
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      serializers: {
        // Only what identifies a request; headers (Authorization) and bodies (passwords) never reach the log.
        req: (req: { method?: string; url?: string; ip?: string }) => ({
          method: req.method,
          url: req.url,
          remoteAddress: req.ip,
        }),
      },
    },
  );
}

async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    // Name shared schemas by their $id in components.schemas (instead of def-0, def-1, ...).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Warden control API', version, description: 'Manage targets, tokens and sessions of Warden.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'Warden token' } } },
      security: [{ bearer: [] }],
    },
  });
}

/**
 * Swagger UI at `/docs` for the OpenAPI document. Its pages and assets are public like the document itself (they
 * hold no data; every call made from the UI still needs a token, given with its Authorize button), so its routes
 * are marked `auth: 'public'` as they are added; it serves its bundled assets with a Content-Security-Policy.
 */
async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object | undefined), auth: 'public' } as typeof route.config;
    });
    await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { deepLinking: false } });
  });
}

/** Builds the control API with every route registered; not listening yet (the server calls `.listen`). */
export async function buildControlApi(deps: ControlDeps): Promise<FastifyInstance> {
  const { tls, trustProxy = false, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = deps.http ?? {};
  const server = { connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS };
  const app = Fastify({
    loggerInstance: controlLogger(deps.logger),
    // Reject unknown body fields instead of silently dropping them: `pasword` must be an error, not a no-op.
    ajv: { customOptions: { removeAdditional: false } },
    bodyLimit: 1024 * 1024,
    // A caller that trickles its headers or body (slowloris) is cut after requestTimeoutMs, whether or not it has
    // authenticated: public routes (token endpoint, SAML ACS) read bodies before anyone is known.
    requestTimeout: requestTimeoutMs,
    // A hop count trusts that many proxies nearest to Warden.
    trustProxy: typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
    // A TLS handshake that never completes is cut as soon as a slow request would be.
    ...(tls ? { https: { ...server, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' as const, handshakeTimeout: requestTimeoutMs } }
      : { http: server }),
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = requestTimeoutMs;

  // JSON only: without this, fastify would hand a text/plain body to the validators as a string.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app);
  installAuth(app, deps.tokens);
  await registerOpenApi(app, deps.version);

  app.get('/api/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());
  await registerDocs(app);
  await app.register(healthRoutes(deps), { prefix: '/api' });
  await app.register(targetRoutes(deps), { prefix: '/api' });
  await app.register(tokenRoutes(deps), { prefix: '/api' });
  await app.register(sessionRoutes(deps), { prefix: '/api' });
  await app.register(policyRoutes(deps), { prefix: '/api' });
  await app.register(approvalRoutes(deps), { prefix: '/api' });
  await app.register(resourceRoutes(deps), { prefix: '/api' });
  await app.register(principalRoutes(deps), { prefix: '/api' });
  await app.register(knownPrincipalRoutes(deps), { prefix: '/api' });
  await app.register(whoamiRoutes(deps), { prefix: '/api' });
  await app.register(sshRoutes(deps), { prefix: '/api' });
  await app.register(oauthRoutes(deps), { prefix: '/api' });
  await app.register(oidcRoutes(deps));
  await app.register(samlRoutes(deps));
  await app.register(portalRoutes(deps));
  return app;
}
