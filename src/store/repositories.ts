/**
 * The repositories of types.ts written once against kysely, so every dialect (SQLite now, PostgreSQL later)
 * shares them. Every method runs inside `guard`, which turns any unexpected database failure into
 * WARDEN_ERR_STORE_UNAVAILABLE so callers fail closed on one code. This module must never open connections or
 * know which database it talks to: the dialect modules (sqlite.ts) do that and hand it a Kysely instance.
 */
import type { Kysely } from 'kysely';
import { WardenError } from '../errors.js';
import { approvalRepository } from './approvals.js';
import { identityProviderRepository, serviceAccountRepository, userRepository } from './identity.js';
import { policyRepository } from './policies.js';
import { sshHostKeyRepository } from './ssh-host-keys.js';
import { sshKeyRepository } from './ssh-keys.js';
import type { Database, SessionEventChunksTable } from './schema.js';
import {
  eventsFromChunk, eventsToChunk, sessionFromRow, sessionToRow, targetFromRow, targetToRow, tokenFromRow, tokenToRow,
} from './rows.js';
import type {
  EventChunk, SessionEventRecord, SessionQuery, SessionRecord, SessionRepository, Store, TargetRecord, TargetRepository,
  TokenRecord, TokenRepository,
} from './types.js';

/** Default and largest page for `sessions.list`. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** Shared between a store and its repositories so a closed store refuses work without touching the driver. */
interface StoreState {
  closed: boolean;
}

/** True for a primary-key or unique violation on SQLite (better-sqlite3) or PostgreSQL (pg, SQLSTATE 23505). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/**
 * How long an operation keeps retrying while another connection holds the lock it needs (ms). Each attempt blocks
 * the event loop for at most the driver's busy timeout (a few ms); the waits between attempts are timers.
 */
export const BUSY_RETRY_DEADLINE_MS = 5000;
/** First and longest wait between two attempts of a busy operation (ms); the wait doubles in between. */
const BUSY_RETRY_FIRST_MS = 2;
const BUSY_RETRY_MAX_MS = 100;

/** The driver's error code (`SQLITE_BUSY`, `SQLITE_FULL`, a SQLSTATE, ...) of a failure or of its causes. */
export function driverErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('WARDEN_ERR_')) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The innermost cause of a store failure as one line (`SQLITE_FULL: database or disk is full`), for logs. */
export function storeFailureCause(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && (e as { cause?: unknown } | null)?.cause !== undefined; depth++) {
    e = (e as { cause?: unknown }).cause;
  }
  const message = e instanceof Error ? e.message : String(e);
  const code = driverErrorCode(err);
  return code ? `${code}: ${message}` : message;
}

/** True when another connection holds a lock this operation needs; the operation can simply be tried again. */
function isBusy(err: unknown): boolean {
  const code = driverErrorCode(err);
  return code !== undefined && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/**
 * True when a failure is the store's as a whole (locked, full disk, I/O error, closed), not the fault of what was
 * written: the same write may succeed once the store recovers, so it must be kept, not dropped.
 */
export function isStoreOutage(err: unknown): boolean {
  if (err instanceof WardenError && err.code === 'WARDEN_ERR_STORE_UNAVAILABLE' && /: closed$/.test(err.detail ?? '')) return true;
  const code = driverErrorCode(err);
  if (code !== undefined) return /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL)/.test(code);
  // better-sqlite3 throws a plain TypeError once its handle is closed.
  return err instanceof WardenError && err.code === 'WARDEN_ERR_STORE_UNAVAILABLE'
    && /database connection is not open/.test(storeFailureCause(err));
}

/**
 * Runs one repository operation, mapping unexpected failures to WARDEN_ERR_STORE_UNAVAILABLE. While the database
 * is locked by another connection, the operation is retried after growing timer waits for up to
 * BUSY_RETRY_DEADLINE_MS, so the event loop keeps serving sessions in between.
 */
async function guard<T>(state: StoreState, op: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  let wait = BUSY_RETRY_FIRST_MS;
  for (;;) {
    if (state.closed) {
      throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', 'Warden store unavailable', { detail: `${op}: closed` });
    }
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WardenError) throw err;
      if (isBusy(err) && Date.now() - started + wait <= BUSY_RETRY_DEADLINE_MS) {
        await sleep(wait);
        wait = Math.min(wait * 2, BUSY_RETRY_MAX_MS);
        continue;
      }
      const detail = `${op}: ${storeFailureCause(err)}${err instanceof Error && err.stack ? `\n${err.stack}` : ''}`;
      throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', 'Warden store unavailable', { detail, cause: err });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Inserts one row, reporting a duplicate key as WARDEN_ERR_CONFLICT with the caller's wording. */
async function insertUnique(run: () => Promise<unknown>, conflictMessage: string): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (isUniqueViolation(err)) throw new WardenError('WARDEN_ERR_CONFLICT', conflictMessage, { cause: err });
    throw err;
  }
}

