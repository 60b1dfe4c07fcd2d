/**
 * Masking of what a target sends back on a byte stream (SSH exec stdout and stderr, PTY output; Kubernetes exec and
 * attach stdout and stderr), shared by the engines: a Transform around the StreamMasker, which holds back only what a
 * later byte could still turn into a match, so a value split over two packets is still masked. What it holds is
 * flushed at the end; on a terminal it is also released after a short quiet spell (a prompt and the echo of typed
 * keys must not wait for the next byte). That release fails closed: the held end that could be the beginning of a
 * value is written as `*`s and so is what continues it (StreamMasker's `release()`), so a program that pauses inside a
 * card number shows `*`s, never its digits. Exec output, without a terminal, is never released on a timer. It never
 * emits a byte the masker did not release.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StreamMasker } from '../masking/stream.js';
import type { MaskRules } from '../masking/rules.js';

/** How long held bytes wait for more before they are flushed (a prompt, the end of a burst). */
export const QUIET_FLUSH_MS = 30;

/** A masking Transform for one output stream. */
export class MaskingStream extends Transform {
  private timer: NodeJS.Timeout | undefined;

  /** `quietMs`: flush what is held after this long without output (a terminal); null: only at the end. */
  constructor(private readonly masker: StreamMasker, private readonly quietMs: number | null = QUIET_FLUSH_MS) {
    super();
  }

  /** A masking stream factory for a session's rules, or null when no rule scans content (bytes then pass untouched). */
  static forRules(rules: MaskRules, hashKey: Buffer): ((terminal: boolean) => MaskingStream) | null {
    if (StreamMasker.forRules(rules, hashKey) === null) return null;
    return (terminal) => new MaskingStream(StreamMasker.forRules(rules, hashKey)!, terminal ? QUIET_FLUSH_MS : null);
  }

  /** Matches replaced so far, by rule. */
  get hits(): Map<string, number> {
    return this.masker.hits;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out = this.masker.push(chunk);
    if (out.length > 0) this.push(out);
    if (this.masker.pending > 0 && this.quietMs !== null) {
      if (this.timer) this.timer.refresh();
      else this.timer = setTimeout(() => this.quiet(), this.quietMs);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.timer) clearTimeout(this.timer);
    const out = this.masker.flush();
    if (out.length > 0) this.push(out);
    callback();
  }

  private quiet(): void {
    this.timer = undefined;
    if (this.writableEnded) return;
    const out = this.masker.release();
    if (out.length > 0) this.push(out);
  }
}
