/**
 * Service accounts for agents and services, and their API keys. A key is shown once when created and stored only
 * as a SHA-256 hash (keys are 256 random bits, so a slow password hash would add nothing); an agent trades its key
 * for a short-lived Warden token (`POST /api/oauth/token`, client credentials), so the long-lived secret never
 * reaches a target. Disabled accounts, revoked and expired keys are refused with one error that does not say which
 * part was wrong.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { WardenError } from '../errors.js';
import type { ApiKeyRecord, ServiceAccountRecord, Store } from '../store/types.js';
import { isStringList } from './claims.js';
import { narrowTargets } from './scope.js';
import type { IssuedToken, TokenService } from './tokens.js';

/** Prefix of every API key, so secret scanners and people can recognise one. */
export const API_KEY_PREFIX = 'wk_';
/** Default and longest life of a token obtained with an API key. */
export const DEFAULT_KEY_TOKEN_TTL_SECONDS = 900;
export const MAX_KEY_TOKEN_TTL_SECONDS = 3600;

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
const KEY_PATTERN = /^wk_([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;

/** What creating a service account takes. */
export interface CreateServiceAccount {
  name: string;
  kind?: 'service' | 'agent';
  description?: string;
  groups?: string[];
  targets?: string[];
}

/** A new API key: `key` is shown once and never stored. */
export interface CreatedKey {
  key: string;
  record: ApiKeyRecord;
}

const hashSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');
const badKey = () => new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'invalid, expired or revoked API key');
const badRequest = (message: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', message);

/** Service accounts, API keys and the key-for-token exchange. */
export class ServiceAccounts {
  constructor(private readonly deps: { store: Store; tokens: TokenService; now?: () => number }) {}

  /** Creates an account; WARDEN_ERR_CONFLICT when the name exists. */
  async create(req: CreateServiceAccount): Promise<ServiceAccountRecord> {
    if (typeof req.name !== 'string' || !NAME.test(req.name)) {
      throw badRequest('service account name must be 1-63 letters, digits, . _ - starting with a letter or digit');
    }
    const groups = req.groups ?? [];
    const targets = req.targets ?? ['*'];
    if (!isStringList(groups)) throw badRequest('groups must be non-empty strings');
    if (!isStringList(targets) || targets.length === 0) throw badRequest('targets must be non-empty strings');
    // A name a sub-agent was delegated under stays that agent's: an account of that name would inherit its grants.
    if ((await this.deps.store.tokens.bySubject(req.name)).length > 0) {
      throw new WardenError('WARDEN_ERR_CONFLICT', `"${req.name}" already holds Warden tokens (a user or sub-agent); choose another name`);
    }
    const at = this.iso();
    const record: ServiceAccountRecord = {
      name: req.name, kind: req.kind ?? 'service', description: req.description ?? null, groups: [...new Set(groups)],
      targets: [...new Set(targets)], disabledAt: null, createdAt: at, updatedAt: at,
    };
    await this.deps.store.serviceAccounts.insert(record);
    return record;
  }

  /** The account or WARDEN_ERR_NOT_FOUND. */
  async get(name: string): Promise<ServiceAccountRecord> {
    const account = await this.deps.store.serviceAccounts.get(name);
    if (!account) throw new WardenError('WARDEN_ERR_NOT_FOUND', `service account "${name}" not found`);
    return account;
  }

  /** Disables (or enables again) an account; its keys stop (or start) working. */
  async setDisabled(name: string, disabled: boolean): Promise<ServiceAccountRecord> {
    const at = this.iso();
    const account = await this.deps.store.serviceAccounts.setDisabled(name, disabled ? at : null, at);
    if (!account) throw new WardenError('WARDEN_ERR_NOT_FOUND', `service account "${name}" not found`);
    return account;
  }

  /** Creates an API key for an account, optionally expiring after `ttlSeconds`. */
  async createKey(name: string, ttlSeconds?: number): Promise<CreatedKey> {
    await this.get(name);
    if (ttlSeconds !== undefined && (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)) {
      throw badRequest('key lifetime must be positive');
    }
    const id = `key_${randomBytes(12).toString('base64url')}`;
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id, serviceAccount: name, secretHash: hashSecret(secret), createdAt: this.iso(),
      expiresAt: ttlSeconds === undefined ? null : new Date(this.now() + ttlSeconds * 1000).toISOString(),
      lastUsedAt: null, revokedAt: null,
    };
    await this.deps.store.serviceAccounts.insertKey(record);
    return { key: `${API_KEY_PREFIX}${id.slice(4)}.${secret}`, record };
  }

  /**
   * Revokes a key by id and every token traded for it (with the tokens delegated from those); WARDEN_ERR_NOT_FOUND
   * when unknown. Live sessions are ended by the kill switch (KillSwitch.revokeApiKey), which the control API uses.
   */
  async revokeKey(id: string): Promise<ApiKeyRecord> {
    if (!(await this.deps.store.serviceAccounts.revokeKey(id, this.iso()))) {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', `API key "${id}" not found`);
    }
    for (const token of await this.deps.store.tokens.fromApiKey(id)) await this.deps.tokens.revokeTree(token.id);
    return (await this.deps.store.serviceAccounts.getKey(id))!;
  }

  /**
   * Trades an API key for a short-lived Warden token of its account, optionally narrowed to some targets.
   * `clientId`, when given, must name the key's account (OAuth client credentials). WARDEN_ERR_UNAUTHENTICATED
   * for any bad key, WARDEN_ERR_PRINCIPAL_DISABLED for a disabled account.
   */
  async exchange(key: string, options: { clientId?: string; targets?: string[]; ttlSeconds?: number } = {}): Promise<IssuedToken> {
    const match = typeof key === 'string' ? KEY_PATTERN.exec(key) : null;
    if (!match) throw badKey();
    const record = await this.deps.store.serviceAccounts.getKey(`key_${match[1]}`);
    const expected = Buffer.from(record?.secretHash ?? '0'.repeat(64), 'hex');
    const given = Buffer.from(hashSecret(match[2]), 'hex');
    // Compared in constant time even for unknown ids, so timing tells nothing about which keys exist.
    if (!timingSafeEqual(expected, given) || !record || record.revokedAt !== null) throw badKey();
    if (record.expiresAt !== null && Date.parse(record.expiresAt) <= this.now()) throw badKey();
    if (options.clientId !== undefined && options.clientId !== record.serviceAccount) throw badKey();
    const account = await this.deps.store.serviceAccounts.get(record.serviceAccount);
    if (!account) throw badKey();
    if (account.disabledAt !== null) {
      throw new WardenError('WARDEN_ERR_PRINCIPAL_DISABLED', `service account "${account.name}" is disabled`);
    }
    const ttl = options.ttlSeconds ?? DEFAULT_KEY_TOKEN_TTL_SECONDS;
    if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_KEY_TOKEN_TTL_SECONDS) {
      throw badRequest(`a token from an API key lives at most ${MAX_KEY_TOKEN_TTL_SECONDS} seconds`);
    }
    await this.deps.store.serviceAccounts.touchKey(record.id, this.iso());
    return this.deps.tokens.issue({
      subject: account.name, kind: account.kind, groups: account.groups,
      targets: narrowTargets(account.targets, options.targets), ttlSeconds: ttl, apiKeyId: record.id,
    });
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}
