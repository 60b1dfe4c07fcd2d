/**
 * The change bus: what every Warden process of a deployment must learn at once. One process alone may hold a live
 * session, a held statement or a cached policy list, so a change made through any process (the control API in the
 * primary, another worker, another replica) is published here and each other process acts on it.
 * Within one machine the bus is IPC between the cluster primary and its workers (ipc.ts); across replicas it is
 * PostgreSQL LISTEN/NOTIFY (pg-notify.ts); a single process uses the local bus (local.ts), which delivers nothing.
 * The bus only speeds things up and never carries authority: every receiver re-reads the store before acting
 * (a revocation is checked against the tokens table, an approval's outcome is read from the approvals table), and
 * the 1 s kill-switch sweep and the approval waiters' store poll remain the fallback when a message is lost.
 */

/** One change. Events carry ids only, never secrets or statement text: receivers read the rest from the store. */
export type ChangeEvent =
  /** Policies were applied or removed: reload the catalog before the next statement. */
  | { kind: 'policies.changed' }
  /** A target was added, changed or removed: drop anything cached for it (upstream pools, resolved specs). */
  | { kind: 'targets.changed'; name: string }
  /** An approval request left `pending` (decided, expired, cancelled): settle its waiter if this process holds it. */
  | { kind: 'approval.settled'; id: string }
  /**
   * Tokens, a user or a service account lost standing: re-check live sessions now instead of at the next sweep.
   * `letStatementsFinish` and `by` are as in the kill switch's RevocationOptions.
   */
  | { kind: 'standing.changed'; letStatementsFinish?: boolean; by?: string }
  /** One session was killed through the API: end it if this process holds it. */
  | { kind: 'session.kill'; sessionId: string; letStatementsFinish?: boolean; by?: string };

/** The envelope on the wire: the event plus the process that published it, so a process ignores its own echo. */
export interface ChangeMessage {
  /** Random id of the publishing process (a worker, a replica), fixed for its life. */
  origin: string;
  event: ChangeEvent;
}

/** Health of a bus, for readiness and metrics. */
export interface BusHealth {
  ok: boolean;
  /** Why not ok (e.g. "LISTEN connection lost, reconnecting"). */
  detail?: string;
}

/** A change bus. Implementations: local.ts (one process), ipc.ts (cluster workers), pg-notify.ts (replicas). */
export interface ChangeBus {
  /**
   * Sends the event to every other process of the deployment. The publisher has already acted on it locally; its
   * own echo is never delivered back to it. Never throws for a delivery failure (the sweep is the fallback): it
   * logs and reports it through health().
   */
  publish(event: ChangeEvent): Promise<void>;
  /** Calls `handler` for each event published by another process; returns the unsubscribe function. */
  subscribe(handler: (event: ChangeEvent) => void): () => void;
  health(): BusHealth;
  /** Stops delivering and releases connections; idempotent. */
  close(): Promise<void>;
}
