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

/** A target as the API returns it: the protocol's non-secret fields, and only whether each secret is stored. */
export interface TargetView {
  name: string;
  type: string;
  host: string;
  port: number;
  user: string;
  /** postgres only. */
  database?: string;
  /** postgres only. */
  tls?: TlsMode;
  hasPassword: boolean;
  /** postgres only. */
  hasCa?: boolean;
  /** ssh only: a private key is stored (never shown). */
  hasPrivateKey?: boolean;
  /** ssh only: the pinned host key fingerprint, null until the first connection records one. */
  hostKeyFingerprint?: string | null;
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

/** The public view of a stored target: built field by field so a new secret can never slip through. */
export function toTargetView(t: TargetRecord): TargetView {
  // Until the kubernetes engine lands its own view, a kubernetes target shows its server URL as its host.
  if (t.type === 'kubernetes') {
    return { name: t.name, type: t.type, host: t.server, port: 0, user: '', hasPassword: t.passwordEnc !== null,
      labels: t.labels, createdAt: t.createdAt, updatedAt: t.updatedAt };
  }
  const common = { name: t.name, type: t.type, host: t.host, port: t.port, user: t.user,
    hasPassword: t.passwordEnc !== null, labels: t.labels, createdAt: t.createdAt, updatedAt: t.updatedAt };
  if (t.type === 'postgres') return { ...common, database: t.database, tls: t.tls, hasCa: t.ca !== null };
  return { ...common, hasPrivateKey: t.secretsEnc?.privateKey !== undefined, hostKeyFingerprint: t.hostKeyFingerprint };
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

/** Request fields that are secrets or bookkeeping, never part of a protocol's target spec. */
const NOT_SPEC = new Set(['name', 'type', 'labels', 'password', 'privateKey', 'passphrase']);
/** Secret request fields besides the password, by protocol secret name. */
const SECRET_FIELDS = ['privateKey', 'passphrase'] as const;

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
  for (const [key, value] of Object.entries(body)) if (!NOT_SPEC.has(key) && value !== undefined) fields[key] = value;
  // Defaults that keep their pre-union meaning: PostgreSQL TLS `prefer`, no CA; SSH port 22, no pinned key yet.
  if (body.type === 'postgres') {
    fields.tls ??= 'prefer';
    fields.ca ??= null;
    if (typeof fields.ca === 'string') checkCa(fields.ca);
  } else if (body.type === 'ssh') {
    fields.port ??= 22;
    fields.hostKeyFingerprint ??= null;
    if (typeof body.privateKey === 'string') assertUsablePrivateKey(body.privateKey, body.passphrase ?? undefined);
  }
  const spec = specFields(deps.protocols, body.type, fields);
  const secrets = secretFields(body, deps, body.name, body.type);
  if (body.passphrase !== undefined && body.privateKey === undefined) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'passphrase given without privateKey');
  }
  return { ...spec, name: body.name, type: body.type, labels: body.labels ?? {}, ...secrets, createdAt: now,
    updatedAt: now } as unknown as TargetRecord;
}

/** The vaulted secrets of a request: the password, and the protocol's other secrets when given. */
function secretFields(body: { password?: string | null; privateKey?: string | null; passphrase?: string | null },
  deps: { vault: Vault; protocols: ProtocolRegistry }, name: string, type?: string): Pick<TargetRecord, 'passwordEnc' | 'secretsEnc'> {
  const password = body.password ?? null;
  const secretsEnc: Record<string, string> = {};
  for (const field of SECRET_FIELDS) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (type !== undefined && !deps.protocols.require(type).secretFields.includes(field)) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `${field} is not a secret ${type} targets have`);
    }
    secretsEnc[field] = deps.vault.encrypt(value, targetFieldContext(name, field));
  }
  return { passwordEnc: password === null ? null : deps.vault.encrypt(password, targetSecretContext(name)),
    ...(Object.keys(secretsEnc).length > 0 ? { secretsEnc } : {}) };
}

/** TLS modes from weakest to strongest; lowering one could expose the stored password to a man in the middle. */
const TLS_STRENGTH: Record<TlsMode, number> = { disable: 0, prefer: 1, require: 2, 'verify-full': 3 };

/** Which changes would send the stored secrets to a server they were not given for. */
function redirects(current: TargetRecord, body: UpdateTargetBody): string[] {
  const changed: string[] = [];
  if (current.type === 'kubernetes') return changed; // TODO(kubernetes engine): server, caCert, tlsServerName
  if (body.host !== undefined && body.host !== current.host) changed.push('host');
  if (body.port !== undefined && body.port !== current.port) changed.push('port');
  if (body.user !== undefined && body.user !== current.user) changed.push('user');
  if (current.type === 'postgres') {
    if (body.ca !== undefined && body.ca !== current.ca) changed.push('ca');
    if (body.tls !== undefined && TLS_STRENGTH[body.tls] < TLS_STRENGTH[current.tls]) changed.push('tls (weaker)');
  } else if (body.hostKeyFingerprint !== undefined && body.hostKeyFingerprint !== current.hostKeyFingerprint) {
    changed.push('host key');
  }
  return changed;
}

/** The stored record with `body` applied; kept secrets stay the same ciphertexts (never decrypted here). */
export function updatedTargetRecord(current: TargetRecord, body: UpdateTargetBody,
  deps: { vault: Vault; protocols: ProtocolRegistry }, now: string): TargetRecord {
  if (typeof body.ca === 'string') checkCa(body.ca);
  if (typeof body.privateKey === 'string') assertUsablePrivateKey(body.privateKey, body.passphrase ?? undefined);
  const moved = redirects(current, body);
  const hasSecret = current.passwordEnc !== null || Object.keys(current.secretsEnc ?? {}).length > 0;
  const newSecret = body.password !== undefined || body.privateKey !== undefined;
  if (hasSecret && !newSecret && moved.length > 0) {
    // PostgreSQL targets hold a password only; ssh targets a password or a private key.
    const again = current.type === 'postgres'
      ? 'stored password to another server: give the password again (--password-stdin) or remove it (--no-password)'
      : 'stored secrets to another server: give them again (--password-stdin or --private-key-file) or remove them '
        + '(--no-password, --no-private-key)';
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `changing ${moved.join(', ')} of target ${current.name} would send its ${again}`);
  }
  const { name, type, labels, passwordEnc, secretsEnc, createdAt, updatedAt: _updated, ...own } = current;
  const fields: Record<string, unknown> = { ...own };
  for (const [key, value] of Object.entries(body)) {
    if (!NOT_SPEC.has(key) && value !== undefined) fields[key] = value;
  }
  const spec = specFields(deps.protocols, type, fields);
  const next = secretFields(body, deps, name, type);
  const secrets: Record<string, string> = { ...secretsEnc };
  for (const field of SECRET_FIELDS) {
    if (body[field] === null) delete secrets[field];
    else if (next.secretsEnc?.[field] !== undefined) secrets[field] = next.secretsEnc[field];
  }
  // A new private key replaces the old key's passphrase unless one comes with it.
  if (body.privateKey !== undefined && body.passphrase === undefined) delete secrets.passphrase;
  return { ...spec, name, type, labels: body.labels ?? labels, createdAt, updatedAt: now,
    passwordEnc: body.password === undefined ? passwordEnc : next.passwordEnc,
    ...(Object.keys(secrets).length > 0 ? { secretsEnc: secrets } : {}) } as unknown as TargetRecord;
}
