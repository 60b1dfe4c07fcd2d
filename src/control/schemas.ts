/**
 * JSON Schemas of the control API's requests and responses, with the TypeScript types of the bodies they describe.
 * Fastify validates requests with them (ajv), serializes responses with them (so a field that is not listed here,
 * like a target's `passwordEnc`, can never leak into a response) and @fastify/swagger turns them into OpenAPI.
 * This module holds data only: no behaviour, no imports from the rest of Warden beyond types.
 */
import type { PrincipalKind, TlsMode } from '../session/types.js';

/** Target names: no '/', because engines address a database as `target/db`. */
export const TARGET_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';

const TLS_MODES = ['disable', 'prefer', 'require', 'verify-full'] as const;
const PRINCIPAL_KINDS = ['user', 'service', 'agent'] as const;
const nonEmpty = { type: 'string', minLength: 1, maxLength: 255 } as const;
const timestamp = { type: 'string', description: 'ISO-8601 timestamp in UTC' } as const;
const nullableTimestamp = { type: ['string', 'null'], description: 'ISO-8601 timestamp in UTC' } as const;
const stringList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 255 }, maxItems: 256 } as const;

/** A reference to one of the shared schemas (registered with `app.addSchema`, listed under OpenAPI components). */
function ref<Id extends string>(id: Id) {
  return { $ref: `${id}#` } as const;
}

/** `{ error: { code, message } }`: the one shape of every error response. */
const errorShape = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', description: 'stable WARDEN_ERR_* code' }, message: { type: 'string' } },
    },
  },
} as const;

/** Reference to the error shape, for route responses. */
export const errorSchema = ref('Error');

/** Error responses every authenticated route may give, for the OpenAPI document. */
export const authErrors = { 400: errorSchema, 401: errorSchema, 403: errorSchema } as const;

/** Body of `POST /api/targets` for a PostgreSQL target. */
export interface CreatePostgresTargetBody {
  name: string;
  type: 'postgres';
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string | null;
  tls?: TlsMode;
  ca?: string;
  labels?: Record<string, string>;
  privateKey?: undefined;
  passphrase?: undefined;
}

/** Body of `POST /api/targets` for an SSH target. */
export interface CreateSshTargetBody {
  name: string;
  type: 'ssh';
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  password?: string | null;
  /** The private key Warden logs in with (OpenSSH or PEM text), stored encrypted, never returned. */
  privateKey?: string | null;
  /** The private key's passphrase, stored encrypted, never returned. */
  passphrase?: string | null;
  /** The upstream's host key, `SHA256:...`; absent: the first key seen is recorded and enforced afterwards. */
  hostKeyFingerprint?: string | null;
  labels?: Record<string, string>;
}

/** Body of `POST /api/targets` for a Kubernetes target. */
export interface CreateKubernetesTargetBody {
  name: string;
  type: 'kubernetes';
  /** The API server's URL, `https://host:6443`. */
  server: string;
  /** PEM CA bundle trusted for the API server; absent: the system's CAs. */
  caCert?: string | null;
  /** The name checked against the API server's certificate, when not the URL's host. */
  tlsServerName?: string | null;
  /** PEM client certificate Warden presents (with clientKey). */
  clientCert?: string | null;
  /** Warden's credential impersonates the caller's user and groups upstream. */
  impersonate?: boolean;
  /** A bearer token (e.g. a service account's), stored encrypted, never returned. */
  token?: string | null;
  /** The client certificate's private key (PEM), stored encrypted, never returned. */
  clientKey?: string | null;
  password?: undefined;
  privateKey?: undefined;
  passphrase?: undefined;
  labels?: Record<string, string>;
}

