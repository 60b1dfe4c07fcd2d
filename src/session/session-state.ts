/**
 * What the pipeline remembers about one open session between commands, whatever its protocol: its protocol's
 * definition and analysis state, the pending approval request, a withdrawal by the caller, a graceful end in
 * progress, and whether an access grant let the session in. Pure bookkeeping, no I/O.
 */
import type { AnalysisState, ProtocolDefinition } from './protocol.js';

/** Per-session state of the shared pipeline. */
export class SessionState {
  /** The approval request this session is waiting on, if any. */
  pendingApproval: string | undefined;
  /** Set when the caller cancelled the command held for approval: its request is withdrawn (the reason). */
  withdrawn: string | undefined;
  /** Set when Warden is ending the session gracefully: why. Every further command is refused. */
  draining: string | undefined;
  /** The protocol's own state between commands (SQL: prepared statements), when it keeps one. */
  readonly analysis: AnalysisState | undefined;

  constructor(readonly protocol: ProtocolDefinition, readonly accessGranted: boolean) {
    this.analysis = protocol.newState?.();
  }

  /** The reason the caller gave for its work (e.g. `SET warden.reason`), shown to approvers. */
  get reason(): string | undefined {
    return this.analysis?.reason;
  }
}
