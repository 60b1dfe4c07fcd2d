/**
 * The store's contract for identity: users, service accounts with their API keys, and identity provider resources.
 * Types only; types.ts re-exports them so callers keep one import path. Timestamps are ISO-8601 strings in UTC.
 */
import type { PrincipalKind } from '../session/types.js';

/** A person known to Warden: created on first sign-in, or by an operator who disables a name in advance. */
export interface UserRecord {
  name: string;
  email: string | null;
  displayName: string | null;
  /** Warden groups from the last sign-in (after the provider's group mapping). */
  groups: string[];
  /** The identity provider of the last sign-in, null for a user only an operator named. */
  provider: string | null;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}

/** What a sign-in learned about a user. */
export interface UserLogin {
  name: string;
  email: string | null;
  displayName: string | null;
  groups: string[];
  provider: string;
  at: string;
}

/** Users: upserted at sign-in; disabling keeps the row so the name stays refused. */
export interface UserRepository {
  /** Creates or refreshes the user from a sign-in and returns the stored record (which may be disabled). */
  recordLogin(login: UserLogin): Promise<UserRecord>;
  get(name: string): Promise<UserRecord | undefined>;
  list(): Promise<UserRecord[]>;
  /** Sets or clears `disabledAt`, creating the row when the name is unknown (so it is refused from now on). */
  setDisabled(name: string, disabledAt: string | null, at: string): Promise<UserRecord>;
}

/** A non-human principal: a service or an AI agent that signs in with an API key. */
export interface ServiceAccountRecord {
  name: string;
  kind: Extract<PrincipalKind, 'service' | 'agent'>;
  description: string | null;
  groups: string[];
  /** Target patterns every token of this account is limited to. */
  targets: string[];
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** An API key of a service account. The secret itself is never stored, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  serviceAccount: string;
  secretHash: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Service accounts and their keys. */
export interface ServiceAccountRepository {
  /** Inserts an account; WARDEN_ERR_CONFLICT when the name exists. */
  insert(account: ServiceAccountRecord): Promise<void>;
  get(name: string): Promise<ServiceAccountRecord | undefined>;
  list(): Promise<ServiceAccountRecord[]>;
  /** Sets or clears `disabledAt`; returns the record, undefined for an unknown name. */
  setDisabled(name: string, disabledAt: string | null, at: string): Promise<ServiceAccountRecord | undefined>;
  insertKey(key: ApiKeyRecord): Promise<void>;
  getKey(id: string): Promise<ApiKeyRecord | undefined>;
  listKeys(serviceAccount: string): Promise<ApiKeyRecord[]>;
  /** Marks a key used now. */
  touchKey(id: string, at: string): Promise<void>;
  /** Revokes a key once; false when there is no such key. */
  revokeKey(id: string, at: string): Promise<boolean>;
}

/** An identity provider resource as stored: its validated document and the vault-encrypted client secret. */
export interface IdentityProviderRecord {
  name: string;
  type: 'oidc' | 'saml';
  /** The validated resource (src/identity/providers.ts) as JSON, without any secret. */
  document: Record<string, unknown>;
  /** Vault ciphertext of the OIDC client secret (associated data `idp:<name>`), null when there is none. */
  secretEnc: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Identity providers: upserted by name, like policies, because `warden apply` is declarative. */
export interface IdentityProviderRepository {
  put(record: IdentityProviderRecord): Promise<'created' | 'updated'>;
  get(name: string): Promise<IdentityProviderRecord | undefined>;
  list(): Promise<IdentityProviderRecord[]>;
  remove(name: string): Promise<boolean>;
}
