/**
 * The live-session registry: every open session of this process with a way to end it, whatever its protocol.
 * Shutdown uses it to end sessions with a clear message; the kill switch and revocation use it to end a caller's
 * sessions at once. Protocol-specific lookups (PostgreSQL cancel keys) live with their engine. Holds no I/O of its
 * own: each entry's `terminate` is supplied by its engine.
 */
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
  /** Asks the upstream to cancel the running command (PostgreSQL CancelRequest, an SSH signal); optional per protocol. */
  cancel?(): Promise<void>;
  /**
   * Sends the caller an informational notice in its protocol (PostgreSQL NoticeResponse) at a message boundary,
   * e.g. that its token is about to expire; optional per protocol.
   */
  notify?(message: string): void;
}

/** All live sessions of this process. */
export class SessionRegistry {
  private readonly live = new Map<string, LiveSession>();

  /** Adds a live session. */
  add(entry: LiveSession): void {
    this.live.set(entry.session.id, entry);
  }

  /** Removes a session once it has ended. */
  remove(sessionId: string): void {
    this.live.delete(sessionId);
  }

  /** The live session with this id, if any. */
  get(sessionId: string): LiveSession | undefined {
    return this.live.get(sessionId);
  }

  /** Number of live sessions. */
  get size(): number {
    return this.live.size;
  }

  /** Live sessions, e.g. to find a caller's. */
  list(): LiveSession[] {
    return [...this.live.values()];
  }

  /** Ends every live session with `reason`; resolves when all have closed. */
  async terminateAll(reason: string): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((s) => s.terminate(reason)));
  }
}
