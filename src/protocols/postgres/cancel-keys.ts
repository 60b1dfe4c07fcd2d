/**
 * The cancel keys Warden hands PostgreSQL callers in place of the upstream's (BackendKeyData), so a CancelRequest
 * arriving on a new connection can find its session. PostgreSQL-only, so it lives with the postgres engine, not in
 * the shared session registry. Holds no I/O; the secret is compared in constant time.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** A cancel key Warden hands a caller in place of the upstream's. */
export interface CancelKey {
  processId: number;
  secretKey: Buffer;
}

/** The live cancel keys of this process, by process id. */
export class CancelKeys {
  private readonly byProcessId = new Map<number, { key: Buffer; sessionId: string }>();

  /** Issues a fresh, unique cancel key for a session. */
  issue(sessionId: string): CancelKey {
    let processId: number;
    do processId = randomInt(1, 2 ** 31 - 1); while (this.byProcessId.has(processId));
    const secretKey = randomBytes(4);
    this.byProcessId.set(processId, { key: secretKey, sessionId });
    return { processId, secretKey };
  }

  /** The session a cancel key belongs to, or undefined (unknown id or wrong secret). */
  find(processId: number, secretKey: Buffer): string | undefined {
    const entry = this.byProcessId.get(processId);
    if (!entry || entry.key.length !== secretKey.length || !timingSafeEqual(entry.key, secretKey)) return undefined;
    return entry.sessionId;
  }

  /** Forgets the keys of a session that has ended. */
  remove(sessionId: string): void {
    for (const [pid, entry] of this.byProcessId) if (entry.sessionId === sessionId) this.byProcessId.delete(pid);
  }
}
