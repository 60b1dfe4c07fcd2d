/**
 * Member names seen before in one JSON body, by their raw bytes: the name lower-cased, for names that hold no
 * detector or pattern match. An array of a million records repeats the same few names; with the cache each costs a
 * hash and a byte comparison instead of a decode, a lower-casing and a content scan. Only plain names (no escape,
 * at most MAX_NAME_BYTES) are cached; a hash collision is settled by comparing the bytes. Bounded: MAX_ENTRIES.
 */
const MAX_NAME_BYTES = 64;
const MAX_ENTRIES = 1024;

/** A cache of clean member names, for one body. */
export class KeyCache {
  private readonly entries = new Map<number, { bytes: Buffer; name: string }>();

  /** The cached lower-cased name of bytes[start, end), or undefined. */
  get(bytes: Buffer, start: number, end: number): string | undefined {
    if (end - start > MAX_NAME_BYTES) return undefined;
    const entry = this.entries.get(hash(bytes, start, end));
    if (entry === undefined || entry.bytes.length !== end - start) return undefined;
    for (let i = 0; i < entry.bytes.length; i++) if (entry.bytes[i] !== bytes[start + i]) return undefined;
    return entry.name;
  }

  /** Remembers bytes[start, end) as a clean name, `name` lower-cased. */
  set(bytes: Buffer, start: number, end: number, name: string): void {
    if (end - start > MAX_NAME_BYTES || this.entries.size >= MAX_ENTRIES) return;
    this.entries.set(hash(bytes, start, end), { bytes: Buffer.from(bytes.subarray(start, end)), name });
  }
}

function hash(bytes: Buffer, start: number, end: number): number {
  let h = end - start;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + bytes[i]) | 0;
  return h;
}
