/**
 * Masking of what a target sends back on a channel (exec stdout and stderr, PTY output): a Transform around h5's
 * StreamMasker, which holds back only what a later byte could still turn into a match, so a value split over two
 * packets is still masked. What it holds is flushed after a short quiet spell (an interactive prompt must not wait
 * for the next byte) and at the end. It never emits a byte the masker did not release.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { StreamMasker } from '../../masking/stream.js';
import type { MaskRules } from '../../masking/rules.js';

/** How long held bytes wait for more before they are flushed (a prompt, the end of a burst). */
export const QUIET_FLUSH_MS = 30;

/** A masking Transform for one output stream. */
export class MaskingStream extends Transform {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly masker: StreamMasker, private readonly onHits?: (hits: Map<string, number>) => void) {
    super();
  }

  /** A masking stream for a session's rules, or null when no rule scans content (bytes then pass untouched). */
  static forRules(rules: MaskRules, hashKey: Buffer): (() => MaskingStream) | null {
    if (StreamMasker.forRules(rules, hashKey) === null) return null;
    return () => new MaskingStream(StreamMasker.forRules(rules, hashKey)!);
  }

  /** Matches replaced so far, by rule. */
  get hits(): Map<string, number> {
    return this.masker.hits;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out = this.masker.push(chunk);
    if (out.length > 0) this.push(out);
    if (this.masker.pending > 0) {
      if (this.timer) this.timer.refresh();
      else this.timer = setTimeout(() => this.quiet(), QUIET_FLUSH_MS);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.timer) clearTimeout(this.timer);
    const out = this.masker.flush();
    if (out.length > 0) this.push(out);
    this.onHits?.(this.masker.hits);
    callback();
  }

  private quiet(): void {
    this.timer = undefined;
    if (this.writableEnded) return;
    const out = this.masker.flush();
    if (out.length > 0) this.push(out);
  }
}
