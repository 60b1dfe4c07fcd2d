/**
 * Translation between the store's records (types.ts, camelCase, real arrays and objects) and database rows
 * (schema.ts, snake_case, JSON as TEXT). Pure functions only: no database access, no validation of business
 * rules. A row whose JSON does not parse throws, and the repository reports that as the store being unusable.
 */
import type { Actor, PrincipalKind, ProtocolName, TlsMode } from '../session/types.js';
import type { SessionsTable, SessionEventChunksTable, TokensTable } from './schema.js';
import type { SessionEventRecord, SessionRecord, TokenRecord } from './types.js';

/** Parses a JSON array column, insisting on an array so a corrupt row cannot pass as data. */
export function jsonArray<T>(text: string, column: string): T[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value)) throw new Error(`column ${column} does not hold a JSON array`);
  return value as T[];
}

/** Parses a JSON object column, insisting on a plain object. */
export function jsonObject<T extends object>(text: string, column: string): T {
  const value: unknown = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`column ${column} does not hold a JSON object`);
  }
  return value as T;
}

export { targetFromRow, targetToRow } from './target-rows.js';

/** A token record as a row. */
export function tokenToRow(t: TokenRecord): TokensTable {
  return {
    id: t.id,
    subject: t.subject,
    subject_kind: t.subjectKind,
    groups: JSON.stringify(t.groups),
    targets: JSON.stringify(t.targets),
    issued_at: t.issuedAt,
    expires_at: t.expiresAt,
    revoked_at: t.revokedAt,
    parent_id: t.parentId,
    chain: JSON.stringify(t.chain),
    classes: t.classes === null ? null : JSON.stringify(t.classes),
    api_key_id: t.apiKeyId ?? null,
  };
}

/** A tokens row as a record. */
export function tokenFromRow(r: TokensTable): TokenRecord {
  return {
    id: r.id,
    subject: r.subject,
    subjectKind: r.subject_kind as PrincipalKind,
    groups: jsonArray<string>(r.groups, 'tokens.groups'),
    targets: jsonArray<string>(r.targets, 'tokens.targets'),
    issuedAt: r.issued_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    parentId: r.parent_id,
    chain: jsonArray<Actor>(r.chain, 'tokens.chain'),
    classes: r.classes === null ? null : jsonArray<string>(r.classes, 'tokens.classes'),
    ...(r.api_key_id === null || r.api_key_id === undefined ? {} : { apiKeyId: r.api_key_id }),
  };
}

/** A session record as a row. */
export function sessionToRow(s: SessionRecord): SessionsTable {
  return {
    id: s.id,
    protocol: s.protocol,
    subject: s.subject,
    subject_kind: s.subjectKind,
    groups: JSON.stringify(s.groups),
    chain: JSON.stringify(s.chain),
    token_id: s.tokenId,
    target: s.target,
    database: s.database,
    client_address: s.clientAddress,
    started_at: s.startedAt,
    ended_at: s.endedAt,
    end_reason: s.endReason,
  };
}

/** A sessions row as a record. */
export function sessionFromRow(r: SessionsTable): SessionRecord {
  return {
    id: r.id,
    protocol: r.protocol as ProtocolName,
    subject: r.subject,
    subjectKind: r.subject_kind as PrincipalKind,
    groups: jsonArray<string>(r.groups, 'sessions.groups'),
    chain: jsonArray<Actor>(r.chain, 'sessions.chain'),
    tokenId: r.token_id,
    target: r.target,
    database: r.database,
    clientAddress: r.client_address,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    endReason: r.end_reason,
  };
}

/** One event as stored inside a chunk (the session id is the chunk's). */
interface StoredEvent {
  seq: number;
  at: string;
  type: string;
  data: Record<string, unknown>;
}

/** Events of one session, sorted by seq, as one chunk row. */
export function eventsToChunk(sessionId: string, events: SessionEventRecord[]): SessionEventChunksTable {
  const stored: StoredEvent[] = events.map((e) => ({ seq: e.seq, at: e.at, type: e.type, data: e.data ?? {} }));
  return { session_id: sessionId, first_seq: stored[0].seq, last_seq: stored[stored.length - 1].seq,
    events: JSON.stringify(stored) };
}

/** A chunk row as the records of its events. */
export function eventsFromChunk(r: SessionEventChunksTable): SessionEventRecord[] {
  return jsonArray<StoredEvent>(r.events, 'session_event_chunks.events').map((e) => ({ sessionId: r.session_id, seq: Number(e.seq), at: e.at, type: e.type,
    data: e.data ?? {} }));
}
