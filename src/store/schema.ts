/**
 * The kysely view of Warden's tables: one interface per table, column names as they are in the database.
 * JSON-shaped fields (labels, groups, targets, chain, data) are TEXT columns holding JSON, and timestamps are
 * ISO-8601 TEXT, so the same schema works unchanged on SQLite and PostgreSQL.
 * This module holds types only; it must never be imported by code outside src/store (callers use types.ts).
 */

/** `targets`: one row per backend; `password_enc` is vault ciphertext, never plaintext. */
export interface TargetsTable {
  name: string;
  type: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password_enc: string | null;
  tls: string;
  ca: string | null;
  /** JSON object of string labels. */
  labels: string;
  created_at: string;
  updated_at: string;
  /**
   * JSON object of the protocol's own target fields for protocols other than postgres (whose fields keep their
   * columns); null on postgres rows, including every row written before migration 006.
   */
  spec?: string | null;
  /** JSON object of vault ciphertexts by secret name besides the password (ssh: privateKey, passphrase); or null. */
  secrets_enc?: string | null;
}

/** `tokens`: issued Warden tokens (never the token text) and their revocation time. */
export interface TokensTable {
  id: string;
  subject: string;
  subject_kind: string;
  /** JSON array of group names. */
  groups: string;
  /** JSON array of target name patterns. */
  targets: string;
  issued_at: string;
  expires_at: string;
  revoked_at: string | null;
  /** The token this one was delegated from; null for a root token. */
  parent_id: string | null;
  /** JSON array of the principals this token acts for, origin first (empty for a root token). */
  chain: string;
  /** JSON array of statement classes the token is narrowed to; null means every class. */
  classes: string | null;
  /** The API key this token was traded for; null otherwise (migration 005). */
  api_key_id: string | null;
}

/** `sessions`: one row per caller session on a target; `ended_at` is null while it runs. */
export interface SessionsTable {
  id: string;
  protocol: string;
  subject: string;
  subject_kind: string;
  /** JSON array of group names. */
  groups: string;
  /** JSON array of delegation actors, outermost first. */
  chain: string;
  token_id: string;
  target: string;
  database: string;
  client_address: string;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
}

/**
 * `session_event_chunks`: the append-only event stream of each session, in chunks of consecutive events (one per
 * recorder flush), keyed by (session_id, first_seq). Chunks of one session never overlap.
 */
export interface SessionEventChunksTable {
  session_id: string;
  first_seq: number;
  last_seq: number;
  /** JSON array of `{ seq, at, type, data }`, in seq order. */
  events: string;
}

/** `policies`: one row per policy resource; `document` is the validated policy as JSON text. */
export interface PoliciesTable {
  name: string;
  document: string;
  created_at: string;
  updated_at: string;
}

/** `users`: people known to Warden (first sign-in, or an operator disabling a name in advance). */
export interface UsersTable {
  name: string;
  email: string | null;
  display_name: string | null;
  /** JSON array of Warden groups from the last sign-in. */
  groups: string;
  provider: string | null;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
}

/** `service_accounts`: non-human principals (services and agents) that sign in with API keys. */
export interface ServiceAccountsTable {
  name: string;
  kind: string;
  description: string | null;
  /** JSON array of Warden groups its tokens carry. */
  groups: string;
  /** JSON array of target patterns its tokens are limited to. */
  targets: string;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

/** `api_keys`: a service account's keys; only a SHA-256 of the secret is kept. */
export interface ApiKeysTable {
  id: string;
  service_account: string;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** `identity_providers`: OIDC and SAML provider resources; `secret_enc` is the vault-encrypted client secret. */
export interface IdentityProvidersTable {
  name: string;
  type: string;
  document: string;
  secret_enc: string | null;
  created_at: string;
  updated_at: string;
}

/** `ssh_host_keys`: host keys of SSH servers seen first (trust on first use), by `host:port` (migration 007). */
export interface SshHostKeysTable {
  endpoint: string;
  fingerprint: string;
  public_key: string;
  target: string;
  first_seen_at: string;
}

/** `ssh_keys`: SSH public keys registered to a user or a service account (migration 008). */
export interface SshKeysTable {
  id: string;
  /** `SHA256:<base64>` of the public key blob, as OpenSSH prints it; unique. */
  fingerprint: string;
  /** `user` or `service` (a service account, whatever its kind). */
  owner_kind: string;
  owner: string;
  name: string | null;
  algorithm: string;
  /** The public key in OpenSSH's one-line form (`ssh-ed25519 AAAA...`), without the comment. */
  public_key: string;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  last_used_at: string | null;
}

/** Every table Warden's store knows, as kysely's `Database` type parameter. */
export interface Database {
  targets: TargetsTable;
  tokens: TokensTable;
  sessions: SessionsTable;
  session_event_chunks: SessionEventChunksTable;
  policies: PoliciesTable;
  users: UsersTable;
  service_accounts: ServiceAccountsTable;
  api_keys: ApiKeysTable;
  identity_providers: IdentityProvidersTable;
  ssh_host_keys: SshHostKeysTable;
  ssh_keys: SshKeysTable;
}
