/**
 * A bounded least-recently-used cache from query text to its frozen analysis, so the hot path parses each
 * distinct statement text once.
 *
 * Owns eviction only. Pure in-memory structure: no I/O, no timers. Bounded twice: by entry count and by the total
 * length of the cached texts (a few huge query strings must not pin gigabytes); a text longer than a sixteenth of
 * the character budget is never cached.
 *
 * Recency lives in a doubly linked list, not in the Map's insertion order: re-inserting a Map key on every hit
 * (the usual Map-only LRU) costs tens of microseconds per hit in V8 once the map holds thousands of entries.
 */

/** Limits of a TextCache. */
export interface CacheLimits {
  maxEntries: number;
  /** Sum of the lengths of all cached keys, in UTF-16 code units. */
  maxChars: number;
}

interface Entry<V> {
  key: string;
  value: V;
  newer: Entry<V> | undefined;
  older: Entry<V> | undefined;
}

/** LRU map keyed by text. */
export class TextCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private newest: Entry<V> | undefined;
  private oldest: Entry<V> | undefined;
  private chars = 0;

  constructor(private readonly limits: CacheLimits) {}

  /** The cached value, marked as most recently used; undefined on a miss. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry !== this.newest) {
      this.unlink(entry);
      this.pushNewest(entry);
    }
    return entry.value;
  }

  /** Stores a value, evicting the least recently used entries beyond the limits. */
  set(key: string, value: V): void {
    if (key.length > this.limits.maxChars / 16) return;
    const existing = this.entries.get(key);
    if (existing) {
      existing.value = value;
      this.get(key);
      return;
    }
    const entry: Entry<V> = { key, value, newer: undefined, older: undefined };
    this.entries.set(key, entry);
    this.pushNewest(entry);
    this.chars += key.length;
    while (this.oldest && (this.entries.size > this.limits.maxEntries || this.chars > this.limits.maxChars)) {
      const evicted = this.oldest;
      this.unlink(evicted);
      this.entries.delete(evicted.key);
      this.chars -= evicted.key.length;
    }
  }

  /** Number of cached entries. */
  get size(): number {
    return this.entries.size;
  }

  /** Total length of the cached keys. */
  get totalChars(): number {
    return this.chars;
  }

  /** Empties the cache. */
  clear(): void {
    this.entries.clear();
    this.newest = undefined;
    this.oldest = undefined;
    this.chars = 0;
  }

  private pushNewest(entry: Entry<V>): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest) this.newest.newer = entry;
    this.newest = entry;
    this.oldest ??= entry;
  }

  private unlink(entry: Entry<V>): void {
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    entry.newer = undefined;
    entry.older = undefined;
  }
}
