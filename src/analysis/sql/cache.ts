/**
 * A bounded least-recently-used cache from query text to its frozen analysis, so the hot path parses each
 * distinct statement text once.
 *
 * Owns eviction only. Pure in-memory structure: no I/O, no timers. Bounded twice: by entry count and by the total
 * length of the cached texts (a few huge query strings must not pin gigabytes); a text longer than a sixteenth of
 * the character budget is never cached.
 */

/** Limits of a TextCache. */
export interface CacheLimits {
  maxEntries: number;
  /** Sum of the lengths of all cached keys, in UTF-16 code units. */
  maxChars: number;
}

/** LRU map keyed by text. A Map iterates in insertion order, so re-inserting on a hit makes the first key the LRU. */
export class TextCache<V> {
  private readonly entries = new Map<string, V>();
  private chars = 0;

  constructor(private readonly limits: CacheLimits) {}

  /** The cached value, marked as most recently used; undefined on a miss. */
  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores a value, evicting the least recently used entries beyond the limits. */
  set(key: string, value: V): void {
    if (key.length > this.limits.maxChars / 16) return;
    if (this.entries.has(key)) {
      this.entries.delete(key);
      this.chars -= key.length;
    }
    this.entries.set(key, value);
    this.chars += key.length;
    while (this.entries.size > this.limits.maxEntries || this.chars > this.limits.maxChars) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.chars -= oldest.length;
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
    this.chars = 0;
  }
}
