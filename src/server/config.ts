/**
 * Warden's process configuration: flags, `WARDEN_*` environment variables and defaults, validated in one place.
 * Precedence: flag > environment > default. This module only reads and validates; it never opens files or ports.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { z } from 'zod';
import { WardenError } from '../errors.js';
import { parseErrorMessage } from '../suggest.js';
import { formatStartOptions } from './config-help.js';

const port = z.coerce.number().int().min(0).max(65535);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

const list = z.string().default('').transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.string().url()));

/** The validated configuration of `warden start`. */
export const ServerConfigSchema = z.object({
  dataDir: z.string().min(1).default('./.warden'),
  listenHost: z.string().min(1).default('127.0.0.1'),
  apiPort: port.default(8080),
  postgresPort: port.default(15432),
  /** The SSH listener's port (callers log in as USER:TARGET). */
  sshPort: port.default(2222),
  /** The Kubernetes listener's port (HTTPS; each target under /k8s/<target>). */
  kubePort: port.default(8443),
  /** The HTTP listener's port (each target under /t/<target>, or at <target>.<httpDomain>). */
  httpPort: port.default(8081),
  /** The domain under which `<target>.<domain>` names an http target (host-name routes); unset: path prefixes only. */
  httpDomain: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'must be a DNS name').optional(),
  /** Serve the HTTP listener over TLS with Warden's certificate. */
  httpTls: bool.default(false),
  /** Seconds without a request after which a caller's HTTP session with a target ends. */
  httpSessionIdle: z.coerce.number().int().min(1).max(86_400).default(300),
  /** Most bytes of each request and response body an HTTP recording keeps (masked); 0 keeps none. */
  httpRecordBodyBytes: z.coerce.number().int().min(0).max(16 * 1024 * 1024).default(64 * 1024),
  /** Seconds an SSH session may go without traffic either way before Warden ends it (0: never). */
  sshIdleTimeout: z.coerce.number().int().min(0).default(0),
  /** Lets callers send their token without TLS, honoured only when the listener is on loopback. */
  allowPlaintextLoopback: bool.default(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest statement-bearing message (Query, Parse, Bind) a caller may send; COPY data is not limited. */
  maxMessageBytes: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
  /** Base64 of a 32-byte vault key; when unset the key lives in `<dataDir>/vault.key`. */
  vaultKey: z.string().optional(),
  /** What happens to a statement no policy rule matches. Deny unless the operator says otherwise. */
  defaultEffect: z.enum(['deny', 'allow']).default('deny'),
  /** Generic JSON webhooks told about approval requests and decisions (comma-separated). */
  webhookUrls: list,
  /** Slack-compatible incoming webhooks told about approval requests and decisions (comma-separated). */
  slackWebhookUrls: list,
  /** How approvers reach this Warden's API, used in notifications (default: the API's own address). */
  publicUrl: z.string().url().optional(),
  /** Most connections in their login phase at once (connected, not yet authenticated), from all sources. */
  maxUnauthenticated: z.coerce.number().int().min(1).default(1000),
  /** Most connections in their login phase at once from one source address (IPv6: one /64). */
  maxUnauthenticatedPerSource: z.coerce.number().int().min(1).default(100),
  /** Seconds a caller may take from connecting to sending its first byte. */
  firstByteTimeout: z.coerce.number().positive().default(10),
  /** Seconds a caller may take from connecting to being authenticated. */
  loginTimeout: z.coerce.number().positive().default(30),
  /** Serve the control API (and portal) over HTTPS, with Warden's certificate or `apiTlsCert`/`apiTlsKey`. */
  apiTls: bool.default(false),
  /** PEM certificate file for the control API (implies apiTls; needs apiTlsKey). */
  apiTlsCert: z.string().min(1).optional(),
  /** PEM private key file for the control API (implies apiTls; needs apiTlsCert). */
  apiTlsKey: z.string().min(1).optional(),
  /**
   * Which proxies' X-Forwarded-For/-Proto/-Host the control API believes: `false` (default: none), `true` (any:
   * only when nothing but the proxy can reach the API), a hop count, or comma-separated addresses/CIDRs.
   */
  trustProxy: z.string().default('false').transform(parseTrustProxy),
  /** Seconds a caller has to send a whole request (headers and body) to the control API; slow senders are cut. */
  apiRequestTimeout: z.coerce.number().int().min(1).max(600).default(10),
}).superRefine((c, ctx) => {
  if ((c.apiTlsCert === undefined) !== (c.apiTlsKey === undefined)) {
    ctx.addIssue({ code: 'custom', path: [c.apiTlsCert === undefined ? 'apiTlsCert' : 'apiTlsKey'], message: 'give both --api-tls-cert and --api-tls-key' });
  }
});

