/**
 * A session lives no longer than the token it was opened with (issue 9 item 11). The kill switch's sweep ends
 * sessions whose token expired; this module holds the rules it and the pipeline share: whether a policy lets a
 * session outlive its token (`sessionOutlivesToken: true` on an allow rule of the subject's own), the notice a
 * caller gets in its last minute, and the refusal of any statement that arrives after expiry but before the sweep.
 * It never ends a session itself and does no I/O.
 */
import { sessionMayOutliveToken } from '../policy/evaluate.js';
import type { ProtocolRegistry } from './protocol-registry.js';
import type { Policy } from '../policy/schema.js';
import type { Decision } from '../policy/types.js';
import type { Session } from './session.js';
import type { CommandContext } from './types.js';

/** How long before its token expires a session's caller is warned. */
export const EXPIRY_NOTICE_MS = 60_000;
/** The reason recorded (and told to the caller) when a session ends with its token. */
export const TOKEN_EXPIRED_REASON = 'the Warden token this session was opened with expired';

/** The caller's notice for a token that ends in `msLeft`. */
export function expiryNotice(msLeft: number): string {
  return `your Warden token expires in ${Math.max(1, Math.ceil(msLeft / 1000))} s; this session will end then `
    + '(get a new token and reconnect to go on)';
}

/** Token-expiry rules for live sessions, over the policies in force. */
export class TokenExpiry {
  readonly #warned = new WeakSet<Session>();

  constructor(private readonly policies: () => readonly Policy[], private readonly now: () => number = Date.now,
    private readonly protocols?: ProtocolRegistry) {}

  /**
   * True when a policy in force lets this session run on past its token's expiry (an allow rule whose match keys are
   * another protocol's does not count, when the registry is known).
   */
  mayOutlive(session: Session): boolean {
    return sessionMayOutliveToken(this.policies(), session.subject, session.target, this.protocols?.get(session.protocol));
  }

  /** Milliseconds left of the session's token (negative once expired). */
  msLeft(session: Session): number {
    return session.subject.expiresAt * 1000 - this.now();
  }

  /** Marks the session warned; true the first time only, so each caller is told once. */
  firstWarning(session: Session): boolean {
    if (this.#warned.has(session)) return false;
    this.#warned.add(session);
    return true;
  }

  /**
   * Per statement: a deny Decision when the token has expired (the sweep ends the session within a second; no
   * statement runs in between), and the caller's notice once in its last minute. Undefined when the statement may
   * go on to policy evaluation. Cheap: the policy is consulted only in the last minute.
   */
  check(session: Session, context: CommandContext): Decision | undefined {
    const left = this.msLeft(session);
    if (left > EXPIRY_NOTICE_MS || this.mayOutlive(session)) return undefined;
    if (left <= 0) return { effect: 'deny', classes: [], message: TOKEN_EXPIRED_REASON };
    if (this.firstWarning(session)) context.notify(expiryNotice(left));
    return undefined;
  }
}