function targetRepository(db: Kysely<Database>, s: StoreState): TargetRepository {
  return {
    insert: (t: TargetRecord) =>
      guard(s, 'targets.insert', () =>
        insertUnique(
          () => db.insertInto('targets').values(targetToRow(t)).execute(),
          `target "${t.name}" already exists`,
        ),
      ),
    get: (name: string) =>
      guard(s, 'targets.get', async () => {
        const row = await db.selectFrom('targets').selectAll().where('name', '=', name).executeTakeFirst();
        return row === undefined ? undefined : targetFromRow(row);
      }),
    list: () =>
      guard(s, 'targets.list', async () =>
        (await db.selectFrom('targets').selectAll().orderBy('name').execute()).map(targetFromRow),
      ),
    update: (t: TargetRecord) =>
      guard(s, 'targets.update', async () => {
        const { name, created_at: _created, ...fields } = targetToRow(t);
        const result = await db.updateTable('targets').set(fields).where('name', '=', name).executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }),
    remove: (name: string) =>
      guard(s, 'targets.remove', async () => {
        const result = await db.deleteFrom('targets').where('name', '=', name).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),
  };
}

function tokenRepository(db: Kysely<Database>, s: StoreState): TokenRepository {
  return {
    insert: (t: TokenRecord) =>
      guard(s, 'tokens.insert', () =>
        insertUnique(() => db.insertInto('tokens').values(tokenToRow(t)).execute(), `token "${t.id}" already exists`),
      ),
    get: (id: string) =>
      guard(s, 'tokens.get', async () => {
        const row = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : tokenFromRow(row);
      }),
    list: () =>
      guard(s, 'tokens.list', async () =>
        (await db.selectFrom('tokens').selectAll().orderBy('issued_at', 'desc').orderBy('id', 'desc').execute()).map(
          tokenFromRow,
        ),
      ),
    // Revoking twice keeps the first time: the audit trail should show when access really ended.
    revoke: (id: string, at: string) =>
      guard(s, 'tokens.revoke', async () => {
        await db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null)
          .execute();
        const row = await db.selectFrom('tokens').select('id').where('id', '=', id).executeTakeFirst();
        return row !== undefined;
      }),
    children: (parentId: string) =>
      guard(s, 'tokens.children', async () =>
        (await db.selectFrom('tokens').selectAll().where('parent_id', '=', parentId).orderBy('id').execute())
          .map(tokenFromRow)),
    // The chain column is JSON text; a LIKE on the quoted id narrows the scan (a `%` or `_` in a name only widens
    // it) and the exact check happens in code.
    activeFor: (subject: string) =>
      guard(s, 'tokens.activeFor', async () => {
        const quoted = `%${JSON.stringify(subject)}%`;
        const rows = await db.selectFrom('tokens').selectAll().where('revoked_at', 'is', null)
          .where((eb) => eb.or([eb('subject', '=', subject), eb('chain', 'like', eb.val(quoted))]))
          .execute();
        return rows.map(tokenFromRow).filter((t) => t.subject === subject || t.chain.some((a) => a.id === subject));
      }),
    bySubject: (subject: string) =>
      guard(s, 'tokens.bySubject', async () =>
        (await db.selectFrom('tokens').selectAll().where('subject', '=', subject).orderBy('id').execute()).map(tokenFromRow)),
    fromApiKey: (keyId: string) =>
      guard(s, 'tokens.fromApiKey', async () =>
        (await db.selectFrom('tokens').selectAll().where('api_key_id', '=', keyId).orderBy('id').execute()).map(tokenFromRow)),
  };
}

/** Validates a list limit: an integer from 1 to MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT when absent. */
function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

