/**
 * Follows statements through the PostgreSQL protocol to learn how each ended. The server answers in the order the
 * caller asked, so a FIFO of what was sent (simple queries, Executes, Syncs) lined up with CommandComplete,
 * ErrorResponse and ReadyForQuery gives each statement its duration, tag, rows and error, pipelining included.
 * After an error in an extended-protocol batch the server skips everything up to the next Sync: those Executes are
 * reported as skipped. Pure bookkeeping: no I/O, no decisions.
 */
import { performance } from 'node:perf_hooks';
import type { Command, CommandOutcome } from '../../session/types.js';
import { rowsFromCommandTag } from './codec.js';

type Pending =
  | { kind: 'simple' | 'exec'; command: Command; startedAt: number; rows: number; tag?: string; error?: CommandOutcome['error'] }
  | { kind: 'sync' };

/** Receives each finished statement. */
export type OutcomeSink = (command: Command, outcome: CommandOutcome) => void;

/** The in-flight statements of one connection. */
export class StatementTracker {
  private readonly queue: Pending[] = [];

  constructor(private readonly sink: OutcomeSink) {}

  /** A simple Query (possibly several statements) was sent; it ends at ReadyForQuery. */
  simple(command: Command): void {
    this.queue.push({ kind: 'simple', command, startedAt: performance.now(), rows: 0 });
  }

  /** An Execute was sent; it ends at its CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse. */
  execute(command: Command): void {
    this.queue.push({ kind: 'exec', command, startedAt: performance.now(), rows: 0 });
  }

  /** A Sync was sent; the server answers it with ReadyForQuery. */
  sync(): void {
    this.queue.push({ kind: 'sync' });
  }

  /** Number of statements and syncs awaiting an answer. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** CommandComplete (tag), EmptyQueryResponse (tag '') or PortalSuspended (tag undefined, `suspended`). */
  completed(tag: string | undefined): void {
    const head = this.queue[0];
    if (!head || head.kind === 'sync') return;
    if (tag) {
      head.tag = tag;
      head.rows += rowsFromCommandTag(tag) ?? 0;
    }
    if (head.kind === 'exec') this.finish(this.queue.shift()!, tag === undefined ? { suspended: true } : {});
  }

  /** ErrorResponse: fails the statement at the head; in a batch, the Executes up to the next Sync never run. */
  failed(error: { code: string; message: string }): boolean {
    const head = this.queue[0];
    if (!head || head.kind === 'sync') return false;
    head.error = error;
    if (head.kind === 'simple') return true;
    this.finish(this.queue.shift()!, {});
    while (this.queue.length > 0 && this.queue[0].kind === 'exec') this.finish(this.queue.shift()!, { skipped: true });
    return true;
  }

  /** ReadyForQuery: ends the simple query or the batch it answers. */
  ready(): void {
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      if (item.kind === 'sync') return;
      this.finish(item, item.kind === 'exec' ? { skipped: true } : {});
      if (item.kind === 'simple') return;
    }
  }

  /** The connection ended: whatever is still in flight never finished. */
  abandon(reason: string): void {
    for (const item of this.queue.splice(0)) {
      if (item.kind !== 'sync') this.finish(item, { error: item.error ?? { code: 'WARDEN', message: reason } });
    }
  }

  private finish(item: Pending, extra: Partial<CommandOutcome> & { suspended?: boolean }): void {
    if (item.kind === 'sync') return;
    const outcome: CommandOutcome = { durationMs: Math.round((performance.now() - item.startedAt) * 1000) / 1000 };
    if (item.tag !== undefined) outcome.tag = item.tag;
    if (item.tag !== undefined || item.kind === 'exec') outcome.rows = item.rows;
    if (item.error) outcome.error = item.error;
    if (extra.skipped) outcome.skipped = true;
    if (extra.error) outcome.error = extra.error;
    if (extra.suspended) {
      // A suspended portal's rows were DataRows only; they are not counted on the hot path.
      outcome.tag = 'PortalSuspended';
      delete outcome.rows;
    }
    this.sink(item.command, outcome);
  }
}
