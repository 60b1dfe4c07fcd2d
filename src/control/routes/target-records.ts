/**
 * Turning target requests into TargetRecords and records into their public view, for every protocol. The fields a
 * protocol's target has are validated by that protocol's zod spec (from the ProtocolRegistry); secrets (a password,
 * an SSH private key and its passphrase) go through the vault, each bound to the target's name and its own secret
 * name. It must never return, log or store in clear a secret, nor return a ciphertext; an update that would send a
 * stored secret somewhere else (another host, port, user, CA or host key, or weaker TLS) needs the secret again.
 */
import { X509Certificate } from 'node:crypto';
import { WardenError } from '../../errors.js';
import { assertUsablePrivateKey } from '../../protocols/ssh/private-key.js';
import type { ProtocolRegistry } from '../../session/protocol-registry.js';
import type { TlsMode } from '../../session/types.js';
import type { TargetRecord } from '../../store/types.js';
import type { Vault } from '../../vault/vault.js';
import type { CreateTargetBody } from '../schemas.js';
import type { UpdateTargetBody } from './targets-schemas.js';

/**
 * A target as the API returns it: the protocol's non-secret fields (its definition's `targetView`), and only
 * whether each secret is stored.
 */
export interface TargetView {
  name: string;
  type: string;
  /** postgres, ssh. */
  host?: string;
  /** postgres, ssh. */
  port?: number;
  /** postgres, ssh. */
  user?: string;
  /** postgres only. */
  database?: string;
  /** postgres only. */
  tls?: TlsMode;
  hasPassword: boolean;
  /** postgres: a CA bundle is stored; kubernetes: a CA bundle is trusted for the API server. */
  hasCa?: boolean;
  /** ssh only: a private key is stored (never shown). */
  hasPrivateKey?: boolean;
  /** ssh only: the pinned host key fingerprint, null until the first connection records one. */
  hostKeyFingerprint?: string | null;
  /** kubernetes only: the API server's URL. */
  server?: string;
  /** kubernetes only: the name checked against the API server's certificate, when not the URL's host. */
  tlsServerName?: string | null;
  /** kubernetes only: Warden impersonates its callers upstream. */
  impersonate?: boolean;
  /** kubernetes only: a client certificate is presented (its key is vaulted). */
  hasClientCert?: boolean;
  /** kubernetes only: a bearer token is stored (never shown). */
  hasToken?: boolean;
  /** kubernetes, http: a client key is stored (never shown). */
  hasClientKey?: boolean;
  /** http only: the upstream's base URL. */
  url?: string;
  /** http only: how the secret is injected (none, bearer, basic, header:NAME, query:NAME). */
  auth?: string;
  /** http only: the Host header sent upstream, when not the URL's host. */
  hostHeader?: string | null;
  /** http only: static headers added to every upstream request. */
  headers?: Record<string, string>;
  /** http only: a secret is stored for `auth` (never shown). */
  hasSecret?: boolean;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** The vault context a target's password is encrypted under; binds the ciphertext to that one target. */
export function targetSecretContext(name: string): string {
  return `target:${name}`;
}

/** The vault context of a target's other secret `field` (e.g. `privateKey`): one ciphertext cannot pass as another. */
export function targetFieldContext(name: string, field: string): string {
  return `${targetSecretContext(name)}:${field}`;
}

/** The public view of a stored target: its protocol's own view, built field by field so a secret can never slip through. */
export function toTargetView(t: TargetRecord, protocols: ProtocolRegistry): TargetView {
  const { name, type, labels, createdAt, updatedAt, passwordEnc, secretsEnc, ...fields } = t;
  const stored = { password: passwordEnc !== null, secrets: Object.keys(secretsEnc ?? {}) };
  const own = protocols.get(type)?.targetView?.(fields, stored) ?? { hasPassword: stored.password };
  return { ...own, name, type, labels, createdAt, updatedAt } as TargetView;
}

/** Checks that a CA bundle holds at least one parseable PEM certificate, so a bad file fails now, not at connect. */
function checkCa(ca: string): void {
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'ca must be a PEM certificate bundle (-----BEGIN CERTIFICATE-----)');
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'ca holds no valid PEM certificate');
  }
}

/** The secret request fields besides the password: every registered protocol's secret names. */
function secretNames(registry: ProtocolRegistry): string[] {
  return [...new Set(registry.list().flatMap((p) => p.secretFields))];
}

/** Request fields that are secrets or bookkeeping, never part of a protocol's target spec. */
function notSpec(registry: ProtocolRegistry): Set<string> {
  return new Set(['name', 'type', 'labels', 'password', ...secretNames(registry)]);
}

/**
 * The protocol's fields of a request, validated by its zod spec: a field the protocol does not have (`database` on
 * an ssh target) or a value it does not accept is WARDEN_ERR_BAD_REQUEST naming it.
 */
function specFields(registry: ProtocolRegistry, type: string, fields: Record<string, unknown>): Record<string, unknown> {
  const definition = registry.get(type);
  if (definition === undefined) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `type must be one of ${registry.names().join(', ')}, got "${type}"`);
  }
  const parsed = definition.targetSpec.safeParse(fields);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')} not a field of ${type} targets)` : '';
  throw new WardenError('WARDEN_ERR_BAD_REQUEST', `invalid ${type} target: ${where}${issue.message}${keys}`);
}

