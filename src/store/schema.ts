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

/** Every table Warden's store knows, as kysely's `Database` type parameter. */
export interface Database {
  targets: TargetsTable;
  tokens: TokensTable;
  sessions: SessionsTable;
  session_event_chunks: SessionEventChunksTable;
  policies: PoliciesTable;
}
