/**
 * Follows every message Warden forwarded upstream until the server has answered it. The server answers in the
 * order it was asked, so a FIFO of what was sent lined up with what comes back gives (1) each statement's outcome
 * for the recording (duration, tag, rows, error, skipped) and (2) the moment the upstream has answered everything,
 * which is when Warden may put its own answers (a refusal, a notice) into the caller's stream without reordering
 * it. After an error in an extended-protocol batch the server skips everything up to the next Sync: those Executes
 * are reported as skipped. Pure bookkeeping: no I/O, no decisions.
 */
import { performance } from 'node:perf_hooks';
import type { Command, CommandOutcome } from '../../session/types.js';
import { rowsFromCommandTag } from './codec.js';

/** What a forwarded message waits for. */
type Pending =
  | { kind: 'simple' | 'exec'; command: Command; startedAt: number; rows: number; tag?: string; error?: CommandOutcome['error'] }
  | { kind: 'parse' | 'bind' | 'describe' | 'close' | 'sync'; done?: (ok: boolean) => void };

/** Receives each finished statement. */
export type OutcomeSink = (command: Command, outcome: CommandOutcome) => void;

/** The in-flight messages of one connection. */
export class StatementTracker {
  private readonly queue: Pending[] = [];
  private idleWaiters: (() => void)[] = [];
  private quietWaiters: (() => void)[] = [];
  /** Messages forwarded since the last Sync: an open extended-protocol batch upstream. */
  private unsynced = 0;
  /** A Bind or Execute was forwarded since the last Sync (session-settings.ts: code may have run). */
  ranSinceSync = false;
  /**
   * After an error in an extended batch whose Sync was not forwarded yet: the server discards every message up to
   * that Sync without answering, so what Warden forwards meanwhile is skipped at once, never waited for (a wait for
   * its answer would last until the Sync, which may be queued behind the wait).
   */
  private skipping = false;
  /** Transaction status from the last ReadyForQuery ('I' idle, 'T' in a transaction, 'E' failed transaction). */
  transactionStatus: 'I' | 'T' | 'E' = 'I';

  constructor(private readonly sink: OutcomeSink) {}

  /** A simple Query (possibly several statements) or a FunctionCall was sent; it ends at ReadyForQuery. */
  simple(command: Command): void {
    const item: Pending = { kind: 'simple', command, startedAt: performance.now(), rows: 0 };
    if (this.skipping) this.finish(item, { skipped: true });
    else this.queue.push(item);
  }

  /** An Execute was sent; it ends at its CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse. */
  execute(command: Command): void {
    const item: Pending = { kind: 'exec', command, startedAt: performance.now(), rows: 0 };
    if (this.skipping) this.finish(item, { skipped: true });
    else this.queue.push(item);
    this.unsynced++;
    this.ranSinceSync = true;
  }

  /**
   * A Parse, Bind, Describe, Close or Sync was sent. `done` learns whether the server carried it out (its answer
   * came) or not (it failed, or was skipped after an error): the gate's statement names follow the server's this way.
   */
  sent(kind: 'parse' | 'bind' | 'describe' | 'close' | 'sync', done?: (ok: boolean) => void): void {
    if (kind === 'sync') this.skipping = false;
    if (this.skipping) done?.(false);
    else this.queue.push(done ? { kind, done } : { kind });
    this.unsynced = kind === 'sync' ? 0 : this.unsynced + 1;
    if (kind === 'sync') this.ranSinceSync = false;
    else if (kind === 'bind') this.ranSinceSync = true;
  }

  /** True when the upstream has answered everything forwarded so far. */
  get idle(): boolean {
    return this.queue.length === 0;
  }

  /**
   * The statement the upstream is answering now, when the oldest unanswered message is one (result masking asks
   * which statement a COPY belongs to); undefined while a Parse, Bind, Describe, Close or Sync is answered first.
   */
  get running(): { command: Command; simple: boolean } | undefined {
    const head = this.queue[0];
    if (head === undefined || (head.kind !== 'simple' && head.kind !== 'exec')) return undefined;
    return { command: head.command, simple: head.kind === 'simple' };
  }

