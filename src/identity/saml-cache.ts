/**
 * The memory of SAML sign-ins in flight: the ids of AuthnRequests Warden sent (so a response must answer one of them,
 * which refuses unsolicited responses) and the ids already answered (so the same response cannot be used twice).
 * Both are bounded in size and in time, so a flood of `/login` requests cannot grow memory without limit; the cost of
 * the bound is that, under such a flood, the oldest pending sign-ins are forgotten and must be started again.
 * It lives in this process only: several Warden replicas behind one address would need a shared cache (the store),
 * or sticky sessions, because the replica that receives the response must know the request.
 */
import type { CacheItem, CacheProvider } from '@node-saml/node-saml';

/** Limits of a request cache. */
export interface RequestCacheOptions {
  /** Most pending request ids kept; the oldest are dropped first (default 10,000). */
  maxEntries?: number;
  /** How long a request may wait for its response (default 10 minutes). */
  ttlMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

/** node-saml's `CacheProvider` with bounds, plus a one-time claim of answered request ids. */
export class RequestIdCache implements CacheProvider {
  readonly #pending = new Map<string, CacheItem>();
  readonly #answered = new Map<string, number>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: RequestCacheOptions = {}) {
    this.#max = options.maxEntries ?? 10_000;
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** How long a request id stays valid, in milliseconds (node-saml checks it again on the response). */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Remembers a request id node-saml just generated; null when the id is already known. */
  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    this.#prune();
    if (this.#pending.has(key)) return null;
    const item = { value, createdAt: this.#now() };
    this.#pending.set(key, item);
    bound(this.#pending, this.#max);
    return item;
  }

  /** The value of a pending, unexpired request id, or null. */
  async getAsync(key: string): Promise<string | null> {
    const item = this.#pending.get(key);
    if (item === undefined || this.#expired(item.createdAt)) return null;
    return item.value;
  }

  /** Forgets a pending request id (node-saml calls it once a response for it was processed). */
  async removeAsync(key: string | null): Promise<string | null> {
    if (key === null || !this.#pending.delete(key)) return null;
    return key;
  }

  /**
   * Marks a request id as answered; false when it already was. Synchronous on purpose: of two copies of one response
   * validated at the same moment, exactly one wins, whatever node-saml's own bookkeeping did in between.
   */
  claim(key: string): boolean {
    this.#prune();
    if (this.#answered.has(key)) return false;
    this.#pending.delete(key);
    this.#answered.set(key, this.#now());
    bound(this.#answered, this.#max);
    return true;
  }

  /** How many request ids are pending (for tests and metrics). */
  get size(): number {
    return this.#pending.size;
  }

  #expired(createdAt: number): boolean {
    return this.#now() >= createdAt + this.#ttlMs;
  }

  /** Drops expired entries; maps iterate in insertion order, so the scan stops at the first live one. */
  #prune(): void {
    for (const [key, item] of this.#pending) {
      if (!this.#expired(item.createdAt)) break;
      this.#pending.delete(key);
    }
    // An answered id outlives its request by one TTL at most: after that its request has expired anyway.
    for (const [key, at] of this.#answered) {
      if (!this.#expired(at)) break;
      this.#answered.delete(key);
    }
  }
}

function bound<V>(map: Map<string, V>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) return;
    map.delete(oldest);
  }
}
