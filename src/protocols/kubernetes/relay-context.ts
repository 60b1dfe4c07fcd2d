/**
 * What the streaming relays (exec-relay.ts, portforward-relay.ts) share with websocket-relay.ts: the session, the
 * pipeline's recording and masking hooks, the command that was allowed, and what a relay hands back. Types only.
 */
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { Command } from '../../session/types.js';

/** The parts of the pipeline a relay uses (it never decides: the engine did, before the upgrade). */
export type RelayPipeline = Pick<SessionPipeline, 'masking' | 'onOutcome' | 'onEvent'>;

/** One allowed streaming request. */
export interface RelayContext {
  session: Session;
  pipeline: RelayPipeline;
  /** The request as judged (kind `request`, `GET /api/v1/namespaces/N/pods/P/exec?...`). */
  command: Command;
}

/** A running relay. */
export interface StreamRelay {
  /** Resolves once both sides are closed and the outcome is recorded. Never rejects. */
  closed: Promise<void>;
  /** Ends the stream (revocation, shutdown): the caller is told `reason` where the protocol allows, both sides closed within 1 s. */
  terminate(reason: string): void;
}