  /** True when extended-protocol messages were forwarded since the last Sync (the upstream batch is open). */
  get batchOpen(): boolean {
    return this.unsynced > 0;
  }

  /** Resolves once the upstream has answered everything forwarded so far. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Resolves once the connection is between exchanges: everything forwarded answered and no extended-protocol batch
   * open (its Sync answered by ReadyForQuery), so no result, not even a suspended portal's, is under way. The only
   * moment Warden speaks to the caller unasked (LiveSession.notify).
   */
  whenQuiet(): Promise<void> {
    if (this.idle && !this.batchOpen) return Promise.resolve();
    return new Promise((resolve) => this.quietWaiters.push(resolve));
  }

  /** ParseComplete, BindComplete, CloseComplete, RowDescription/NoData of a Describe. */
  answered(kind: 'parse' | 'bind' | 'describe' | 'close'): void {
    if (this.queue[0]?.kind === kind) settle(this.shift(), true);
  }

  /** CommandComplete (tag), EmptyQueryResponse (tag '') or PortalSuspended (tag undefined). */
  completed(tag: string | undefined): void {
    const head = this.queue[0];
    if (!head || (head.kind !== 'simple' && head.kind !== 'exec')) return;
    if (tag) {
      head.tag = tag;
      head.rows += rowsFromCommandTag(tag) ?? 0;
    }
    if (head.kind === 'exec') this.finish(this.shift(), tag === undefined ? { suspended: true } : {});
  }

  /** ErrorResponse: fails the message at the head; in a batch, everything up to the next Sync is skipped. */
  failed(error: { code: string; message: string }): boolean {
    const head = this.queue[0];
    if (!head || head.kind === 'sync') return false;
    if (head.kind === 'simple') {
      head.error = error;
      return true;
    }
    const failedItem = this.shift();
    settle(failedItem, false);
    if (failedItem.kind === 'exec') failedItem.error = error;
    this.finish(failedItem, {});
    // The statement that failed is the Execute of this batch even when Parse or Bind was what failed.
    let attributed = failedItem.kind === 'exec';
    while (this.queue.length > 0 && this.queue[0].kind !== 'sync') {
      const skipped = this.shift();
      settle(skipped, false);
      if (skipped.kind === 'exec' && !attributed) {
        skipped.error = error;
        this.finish(skipped, {});
        attributed = true;
      } else this.finish(skipped, { skipped: true });
    }
    if (this.queue.length === 0) this.skipping = true;
    return attributed || failedItem.kind === 'exec';
  }

  /** ReadyForQuery: ends the simple query or the batch it answers. */
  ready(status: 'I' | 'T' | 'E'): void {
    this.transactionStatus = status;
    while (this.queue.length > 0) {
      const item = this.shift();
      settle(item, false);
      this.finish(item, item.kind === 'exec' ? { skipped: true } : {});
      if (item.kind === 'sync' || item.kind === 'simple') break;
    }
  }

  /** The connection ended: whatever is still in flight never finished. */
  abandon(reason: string): void {
    while (this.queue.length > 0) {
      const item = this.shift();
      if (item.kind === 'simple' || item.kind === 'exec') this.finish(item, { error: item.error ?? { code: 'WARDEN', message: reason } });
    }
  }

  private shift(): Pending {
    const item = this.queue.shift()!;
    if (this.queue.length === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    if (this.queue.length === 0 && this.unsynced === 0 && this.quietWaiters.length > 0) {
      const waiters = this.quietWaiters;
      this.quietWaiters = [];
      for (const wake of waiters) wake();
    }
    return item;
  }

  private finish(item: Pending, extra: Partial<CommandOutcome> & { suspended?: boolean }): void {
    if (item.kind !== 'simple' && item.kind !== 'exec') return;
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

/** Tells a Parse's or Close's owner whether the server carried it out. */
function settle(item: Pending, ok: boolean): void {
  if ('done' in item) item.done?.(ok);
}