/** Body of `POST /api/targets` for an HTTP target. */
export interface CreateHttpTargetBody {
  name: string;
  type: 'http';
  /** The upstream's base URL, `https://host:8443[/base]`. */
  url: string;
  /** PEM CA bundle trusted for the upstream; absent: the system's CAs. */
  caCert?: string | null;
  /** How the secret is injected: none, bearer, basic (`user:password`), header:NAME, query:NAME. Default none. */
  auth?: string;
  /** The Host header sent upstream, when not the URL's host. */
  hostHeader?: string | null;
  /** Static headers added to every upstream request. */
  headers?: Record<string, string>;
  /** PEM client certificate Warden presents upstream (with clientKey). */
  clientCert?: string | null;
  /** The credential `auth` injects, stored encrypted, never returned. */
  secret?: string | null;
  /** The client certificate's private key (PEM), stored encrypted, never returned. */
  clientKey?: string | null;
  password?: undefined;
  privateKey?: undefined;
  passphrase?: undefined;
  token?: undefined;
  labels?: Record<string, string>;
}

/** Body of `POST /api/targets`: one shape per protocol, told apart by `type`. */
export type CreateTargetBody = CreatePostgresTargetBody | CreateSshTargetBody | CreateKubernetesTargetBody | CreateHttpTargetBody;

const labelsSchema = {
  type: 'object',
  maxProperties: 64,
  propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$' },
  additionalProperties: { type: 'string', maxLength: 255 },
} as const;

const secretText = (description: string) => ({ type: ['string', 'null'], maxLength: 65536, description } as const);

/**
 * Schema of CreateTargetBody: every protocol's fields, `type` one of the registered protocols. Unknown fields are
 * rejected so a typo (`pasword`) is never silently dropped; which fields a protocol's target has, and their values,
 * are checked by that protocol's zod spec (routes/target-records.ts). Built by `createTargetBodyFor` with the
 * registry's names; this constant lists the built-in ones for the OpenAPI document and the update schema.
 */
export const createTargetBody = createTargetBodyFor(['postgres', 'ssh', 'kubernetes', 'http']);

/** createTargetBody with `type` limited to `protocols` (the ProtocolRegistry's names). */
export function createTargetBodyFor(protocols: readonly string[]) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'type'],
    // A Kubernetes target is reached by its server URL, an HTTP one by its URL; every other one by host and user.
    if: { properties: { type: { const: 'kubernetes' } } },
    then: { required: ['server'] },
    else: {
      if: { properties: { type: { const: 'http' } } },
      then: { required: ['url'] },
      else: { required: ['host', 'user'] },
    },
    properties: {
      name: { type: 'string', pattern: TARGET_NAME_PATTERN, description: 'letters, digits, ".", "_", "-"; no "/"' },
      type: { type: 'string', enum: [...protocols] },
      host: nonEmpty,
      port: { type: 'integer', minimum: 1, maximum: 65535, description: 'required for postgres; ssh default 22' },
      database: { ...nonEmpty, description: 'postgres: the default database' },
      user: nonEmpty,
      password: { type: ['string', 'null'], maxLength: 4096, description: 'stored encrypted, never returned' },
      tls: { type: 'string', enum: TLS_MODES, description: 'postgres: default prefer' },
      ca: { type: 'string', maxLength: 262144, description: 'postgres: PEM CA bundle trusted for verify-full' },
      privateKey: secretText('ssh: private key (OpenSSH/PEM), stored encrypted, never returned'),
      passphrase: secretText('ssh: the private key\'s passphrase, stored encrypted, never returned'),
      hostKeyFingerprint: { type: ['string', 'null'], maxLength: 100, description: 'ssh: pinned host key, SHA256:...' },
      server: { type: 'string', minLength: 1, maxLength: 2048, description: 'kubernetes: the API server URL, https://host:6443' },
      caCert: { type: ['string', 'null'], maxLength: 262144, description: 'kubernetes: PEM CA bundle trusted for the API server' },
      tlsServerName: { type: ['string', 'null'], maxLength: 255, description: 'kubernetes: name checked against the server certificate' },
      clientCert: { type: ['string', 'null'], maxLength: 262144, description: 'kubernetes: PEM client certificate (with clientKey)' },
      impersonate: { type: 'boolean', description: 'kubernetes: impersonate the caller\'s user and groups upstream' },
      token: secretText('kubernetes: bearer token, stored encrypted, never returned'),
      clientKey: secretText('kubernetes, http: the client certificate\'s key (PEM), stored encrypted, never returned'),
      url: { type: 'string', minLength: 1, maxLength: 2048, description: 'http: the upstream base URL, https://host:8443[/base]' },
      auth: { type: 'string', minLength: 1, maxLength: 140, description: 'http: none (default), bearer, basic, header:NAME or query:NAME' },
      hostHeader: { type: ['string', 'null'], maxLength: 255, description: 'http: the Host header sent upstream' },
      headers: { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 8192 },
        description: 'http: static headers added to every upstream request' },
      secret: secretText('http: the credential auth injects (basic: user:password), stored encrypted, never returned'),
      labels: labelsSchema,
    },
  } as const;
}