/** `--trust-proxy` as fastify's trustProxy: false, true, a hop count or a list of addresses/CIDRs. */
export function parseTrustProxy(value: string): boolean | number | string[] {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0' || v === 'no') return false;
  if (v === 'true' || v === 'yes') return true;
  if (/^[1-9]\d{0,1}$/.test(v)) return Number(v);
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Configuration of a running Warden server. */
export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/** Flag name, environment variable and config key, in one table so the three can never disagree. */
const OPTIONS = [
  { flag: 'data-dir', env: 'WARDEN_DATA_DIR', key: 'dataDir', type: 'string' },
  { flag: 'listen-host', env: 'WARDEN_LISTEN_HOST', key: 'listenHost', type: 'string' },
  { flag: 'api-port', env: 'WARDEN_API_PORT', key: 'apiPort', type: 'string' },
  { flag: 'postgres-port', env: 'WARDEN_POSTGRES_PORT', key: 'postgresPort', type: 'string' },
  { flag: 'ssh-port', env: 'WARDEN_SSH_PORT', key: 'sshPort', type: 'string' },
  { flag: 'kube-port', env: 'WARDEN_KUBE_PORT', key: 'kubePort', type: 'string' },
  { flag: 'http-port', env: 'WARDEN_HTTP_PORT', key: 'httpPort', type: 'string' },
  { flag: 'http-domain', env: 'WARDEN_HTTP_DOMAIN', key: 'httpDomain', type: 'string' },
  { flag: 'http-tls', env: 'WARDEN_HTTP_TLS', key: 'httpTls', type: 'boolean' },
  { flag: 'http-session-idle', env: 'WARDEN_HTTP_SESSION_IDLE', key: 'httpSessionIdle', type: 'string' },
  { flag: 'http-record-body-bytes', env: 'WARDEN_HTTP_RECORD_BODY_BYTES', key: 'httpRecordBodyBytes', type: 'string' },
  { flag: 'ssh-idle-timeout', env: 'WARDEN_SSH_IDLE_TIMEOUT', key: 'sshIdleTimeout', type: 'string' },
  { flag: 'allow-plaintext-loopback', env: 'WARDEN_ALLOW_PLAINTEXT_LOOPBACK', key: 'allowPlaintextLoopback', type: 'boolean' },
  { flag: 'log-level', env: 'WARDEN_LOG_LEVEL', key: 'logLevel', type: 'string' },
  { flag: 'max-message-bytes', env: 'WARDEN_MAX_MESSAGE_BYTES', key: 'maxMessageBytes', type: 'string' },
  { flag: 'default-effect', env: 'WARDEN_DEFAULT_EFFECT', key: 'defaultEffect', type: 'string' },
  { flag: 'webhook-url', env: 'WARDEN_WEBHOOK_URLS', key: 'webhookUrls', type: 'string' },
  { flag: 'slack-webhook-url', env: 'WARDEN_SLACK_WEBHOOK_URLS', key: 'slackWebhookUrls', type: 'string' },
  { flag: 'public-url', env: 'WARDEN_PUBLIC_URL', key: 'publicUrl', type: 'string' },
  { flag: 'max-unauthenticated', env: 'WARDEN_MAX_UNAUTHENTICATED', key: 'maxUnauthenticated', type: 'string' },
  { flag: 'max-unauthenticated-per-source', env: 'WARDEN_MAX_UNAUTHENTICATED_PER_SOURCE', key: 'maxUnauthenticatedPerSource', type: 'string' },
  { flag: 'first-byte-timeout', env: 'WARDEN_FIRST_BYTE_TIMEOUT', key: 'firstByteTimeout', type: 'string' },
  { flag: 'login-timeout', env: 'WARDEN_LOGIN_TIMEOUT', key: 'loginTimeout', type: 'string' },
  { flag: 'api-tls', env: 'WARDEN_API_TLS', key: 'apiTls', type: 'boolean' },
  { flag: 'api-tls-cert', env: 'WARDEN_API_TLS_CERT', key: 'apiTlsCert', type: 'string' },
  { flag: 'api-tls-key', env: 'WARDEN_API_TLS_KEY', key: 'apiTlsKey', type: 'string' },
  { flag: 'trust-proxy', env: 'WARDEN_TRUST_PROXY', key: 'trustProxy', type: 'string' },
  { flag: 'api-request-timeout', env: 'WARDEN_API_REQUEST_TIMEOUT', key: 'apiRequestTimeout', type: 'string' },
  { flag: null, env: 'WARDEN_VAULT_KEY', key: 'vaultKey', type: 'string' },
] as const;

/** Usage text of `warden start`, generated from the option table. */
export const START_USAGE = `usage: warden start [options]

Starts Warden in one process: the control API, the PostgreSQL listener and the embedded store.

options (flag, then the environment variable that sets it too; a flag wins):
${formatStartOptions(OPTIONS, ServerConfigSchema.parse({}))}
  WARDEN_VAULT_KEY (environment only)
      base64 of a 32-byte key for backend secrets (default: the file <data-dir>/vault.key)

Ports given as 0 pick a free port; the chosen ones are printed and written to <data-dir>/ports.json.`;

/** Parses `warden start` arguments and the environment into a validated configuration. */
export function loadServerConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parseOptions: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const o of OPTIONS) if (o.flag) parseOptions[o.flag] = { type: o.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: parseOptions, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', parseErrorMessage(err, parseOptions));
  }
  const raw: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const fromFlag = o.flag ? values[o.flag] : undefined;
    const value = fromFlag ?? env[o.env];
    if (value !== undefined && value !== '') raw[o.key] = value;
  }
  const parsed = ServerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const option = OPTIONS.find((o) => o.key === first.path[0]);
    const name = option?.flag ? `--${option.flag}` : option?.env ?? String(first.path[0]);
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `invalid ${name}: ${first.message}`);
  }
  return { ...parsed.data, dataDir: path.resolve(parsed.data.dataDir) };
}
