/**
 * The store's contract: plain records and the repositories that read and write them. Callers depend on this file
 * only, never on kysely or on a particular database, so a PostgreSQL store can replace the embedded SQLite one
 * without touching them. Timestamps are ISO-8601 strings in UTC.
 */
import type { Actor, PrincipalKind, ProtocolName, Target } from '../session/types.js';
import type { ApprovalRepository } from './approval-types.js';
import type { IdentityProviderRepository, ServiceAccountRepository, UserRepository } from './identity-types.js';
import type { SshHostKeyRepository } from './ssh-host-key-types.js';
import type { SshKeyRepository } from './ssh-key-types.js';

export type * from './approval-types.js';
export type * from './identity-types.js';
export type * from './ssh-host-key-types.js';
export type * from './ssh-key-types.js';

/**
 * A target as stored: its protocol's fields (Target, one variant per protocol) plus vault ciphertexts of its
 * secrets. Secrets never leave the server.
 */
export type TargetRecord = Target & {
  /** Vault ciphertext of the backend password, null when the backend needs none. */
  passwordEnc: string | null;
  /** Vault ciphertexts of the protocol's other secrets by name (ssh: `privateKey`, `passphrase`); absent when none. */
  secretsEnc?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
};

/** A token Warden issued; the token text itself is never stored. */
export interface TokenRecord {
  id: string;
  subject: string;
  subjectKind: PrincipalKind;
  groups: string[];
  targets: string[];
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  /** The token this one was delegated from; null for a token issued directly. */
  parentId: string | null;
  /** The principals this token acts for, origin first; empty for a token issued directly. */
  chain: Actor[];
  /** Statement classes the token is narrowed to; null means every class. */
  classes: string[] | null;
  /** The API key this token was traded for (revoking the key revokes it); null or absent otherwise. */
  apiKeyId?: string | null;
}

/** One session of one caller on one target. */
export interface SessionRecord {
  id: string;
  protocol: ProtocolName;
  subject: string;
  subjectKind: PrincipalKind;
  groups: string[];
  chain: Actor[];
  tokenId: string;
  target: string;
  database: string;
  clientAddress: string;
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
}

/** One event of a session's append-only stream. `seq` is unique and increasing within a session. */
export interface SessionEventRecord {
  sessionId: string;
  seq: number;
  at: string;
  type: string;
  data: Record<string, unknown>;
}

/**
 * Consecutive events of one session, already serialised (the recorder serialises each event once, when appended,
 * and keeps the text until the store accepts it). `events` is a JSON array of `{ seq, at, type, data }` in seq order.
 */
export interface EventChunk {
  sessionId: string;
  firstSeq: number;
  lastSeq: number;
  events: string;
}

/** Filters for listing sessions, newest first. */
export interface SessionQuery {
  limit?: number;
  subject?: string;
  target?: string;
  active?: boolean;
}

/** Targets: upsert-free on purpose, so an `add` never silently replaces a target. */
export interface TargetRepository {
  /** Inserts a target; throws WardenError WARDEN_ERR_CONFLICT when the name exists. */
  insert(target: TargetRecord): Promise<void>;
  get(name: string): Promise<TargetRecord | undefined>;
  list(): Promise<TargetRecord[]>;
  /** Replaces every field of the target named `target.name` except its creation time; false when there is none. */
  update(target: TargetRecord): Promise<boolean>;
  /** Returns false when there was no such target. */
  remove(name: string): Promise<boolean>;
}

/** Issued tokens and their revocation. */
export interface TokenRepository {
  insert(token: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Marks a token revoked; returns false when there was no such token. Revoking twice keeps the first time. */
  revoke(id: string, at: string): Promise<boolean>;
  /** Tokens delegated directly from `parentId`. */
  children(parentId: string): Promise<TokenRecord[]>;
  /** Unrevoked tokens whose subject is `subject`, or whose chain names it. */
  activeFor(subject: string): Promise<TokenRecord[]>;
  /** Every token ever issued to `subject` (revoked and expired ones too), e.g. to see who holds a name. */
  bySubject(subject: string): Promise<TokenRecord[]>;
  /** Every token traded for the API key `keyId`. */
  fromApiKey(keyId: string): Promise<TokenRecord[]>;
}

/** Sessions and their events. */
export interface SessionRepository {
  insert(session: SessionRecord): Promise<void>;
  /** Ends a session once: ending it again, or ending an unknown id, changes nothing. */
  end(id: string, at: string, reason: string): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  /** Newest first; `limit` defaults to 100 and must be 1..1000 (else WARDEN_ERR_BAD_REQUEST). */
  list(query?: SessionQuery): Promise<SessionRecord[]>;
  /** Appends many events in one transaction (the recorder batches them); a repeated seq fails the whole batch
   *  with WARDEN_ERR_CONFLICT. */
  appendEvents(events: SessionEventRecord[]): Promise<void>;
  /** Appends serialised chunks in one transaction; a chunk overlapping a stored one fails the whole batch with
   *  WARDEN_ERR_CONFLICT. */
  appendChunks(chunks: EventChunk[]): Promise<void>;
  /** A session's events in `seq` order. */
  events(sessionId: string): Promise<SessionEventRecord[]>;
  /** A session's events with `fromSeq <= seq <= toSeq` (toSeq absent: to the end), in `seq` order; reads only the
   *  chunks that hold them (a player seeking in a long recording). */
  eventsRange(sessionId: string, fromSeq: number, toSeq?: number): Promise<SessionEventRecord[]>;
  /** The highest sequence number stored for a session (0 when it has none). */
  lastSeq(sessionId: string): Promise<number>;
  /** Ends every session still open, e.g. after a crash left them dangling; returns how many. */
  endDangling(at: string, reason: string): Promise<number>;
}

/**
 * A policy resource as stored. `document` is the validated policy (src/policy/schema.ts) as plain JSON: the store
 * does not know the policy language, and the policy catalog re-validates every document it loads.
 */
export interface PolicyRecord {
  name: string;
  document: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** Policies: upserted by name, because `warden apply` is declarative (apply the same file twice, same result). */
export interface PolicyRepository {
  /** Inserts or replaces the policy named `record.name`; an update keeps the stored `createdAt`. */
  put(record: PolicyRecord): Promise<'created' | 'updated'>;
  get(name: string): Promise<PolicyRecord | undefined>;
  /** Every policy, by name. */
  list(): Promise<PolicyRecord[]>;
  /** Returns false when there was no such policy. */
  remove(name: string): Promise<boolean>;
}

/** The whole store. Every method throws WARDEN_ERR_STORE_UNAVAILABLE when the database fails or is closed. */
export interface Store {
  targets: TargetRepository;
  tokens: TokenRepository;
  sessions: SessionRepository;
  policies: PolicyRepository;
  approvals: ApprovalRepository;
  users: UserRepository;
  serviceAccounts: ServiceAccountRepository;
  identityProviders: IdentityProviderRepository;
  sshHostKeys: SshHostKeyRepository;
  sshKeys: SshKeyRepository;
  close(): Promise<void>;
}
