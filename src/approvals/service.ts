/**
 * Just-in-time approvals: holds requests until people decide, tracks the outcome every held statement waits on,
 * expires requests nobody decided, and leaves grants behind (statement windows, target access).
 * Ordering rules: every state change is written to the store (compare-and-set, see ApprovalRepository.updatePending)
 * before a waiting outcome settles or a notification goes out, and each outcome settles exactly once.
 * This module must never decide whether a statement needs approval (policy does) nor talk HTTP (the notifier and
 * the control API do); its timers are unref'd so they never keep Warden alive.
 */
import type { Logger } from 'pino';
import { WardenError } from '../errors.js';
import { principalKey } from '../identity/principal.js';
import type { Subject } from '../session/types.js';
import type { ApprovalRequest, GrantRecord, Store } from '../store/types.js';
import { checkCanDecide } from './eligibility.js';
import type { Notifier } from './notifier.js';
import {
  accessRequest, cleanComment, expired, finished, isDue, isSeconds, MAX_WINDOW_SECONDS, notPending, outcomeOf,
  statementRequest, toQuery, unlessDue, withDecision, type ApprovalListFilter, type ApprovalOutcome, type Change,
  type StatementApprovalInput,
} from './records.js';
import { ExpiryTimers, KeyedLock } from './timers.js';

export type { ApprovalListFilter, ApprovalOutcome, StatementApprovalInput } from './records.js';
export type { ApprovalRequest, GrantRecord as Grant } from '../store/types.js';

/** Options of ApprovalService.create. */
export interface ApprovalServiceOptions {
  store: Store;
  logger: Logger;
  notifier: Notifier;
  /** The clock in epoch milliseconds; tests inject one instead of sleeping. */
  now?: () => number;
}

/** Statement requests of an earlier run lose their waiting session when Warden stops; this says why. */
export const RESTART_REASON = 'Warden restarted';
/** How many times a decision is retried when another writer changed the request in between. */
const MAX_ATTEMPTS = 3;

const notFound = (id: string) => new WardenError('WARDEN_ERR_NOT_FOUND', `approval request ${String(id).slice(0, 64)} not found`);

/** Approval requests, their decisions, waits, expiry and grants. */
export class ApprovalService {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #notifier: Notifier;
  readonly #now: () => number;
  readonly #waiters = new Map<string, (outcome: ApprovalOutcome) => void>();
  readonly #timers: ExpiryTimers;
  readonly #lock = new KeyedLock();
  #stopped = false;

  private constructor(options: ApprovalServiceOptions) {
    this.#store = options.store;
    this.#logger = options.logger.child({ component: 'approvals' });
    this.#notifier = options.notifier;
    this.#now = options.now ?? Date.now;
    this.#timers = new ExpiryTimers(this.#now, (id) => this.#onTimer(id));
  }

  /**
   * Returns a ready service after recovering requests left pending by an earlier run: statement requests are
   * cancelled (their sessions are gone), access requests stay pending (they survive restarts) unless past due.
   */
  static async create(options: ApprovalServiceOptions): Promise<ApprovalService> {
    const service = new ApprovalService(options);
    await service.#recover();
    return service;
  }

