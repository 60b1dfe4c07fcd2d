/**
 * ByteSink: the output buffer of the masked result path. The relay copies the untouched runs of a TCP chunk and
 * writes the rewritten messages straight into one buffer, then sends it with a single socket write, instead of one
 * Buffer and one write per rewritten row (the per-row allocations and writes used to cost more than the masking).
 * Owns only its buffer: no I/O. A buffer handed out by take() is never written again, since the socket may still
 * hold it.
 */

/** A growable byte buffer that is written front to back and handed out whole. */
export class ByteSink {
  /** The buffer being filled; valid from 0 to `length`. */
  buf: Buffer;
  /** Bytes written so far. */
  length = 0;

  /** Buffers handed out and given back once sent (see recycle), ready to be filled again. */
  private readonly free: Buffer[] = [];

  /** `initial`: the size of each fresh buffer (it grows when a chunk's output is larger). */
  constructor(private readonly initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(0);
  }

  /** Makes room for `n` more bytes; callers then write into `buf` from `length` and advance `length` themselves. */
  reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    const size = Math.max(need, this.buf.length * 2, this.initial);
    let grown = this.free.pop();
    if (grown === undefined || grown.length < size) grown = Buffer.allocUnsafe(size);
    if (this.length > 0) this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  /**
   * Takes back a buffer take() handed out, once the socket no longer needs it (its write callback ran): filling
   * warm memory again costs less than a fresh allocation per chunk. Buffers of the shared pool are not kept.
   */
  recycle(out: Buffer): void {
    // Only whole buffers of this sink's own size: never a slice of Node's shared pool of small buffers.
    if (this.free.length >= 4 || this.initial < 8192 || out.byteOffset !== 0 || out.buffer.byteLength < this.initial) return;
    this.free.push(Buffer.from(out.buffer, 0, out.buffer.byteLength));
  }

  /** Appends `src[from, to)`. */
  append(src: Buffer, from = 0, to = src.length): void {
    const n = to - from;
    if (n <= 0) return;
    this.reserve(n);
    if (n > 64) src.copy(this.buf, this.length, from, to);
    else for (let i = 0; i < n; i++) this.buf[this.length + i] = src[from + i];
    this.length += n;
  }

  /** The bytes written so far, or null when none; the sink starts over with a fresh buffer. */
  take(): Buffer | null {
    if (this.length === 0) return null;
    const out = this.buf.subarray(0, this.length);
    // The next chunk's output goes to a new buffer: the socket may not have sent this one yet.
    this.buf = Buffer.allocUnsafe(0);
    this.length = 0;
    return out;
  }
}