/** Builds the record to store from a validated request body. */
export function toTargetRecord(body: CreateTargetBody, deps: { vault: Vault; protocols: ProtocolRegistry },
  now: string): TargetRecord {
  const fields: Record<string, unknown> = {};
  const skip = notSpec(deps.protocols);
  for (const [key, value] of Object.entries(body)) if (!skip.has(key) && value !== undefined) fields[key] = value;
  // Defaults that keep their pre-union meaning: PostgreSQL TLS `prefer`, no CA; SSH port 22, no pinned key yet.
  if (body.type === 'postgres') {
    fields.tls ??= 'prefer';
    fields.ca ??= null;
    if (typeof fields.ca === 'string') checkCa(fields.ca);
  } else if (body.type === 'ssh') {
    fields.port ??= 22;
    fields.hostKeyFingerprint ??= null;
    if (typeof body.privateKey === 'string') assertUsablePrivateKey(body.privateKey, body.passphrase ?? undefined);
  } else if (body.type === 'kubernetes') {
    fields.caCert ??= null;
    fields.tlsServerName ??= null;
    fields.clientCert ??= null;
    fields.impersonate ??= false;
    if (typeof fields.caCert === 'string') checkCa(fields.caCert);
    checkKubeCredential(body as unknown as Record<string, unknown>);
  } else if (body.type === 'http') {
    fields.caCert ??= null;
    fields.auth ??= 'none';
    fields.hostHeader ??= null;
    fields.headers ??= {};
    fields.clientCert ??= null;
    if (typeof fields.caCert === 'string') checkCa(fields.caCert);
    checkKubeCredential(body as unknown as Record<string, unknown>);
  }
  const spec = specFields(deps.protocols, body.type, fields);
  const secrets = secretFields(body as unknown as Record<string, unknown>, deps, body.name, body.type);
  if (body.passphrase !== undefined && body.privateKey === undefined) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'passphrase given without privateKey');
  }
  return { ...spec, name: body.name, type: body.type, labels: body.labels ?? {}, ...secrets, createdAt: now,
    updatedAt: now } as unknown as TargetRecord;
}

/** A kubernetes or http target's client certificate: it and its key go together. */
function checkKubeCredential(body: Record<string, unknown>): void {
  if ((typeof body.clientCert === 'string') !== (typeof body.clientKey === 'string')) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'a client certificate needs its key (clientCert and clientKey together)');
  }
  if (typeof body.clientCert === 'string') {
    try {
      new X509Certificate(body.clientCert);
    } catch {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'clientCert holds no valid PEM certificate');
    }
  }
}

/** The vaulted secrets of a request: the password, and the protocol's other secrets when given. */
function secretFields(body: Record<string, unknown> & { password?: string | null },
  deps: { vault: Vault; protocols: ProtocolRegistry }, name: string, type?: string): Pick<TargetRecord, 'passwordEnc' | 'secretsEnc'> {
  const password = body.password ?? null;
  const secretsEnc: Record<string, string> = {};
  for (const field of secretNames(deps.protocols)) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (type !== undefined && !deps.protocols.require(type).secretFields.includes(field)) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `${field} is not a secret ${type} targets have`);
    }
    if (typeof value !== 'string') throw new WardenError('WARDEN_ERR_BAD_REQUEST', `${field} must be text`);
    secretsEnc[field] = deps.vault.encrypt(value, targetFieldContext(name, field));
  }
  return { passwordEnc: password === null ? null : deps.vault.encrypt(password, targetSecretContext(name)),
    ...(Object.keys(secretsEnc).length > 0 ? { secretsEnc } : {}) };
}

/** The stored record with `body` applied; kept secrets stay the same ciphertexts (never decrypted here). */
export function updatedTargetRecord(current: TargetRecord, body: UpdateTargetBody,
  deps: { vault: Vault; protocols: ProtocolRegistry }, now: string): TargetRecord {
  if (typeof body.ca === 'string') checkCa(body.ca);
  if (typeof body.privateKey === 'string') assertUsablePrivateKey(body.privateKey, body.passphrase ?? undefined);
  const definition = deps.protocols.require(current.type);
  const { name, type, labels, passwordEnc, secretsEnc, createdAt, updatedAt: _updated, ...own } = current;
  const change = body as Record<string, unknown>;
  const moved = definition.redirects?.(own, change) ?? [];
  const hasSecret = passwordEnc !== null || Object.keys(secretsEnc ?? {}).length > 0;
  const secrets = secretNames(deps.protocols);
  const newSecret = body.password !== undefined || secrets.some((f) => change[f] !== undefined);
  if (hasSecret && !newSecret && moved.length > 0) {
    const again = definition.secretsAgain ?? 'stored secrets to another server: give them again or remove them';
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `changing ${moved.join(', ')} of target ${current.name} would send its ${again}`);
  }
  if (type === 'kubernetes' || type === 'http') {
    if (typeof change.caCert === 'string') checkCa(change.caCert);
    if (change.clientCert !== undefined || change.clientKey !== undefined) checkKubeCredential(change);
  }
  const fields: Record<string, unknown> = { ...own };
  const skip = notSpec(deps.protocols);
  for (const [key, value] of Object.entries(body)) {
    if (!skip.has(key) && value !== undefined) fields[key] = value;
  }
  const spec = specFields(deps.protocols, type, fields);
  const next = secretFields(change, deps, name, type);
  const kept: Record<string, string> = { ...secretsEnc };
  for (const field of secrets) {
    if (change[field] === null) delete kept[field];
    else if (next.secretsEnc?.[field] !== undefined) kept[field] = next.secretsEnc[field];
  }
  // A new private key replaces the old key's passphrase unless one comes with it.
  if (body.privateKey !== undefined && body.passphrase === undefined) delete kept.passphrase;
  return { ...spec, name, type, labels: body.labels ?? labels, createdAt, updatedAt: now,
    passwordEnc: body.password === undefined ? passwordEnc : next.passwordEnc,
    ...(Object.keys(kept).length > 0 ? { secretsEnc: kept } : {}) } as unknown as TargetRecord;
}