  /** Stores a pending statement request; `outcome` settles once: approved, denied, expired or cancelled. */
  async requestStatement(input: StatementApprovalInput): Promise<{ request: ApprovalRequest; outcome: Promise<ApprovalOutcome> }> {
    this.#checkRunning();
    const request = statementRequest(input, this.#now());
    // The waiter exists before the request is visible, so no decision can ever find nobody to settle.
    const outcome = new Promise<ApprovalOutcome>((resolve) => this.#waiters.set(request.id, resolve));
    try {
      await this.#store.approvals.insert(request);
    } catch (err) {
      this.#waiters.delete(request.id);
      throw err;
    }
    this.#timers.schedule(request);
    this.#logger.info({ request: request.id, requester: request.requester, target: request.target, rule: request.rule },
      'statement held for approval');
    this.#notifier.notify('approval.requested', request);
    return { request, outcome };
  }

  /** Stores a pending request for access to `target` for `accessSeconds`; administrators decide it within 24 h. */
  async requestAccess(subject: Subject, target: string, accessSeconds: number, reason: string): Promise<ApprovalRequest> {
    this.#checkRunning();
    const request = accessRequest(subject, target, accessSeconds, reason, this.#now());
    await this.#store.approvals.insert(request);
    this.#timers.schedule(request);
    this.#logger.info({ request: request.id, requester: request.requester, target }, 'access requested');
    this.#notifier.notify('approval.requested', request);
    return request;
  }

  /** Approves as `approver`; `windowSeconds` (statement requests) also grants a window once approved. */
  async approve(id: string, approver: Subject, options: { comment?: string; windowSeconds?: number } = {}): Promise<ApprovalRequest> {
    const comment = cleanComment(options.comment);
    const window = options.windowSeconds;
    if (window !== undefined && !isSeconds(window, MAX_WINDOW_SECONDS)) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `a window must be from 1 second to ${MAX_WINDOW_SECONDS / 3600} hours`);
    }
    return this.#mutate(id, (current, now) => unlessDue(current, now, () => {
      if (window !== undefined && current.kind !== 'statement') {
        throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'a window applies to statement requests only');
      }
      checkCanDecide(current, approver, 'approve');
      return withDecision(current, {
        by: approver.id, decision: 'approve', at: new Date(now).toISOString(),
        ...(comment !== undefined ? { comment } : {}), ...(window !== undefined ? { windowSeconds: window } : {}),
      }, now);
    }));
  }

  /** Denies as `approver`: the request ends at the first eligible deny. */
  async deny(id: string, approver: Subject, comment?: string): Promise<ApprovalRequest> {
    const text = cleanComment(comment);
    return this.#mutate(id, (current, now) => unlessDue(current, now, () => {
      checkCanDecide(current, approver, 'deny');
      return withDecision(current, {
        by: approver.id, decision: 'deny', at: new Date(now).toISOString(), ...(text !== undefined ? { comment: text } : {}),
      }, now);
    }));
  }

  /** The requester went away: a pending request becomes cancelled. Unknown or finished requests are left alone. */
  async cancel(id: string, reason: string): Promise<void> {
    try {
      await this.#mutate(id, (current, now) => ({ next: finished(current, 'cancelled', reason, now) }));
    } catch (err) {
      if (err instanceof WardenError && (err.kind === 'not_found' || err.kind === 'conflict')) return;
      throw err;
    }
  }

  /** Requests, newest first; `status` may be `all`. Unknown filter values are WARDEN_ERR_BAD_REQUEST. */
  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRequest[]> {
    return this.#store.approvals.list(toQuery(filter));
  }

  /** One request, or undefined. */
  async get(id: string): Promise<ApprovalRequest | undefined> {
    return this.#store.approvals.get(id);
  }

  /** An unexpired, unrevoked statement grant for this subject on this target covering every class in `classes`. */
  async findGrant(subject: Subject, target: string, classes: readonly string[]): Promise<GrantRecord | undefined> {
    if (classes.length === 0) return undefined; // nothing to cover means nothing was judged: fail closed
    const at = new Date(this.#now()).toISOString();
    const grants = await this.#store.approvals.activeGrants({ kind: 'statement', subject: principalKey(subject.id, subject.chain), target, at });
    return grants.find((g) => classes.every((c) => g.classes.includes(c)));
  }

  /** True when an approved access request gives this subject access to the target now. */
  async hasAccess(subject: Subject, target: string): Promise<boolean> {
    const at = new Date(this.#now()).toISOString();
    return (await this.#store.approvals.activeGrants({ kind: 'access', subject: principalKey(subject.id, subject.chain), target, at })).length > 0;
  }

  /**
   * Re-reads a request and, when it was decided elsewhere (another replica), releases this process's waiter and
   * timer. For a cross-replica signal (PostgreSQL LISTEN/NOTIFY); without one, the request's timer does it at expiry.
   */
  async refresh(id: string): Promise<void> {
    const request = await this.#store.approvals.get(id);
    if (request !== undefined && request.status !== 'pending') this.#reconcile(request);
  }

  /** Expires every pending request past due by the service's clock; returns how many. Timers call this per request. */
  async expireDue(): Promise<number> {
    let count = 0;
    for (const request of await this.#store.approvals.pending()) {
      if (isDue(request, this.#now()) && (await this.#expire(request.id))) count++;
    }
    return count;
  }

  /** Cancels every waiting statement with `reason` (persisted, then settled) and stops the timers. */
  async shutdown(reason: string): Promise<void> {
    this.#stopped = true;
    this.#timers.clear();
    for (const id of [...this.#waiters.keys()]) {
      try {
        await this.#mutate(id, (current, now) => ({ next: finished(current, 'cancelled', reason, now) }));
      } catch (err) {
        // The store may be gone already; the session still has to be released.
        this.#logger.warn({ request: id, err }, 'cannot record the cancellation of an approval request');
      }
      this.#settle(id, { status: 'cancelled', by: [], reason });
    }
  }

  #checkRunning(): void {
    if (this.#stopped) throw new WardenError('WARDEN_ERR_SHUTTING_DOWN', 'Warden is shutting down');
  }

  /**
   * Applies `change` to the pending request `id` under a per-request lock, written with compare-and-set; retried
   * when another writer (another replica) moved the request in between. Settles and notifies after the write.
   */
  async #mutate(id: string, change: (current: ApprovalRequest, now: number) => Change): Promise<ApprovalRequest> {
    return this.#lock.run(id, async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await this.#store.approvals.get(id);
        if (current === undefined) throw notFound(id);
        const now = this.#now();
        if (current.status !== 'pending') {
          this.#reconcile(current);
          throw notPending(current);
        }
        const step = change(current, now);
        if (await this.#store.approvals.updatePending(step.next, current.decisions.length, step.grant)) {
          this.#changed(step.next);
          if (step.error) throw step.error;
          return step.next;
        }
      }
      throw new WardenError('WARDEN_ERR_CONFLICT', `approval request ${id} changed while deciding; try again`);
    });
  }

  /** After a stored change: logs, and when final stops the timer, notifies and settles the waiter. */
  #changed(request: ApprovalRequest): void {
    const last = request.decisions.at(-1);
    this.#logger.info({ request: request.id, status: request.status, by: last?.by, reason: request.statusReason },
      'approval request updated');
    if (request.status === 'pending') return;
    this.#timers.cancel(request.id);
    this.#notifier.notify(`approval.${request.status}`, request);
    this.#settle(request.id, outcomeOf(request));
  }

  /** A request found final (decided by another replica, say): release a local waiter, if any. */
  #reconcile(request: ApprovalRequest): void {
    this.#timers.cancel(request.id);
    this.#settle(request.id, outcomeOf(request));
  }

  #settle(id: string, outcome: ApprovalOutcome): void {
    const resolve = this.#waiters.get(id);
    if (resolve === undefined) return;
    this.#waiters.delete(id);
    resolve(outcome);
  }

  /** Expires one request if it is still pending; false when it had moved on. */
  async #expire(id: string): Promise<boolean> {
    try {
      await this.#mutate(id, (current, now) => ({ next: expired(current, now) }));
      return true;
    } catch (err) {
      if (err instanceof WardenError && (err.kind === 'conflict' || err.kind === 'not_found')) return false;
      throw err;
    }
  }

  /** A request's timer fired: expire it when due, or reschedule (the clock and the timer may disagree). */
  async #onTimer(id: string): Promise<void> {
    try {
      const request = await this.#store.approvals.get(id);
      if (request === undefined || request.status !== 'pending') {
        if (request !== undefined) this.#reconcile(request);
        return;
      }
      if (isDue(request, this.#now())) await this.#expire(id);
      else if (!this.#stopped) this.#timers.schedule(request);
    } catch (err) {
      this.#logger.error({ request: id, err }, 'cannot expire an approval request');
      if (!this.#stopped) this.#timers.retry(id);
    }
  }

  /** Startup: cancels statement requests of an earlier run, expires overdue access requests, times the rest. */
  async #recover(): Promise<void> {
    for (const request of await this.#store.approvals.pending()) {
      if (isDue(request, this.#now())) {
        await this.#expire(request.id);
      } else if (request.kind === 'statement') {
        await this.cancel(request.id, RESTART_REASON);
      } else {
        this.#timers.schedule(request);
      }
    }
  }
}
