/**
 * Small concurrency helpers of the approval service: one expiry timer per pending request (unref'd, so a pending
 * request never keeps Warden alive) and a per-key lock that runs one change of a request at a time.
 * They hold no approval logic: the service decides what a fired timer means and what runs under the lock.
 */

/** setTimeout's ceiling (about 24.8 days); a longer delay would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Wait before trying again when a timer's work failed (the store was briefly unavailable, say). */
const RETRY_DELAY_MS = 5_000;
/**
 * Smallest wait when rescheduling: the service's clock may lag the timers' real clock (tests inject one), and a
 * zero delay would spin.
 */
const MIN_DELAY_MS = 50;

/** One unref'd timer per request id, firing at the request's `expiresAt` by the given clock. */
export class ExpiryTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly now: () => number,
    private readonly onFire: (id: string) => Promise<void>,
  ) {}

  /** (Re)arms the timer of a request for its `expiresAt`. */
  schedule(request: { id: string; expiresAt: string }): void {
    const delay = Date.parse(request.expiresAt) - this.now();
    this.#arm(request.id, Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, delay)));
  }

  /** Tries again a little later, after the work of a fired timer failed. */
  retry(id: string): void {
    this.#arm(id, RETRY_DELAY_MS);
  }

  /** Disarms one request's timer (it was decided). */
  cancel(id: string): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
  }

  /** Disarms every timer (shutdown). */
  clear(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** How many timers are armed (tests). */
  get size(): number {
    return this.#timers.size;
  }

  #arm(id: string, delay: number): void {
    this.cancel(id);
    const timer = setTimeout(() => {
      if (this.#timers.get(id) === timer) this.#timers.delete(id);
      // onFire reports its own failures; a rejection that slips through is retried rather than left unhandled.
      this.onFire(id).catch(() => this.retry(id));
    }, delay);
    timer.unref();
    this.#timers.set(id, timer);
  }
}

/** Runs async functions one at a time per key, in call order; different keys run concurrently. */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` once every earlier call with the same key has settled; resolves or rejects like `fn`. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    // `tail` never rejects (see above), so this continuation cannot either.
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }, () => undefined);
    return result;
  }
}
