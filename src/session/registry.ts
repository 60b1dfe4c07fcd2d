/**
 * The live-session registry: every open session of this process with a way to end it. Shutdown uses it to end
 * sessions with a clear message; the kill switch and revocation use it to end a caller's sessions at once.
 * It also hands out the cancel keys Warden gives PostgreSQL callers, so a CancelRequest on a new connection can find
 * its session. Holds no I/O of its own: each entry's `terminate` is supplied by its engine.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Session } from './session.js';

/** How Warden ends a live session. */
export interface TerminateOptions {
  /** Refuse new statements and end the session once the running ones have finished (at most `graceMs`). */
  letStatementsFinish?: boolean;
  graceMs?: number;
}

/** A session as the registry sees it: the session and how its engine ends it. */
export interface LiveSession {
  session: Session;
  /**
   * Ends the session, telling the caller `reason` in its protocol. Resolves once the connection is closed. Calling
   * it again while it ends changes nothing.
   */
  terminate(reason: string, options?: TerminateOptions): Promise<void>;
  /** True once Warden has started ending the session. */
  readonly ending?: boolean;
  /** Asks the upstream to cancel the running command (PostgreSQL CancelRequest); optional per protocol. */
  cancel?(): Promise<void>;
  /**
   * Sends the caller an informational notice in its protocol (PostgreSQL NoticeResponse) at a message boundary,
   * e.g. that its token is about to expire; optional per protocol.
   */
  notify?(message: string): void;
}

/** A cancel key Warden hands a caller in place of the upstream's. */
export interface CancelKey {
  processId: number;
  secretKey: Buffer;
}

/** All live sessions of this process. */
export class SessionRegistry {
  private readonly live = new Map<string, LiveSession>();
  private readonly byProcessId = new Map<number, { key: Buffer; sessionId: string }>();

  /** Adds a live session. */
  add(entry: LiveSession): void {
    this.live.set(entry.session.id, entry);
  }

  /** Removes a session (and its cancel key) once it has ended. */
  remove(sessionId: string): void {
    this.live.delete(sessionId);
    for (const [pid, entry] of this.byProcessId) if (entry.sessionId === sessionId) this.byProcessId.delete(pid);
  }

  /** Number of live sessions. */
  get size(): number {
    return this.live.size;
  }

  /** Live sessions, e.g. to find a caller's. */
  list(): LiveSession[] {
    return [...this.live.values()];
  }

  /** Issues a fresh, unique cancel key for a session. */
  issueCancelKey(sessionId: string): CancelKey {
    let processId: number;
    do processId = randomInt(1, 2 ** 31 - 1); while (this.byProcessId.has(processId));
    const secretKey = randomBytes(4);
    this.byProcessId.set(processId, { key: secretKey, sessionId });
    return { processId, secretKey };
  }

  /** Finds the live session a cancel key belongs to; the secret is compared in constant time. */
  findByCancelKey(processId: number, secretKey: Buffer): LiveSession | undefined {
    const entry = this.byProcessId.get(processId);
    if (!entry || entry.key.length !== secretKey.length || !timingSafeEqual(entry.key, secretKey)) return undefined;
    return this.live.get(entry.sessionId);
  }

  /** Ends every live session with `reason`; resolves when all have closed. */
  async terminateAll(reason: string): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((s) => s.terminate(reason)));
  }
}