/** A target as the API shows it: never a secret nor its ciphertext, only whether there is one. */
const targetShape = {
  $id: 'Target',
  type: 'object',
  required: ['name', 'type', 'hasPassword', 'labels'],
  properties: {
    name: { type: 'string' },
    type: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'integer' },
    database: { type: 'string' },
    user: { type: 'string' },
    tls: { type: 'string', enum: TLS_MODES },
    hasPassword: { type: 'boolean' },
    hasCa: { type: 'boolean' },
    hasPrivateKey: { type: 'boolean' },
    hostKeyFingerprint: { type: ['string', 'null'] },
    server: { type: 'string' },
    tlsServerName: { type: ['string', 'null'] },
    impersonate: { type: 'boolean' },
    hasClientCert: { type: 'boolean' },
    hasToken: { type: 'boolean' },
    hasClientKey: { type: 'boolean' },
    url: { type: 'string' },
    auth: { type: 'string' },
    hostHeader: { type: ['string', 'null'] },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    hasSecret: { type: 'boolean' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

/** Path parameters `{ name }`. */
export const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

/** Body of `POST /api/tokens`. */
export interface CreateTokenBody {
  user: string;
  groups?: string[];
  targets?: string[];
  ttl: string;
  kind?: PrincipalKind;
}

/** Schema of CreateTokenBody. */
export const createTokenBody = {
  type: 'object',
  additionalProperties: false,
  required: ['user'],
  properties: {
    user: nonEmpty,
    groups: stringList,
    targets: { ...stringList, description: 'target name patterns the token may reach (`*` = all)' },
    ttl: { type: 'string', minLength: 1, maxLength: 32, default: '1h', description: 'e.g. 30m, 1h, 7d' },
    kind: { type: 'string', enum: PRINCIPAL_KINDS },
  },
} as const;

/** A stored token record (never the token text). */
const tokenShape = {
  $id: 'TokenRecord',
  type: 'object',
  required: ['id', 'subject', 'subjectKind', 'groups', 'targets', 'issuedAt', 'expiresAt', 'revokedAt'],
  properties: {
    id: { type: 'string' },
    subject: { type: 'string' },
    subjectKind: { type: 'string', enum: PRINCIPAL_KINDS },
    groups: { type: 'array', items: { type: 'string' } },
    targets: { type: 'array', items: { type: 'string' } },
    issuedAt: timestamp,
    expiresAt: timestamp,
    revokedAt: nullableTimestamp,
    parentId: { type: 'string', nullable: true, description: 'the token this one was delegated from' },
    chain: {
      type: 'array', description: 'the principals this token acts for, origin first',
      items: { type: 'object', required: ['id', 'kind'], properties: { id: { type: 'string' }, kind: { type: 'string' } } },
    },
    classes: { type: 'array', nullable: true, items: { type: 'string' }, description: 'statement classes it may run; null: all' },
    revokedIds: { type: 'array', items: { type: 'string' }, description: 'revoke only: every token revoked (delegated ones too)' },
    sessionsEnded: { type: 'array', items: { type: 'string' }, description: 'revoke only: live sessions ended' },
  },
} as const;

/** Response of `POST /api/tokens`: the only response that ever carries token text. */
export const issuedToken = {
  type: 'object',
  required: ['token', 'id', 'expiresAt', 'user', 'groups', 'targets'],
  properties: {
    token: { type: 'string', description: 'shown once; Warden stores only its id' },
    id: { type: 'string' },
    expiresAt: timestamp,
    user: { type: 'string' },
    kind: { type: 'string', enum: PRINCIPAL_KINDS },
    groups: { type: 'array', items: { type: 'string' } },
    targets: { type: 'array', items: { type: 'string' } },
    chain: {
      type: 'array', description: 'delegated tokens: the principals it acts for, origin first',
      items: { type: 'object', required: ['id', 'kind'], properties: { id: { type: 'string' }, kind: { type: 'string' } } },
    },
    classes: { type: 'array', nullable: true, items: { type: 'string' } },
  },
} as const;

/** Body of `POST /api/tokens/revoke`: exactly one of `id` and `token` (checked by the handler, for a clear message). */
export interface RevokeTokenBody {
  id?: string;
  token?: string;
  /** Let running statements of the live sessions finish before they end. */
  letStatementsFinish?: boolean;
}

/** Schema of RevokeTokenBody. */
export const revokeTokenBody = {
  type: 'object',
  additionalProperties: false,
  properties: { id: nonEmpty, token: { type: 'string', minLength: 1, maxLength: 8192 }, letStatementsFinish: { type: 'boolean' } },
} as const;

/** Query of `GET /api/sessions`. */
export interface SessionListQuery {
  limit: number;
  subject?: string;
  target?: string;
  active?: boolean;
}

/** Schema of SessionListQuery. */
export const sessionListQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    subject: { type: 'string', minLength: 1 },
    target: { type: 'string', minLength: 1 },
    active: { type: 'boolean', description: 'true: only sessions still open; false: only ended ones' },
  },
} as const;

