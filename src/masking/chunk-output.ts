/**
 * The output of one input chunk of a streaming masker that mostly passes bytes through: untouched runs of the chunk
 * and replacement texts are written into one buffer, allocated only once the chunk has its first replacement (a
 * chunk with none is handed back as it came, without a copy). No Buffer per run or per replacement: on a body with
 * a masked value every few dozen bytes those small allocations cost more than the masking. A buffer handed out is
 * never written again (the socket may still hold it).
 */
/** Runs up to this many bytes are copied by a loop (see run). */
const SHORT_RUN = 64;

export class ChunkOutput {
  private chunk: Buffer = Buffer.alloc(0);
  private buf: Buffer | null = null;
  private length = 0;

  /** Starts the output of `chunk`. */
  begin(chunk: Buffer): void {
    this.chunk = chunk;
    this.buf = null;
    this.length = 0;
  }

  /** Appends chunk[start, end). */
  run(start: number, end: number): void {
    if (end <= start) return;
    this.reserve(end - start);
    // Most runs between masked values are a few dozen bytes: a loop costs less than the native copy's call.
    if (end - start <= SHORT_RUN) {
      const buf = this.buf!;
      const chunk = this.chunk;
      let at = this.length;
      for (let i = start; i < end; i++) buf[at++] = chunk[i];
      this.length = at;
    } else this.length += this.chunk.copy(this.buf!, this.length, start, end);
  }

  /** Appends chunk[start, end), then a replacement (text as UTF-8, or bytes). */
  replace(start: number, end: number, replacement: string | Buffer): void {
    this.run(start, end);
    if (typeof replacement === 'string') this.text(replacement);
    else this.bytes(replacement);
  }

  /** Appends `text` as UTF-8. */
  text(text: string): void {
    this.reserve(text.length * 3);
    this.length += this.buf!.write(text, this.length, 'utf8');
  }

  /** Appends `bytes`. */
  bytes(bytes: Buffer): void {
    this.reserve(bytes.length);
    this.length += bytes.copy(this.buf!, this.length);
  }

  /** The output: what was appended, then chunk[pass, end). */
  finish(pass: number, end: number): Buffer {
    if (this.buf === null) return pass === 0 && end === this.chunk.length ? this.chunk : this.chunk.subarray(pass, end);
    this.run(pass, end);
    return this.buf.subarray(0, this.length);
  }

  private reserve(n: number): void {
    const need = this.length + n;
    if (this.buf !== null && need <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.chunk.length + 256, this.buf === null ? 0 : this.buf.length * 2));
    if (this.buf !== null) this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }
}
