/**
 * JSON Schemas of `PATCH /api/targets/:name` and `POST /api/targets/:name/test`, with their TypeScript types.
 * Data only, like schemas.ts: unknown fields are rejected so a typo never silently changes nothing.
 */
import type { TlsMode } from '../../session/types.js';
import { createTargetBody, type CreateHttpTargetBody, type CreateKubernetesTargetBody } from '../schemas.js';

/** Body of `PATCH /api/targets/:name`: absent fields stay as they are; `null` removes a password or CA bundle. */
export interface UpdateTargetBody extends Partial<Pick<CreateKubernetesTargetBody,
  'server' | 'caCert' | 'tlsServerName' | 'clientCert' | 'impersonate' | 'token' | 'clientKey'>>,
  Partial<Pick<CreateHttpTargetBody, 'url' | 'auth' | 'hostHeader' | 'headers' | 'secret'>> {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string | null;
  tls?: TlsMode;
  ca?: string | null;
  /** ssh: a new private key (null removes it). */
  privateKey?: string | null;
  /** ssh: the private key's passphrase (null removes it). */
  passphrase?: string | null;
  /** ssh: a new pinned host key (null: record the next one seen). */
  hostKeyFingerprint?: string | null;
  labels?: Record<string, string>;
}

const fields = createTargetBody.properties;

/** Schema of UpdateTargetBody; the name and type of a target never change (remove and add it instead). */
export const updateTargetBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    host: fields.host,
    port: fields.port,
    database: fields.database,
    user: fields.user,
    password: { ...fields.password, description: 'stored encrypted, never returned; null removes it' },
    tls: { type: 'string', enum: fields.tls.enum },
    ca: { type: ['string', 'null'], maxLength: fields.ca.maxLength, description: 'PEM CA bundle for verify-full; null removes it' },
    privateKey: { ...fields.privateKey, description: 'ssh: stored encrypted, never returned; null removes it' },
    passphrase: { ...fields.passphrase, description: 'ssh: stored encrypted, never returned; null removes it' },
    hostKeyFingerprint: fields.hostKeyFingerprint,
    server: fields.server,
    caCert: fields.caCert,
    tlsServerName: fields.tlsServerName,
    clientCert: fields.clientCert,
    impersonate: fields.impersonate,
    token: { ...fields.token, description: 'kubernetes: stored encrypted, never returned; null removes it' },
    clientKey: { ...fields.clientKey, description: 'kubernetes, http: stored encrypted, never returned; null removes it' },
    url: fields.url,
    auth: fields.auth,
    hostHeader: fields.hostHeader,
    headers: { ...fields.headers, description: 'http: replaces all static headers' },
    secret: { ...fields.secret, description: 'http: stored encrypted, never returned; null removes it' },
    labels: { ...fields.labels, description: 'replaces all labels' },
  },
} as const;

/** Response of `POST /api/targets/:name/test`: each step (dns, tcp, tls, login) with its outcome. */
export const diagnosisSchema = {
  type: 'object',
  required: ['target', 'ok', 'steps'],
  properties: {
    target: { type: 'string' },
    ok: { type: 'boolean', description: 'true when no step failed' },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        required: ['step', 'status', 'message'],
        properties: {
          step: { type: 'string', enum: ['dns', 'tcp', 'tls', 'login'] },
          status: { type: 'string', enum: ['ok', 'failed', 'skipped'] },
          message: { type: 'string', description: 'what happened, in words that hold no secret' },
        },
      },
    },
  },
} as const;