/** Path parameters `{ id }`. */
export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

/** A stored session record. */
const sessionShape = {
  $id: 'Session',
  type: 'object',
  required: ['id', 'protocol', 'subject', 'target', 'database', 'startedAt', 'endedAt', 'endReason'],
  properties: {
    id: { type: 'string' },
    protocol: { type: 'string' },
    subject: { type: 'string' },
    subjectKind: { type: 'string', enum: PRINCIPAL_KINDS },
    groups: { type: 'array', items: { type: 'string' } },
    chain: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string' } } },
    },
    tokenId: { type: 'string' },
    target: { type: 'string' },
    database: { type: 'string' },
    clientAddress: { type: 'string' },
    startedAt: timestamp,
    endedAt: nullableTimestamp,
    endReason: { type: ['string', 'null'] },
  },
} as const;

/** One recorded event; `data` is free-form per event type. */
const sessionEventShape = {
  $id: 'SessionEvent',
  type: 'object',
  required: ['sessionId', 'seq', 'at', 'type', 'data'],
  properties: {
    sessionId: { type: 'string' },
    seq: { type: 'integer' },
    at: timestamp,
    type: { type: 'string' },
    data: { type: 'object', additionalProperties: true },
  },
} as const;

/** Reference to the target view (never a password nor its ciphertext). */
export const targetView = ref('Target');
/** Reference to a stored token record (never the token text). */
export const tokenRecord = ref('TokenRecord');
/** Reference to a session record. */
export const sessionRecord = ref('Session');
/** Reference to a session event. */
export const sessionEvent = ref('SessionEvent');

/** The shared schemas, to register with `app.addSchema` before any route uses them. */
export const SHARED_SCHEMAS = [errorShape, targetShape, tokenShape, sessionShape, sessionEventShape];