function sessionRepository(db: Kysely<Database>, s: StoreState): SessionRepository {
  return {
    insert: (r: SessionRecord) =>
      guard(s, 'sessions.insert', () =>
        insertUnique(() => db.insertInto('sessions').values(sessionToRow(r)).execute(), `session "${r.id}" already exists`),
      ),
    // Ends a session once: a second end (or an unknown id) changes nothing, so close paths never have to race.
    end: (id: string, at: string, reason: string) =>
      guard(s, 'sessions.end', async () => {
        await db.updateTable('sessions').set({ ended_at: at, end_reason: reason }).where('id', '=', id)
          .where('ended_at', 'is', null).execute();
      }),
    get: (id: string) =>
      guard(s, 'sessions.get', async () => {
        const row = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : sessionFromRow(row);
      }),
    list: (query: SessionQuery = {}) =>
      guard(s, 'sessions.list', async () => {
        let q = db.selectFrom('sessions').selectAll();
        if (query.subject !== undefined) q = q.where('subject', '=', query.subject);
        if (query.target !== undefined) q = q.where('target', '=', query.target);
        if (query.active === true) q = q.where('ended_at', 'is', null);
        if (query.active === false) q = q.where('ended_at', 'is not', null);
        const rows = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(listLimit(query.limit)).execute();
        return rows.map(sessionFromRow);
      }),
    appendEvents: (events: SessionEventRecord[]) =>
      guard(s, 'sessions.appendEvents', async () => {
        if (events.length === 0) return;
        await insertChunks(db, chunksBySession(events));
      }),
    appendChunks: (chunks: EventChunk[]) =>
      guard(s, 'sessions.appendChunks', async () => {
        if (chunks.length === 0) return;
        await insertChunks(db, chunks.map((c) => ({ session_id: c.sessionId, first_seq: c.firstSeq, last_seq: c.lastSeq,
          events: c.events })));
      }),
    events: (sessionId: string) =>
      guard(s, 'sessions.events', async () => {
        const rows = await db.selectFrom('session_event_chunks').selectAll().where('session_id', '=', sessionId)
          .orderBy('first_seq').execute();
        return rows.flatMap(eventsFromChunk);
      }),
    eventsRange: (sessionId: string, fromSeq: number, toSeq?: number) =>
      guard(s, 'sessions.eventsRange', async () => {
        let q = db.selectFrom('session_event_chunks').selectAll().where('session_id', '=', sessionId).where('last_seq', '>=', fromSeq);
        if (toSeq !== undefined) q = q.where('first_seq', '<=', toSeq);
        const rows = await q.orderBy('first_seq').execute();
        return rows.flatMap(eventsFromChunk).filter((e) => e.seq >= fromSeq && (toSeq === undefined || e.seq <= toSeq));
      }),
    lastSeq: (sessionId: string) =>
      guard(s, 'sessions.lastSeq', async () => {
        const row = await db.selectFrom('session_event_chunks').select((eb) => eb.fn.max('last_seq').as('last'))
          .where('session_id', '=', sessionId).executeTakeFirst();
        return Number(row?.last ?? 0);
      }),
    endDangling: (at: string, reason: string) =>
      guard(s, 'sessions.endDangling', async () => {
        const result = await db.updateTable('sessions').set({ ended_at: at, end_reason: reason })
          .where('ended_at', 'is', null).executeTakeFirst();
        return Number(result.numUpdatedRows);
      }),
  };
}

/**
 * Inserts chunks in one transaction. Chunks of a session never overlap, so a repeated seq is caught against what is
 * already stored whatever order the chunks arrive in (the recorder retries a failed chunk after later ones landed).
 */
async function insertChunks(db: Kysely<Database>, chunks: SessionEventChunksTable[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const chunk of chunks) {
      const overlap = await trx.selectFrom('session_event_chunks').select('first_seq')
        .where('session_id', '=', chunk.session_id).where('first_seq', '<=', chunk.last_seq)
        .where('last_seq', '>=', chunk.first_seq).limit(1).executeTakeFirst();
      if (overlap !== undefined) {
        throw new WardenError('WARDEN_ERR_CONFLICT', `session event sequence numbers ${chunk.first_seq}-${chunk.last_seq} of `
          + `session ${chunk.session_id} already used`);
      }
      await trx.insertInto('session_event_chunks').values(chunk).execute();
    }
  });
}

/** Groups events into one chunk per session, sorted by seq; a seq repeated within the batch is a conflict. */
function chunksBySession(events: SessionEventRecord[]) {
  const bySession = new Map<string, SessionEventRecord[]>();
  for (const e of events) {
    const list = bySession.get(e.sessionId);
    if (list) list.push(e);
    else bySession.set(e.sessionId, [e]);
  }
  return [...bySession].map(([sessionId, list]) => {
    list.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < list.length; i++) {
      if (list[i].seq === list[i - 1].seq) throw new WardenError('WARDEN_ERR_CONFLICT', 'session event sequence number already used');
    }
    return eventsToChunk(sessionId, list);
  });
}

/**
 * Builds the whole Store over an open Kysely instance. `close` destroys the instance (and so the connection or
 * pool) once; afterwards every method throws WARDEN_ERR_STORE_UNAVAILABLE.
 */
export function createKyselyStore(db: Kysely<Database>): Store {
  const state: StoreState = { closed: false };
  return {
    targets: targetRepository(db, state),
    tokens: tokenRepository(db, state),
    sessions: sessionRepository(db, state),
    policies: policyRepository(db, (op, fn) => guard(state, op, fn)),
    approvals: approvalRepository(db, (op, fn) => guard(state, op, fn)),
    users: userRepository(db, (op, fn) => guard(state, op, fn)),
    serviceAccounts: serviceAccountRepository(db, (op, fn) => guard(state, op, fn)),
    identityProviders: identityProviderRepository(db, (op, fn) => guard(state, op, fn)),
    sshHostKeys: sshHostKeyRepository(db, (op, fn) => guard(state, op, fn)),
    sshKeys: sshKeyRepository(db, (op, fn) => guard(state, op, fn)),
    async close(): Promise<void> {
      if (state.closed) return;
      state.closed = true;
      await db.destroy();
    },
  };
}
