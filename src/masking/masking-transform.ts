/**
 * The Transform around a push/end masker (JSON, text, server-sent events), with optional decoders in front
 * (gunzip, inflate, brotli): chunks go through the decoders, the decoded bytes through the masker, and the masked
 * bytes out, uncompressed. A masker error (invalid JSON, a token over its bound) or a decoder error (a corrupt gzip
 * stream) errors the Transform: the caller cuts the connection, so nothing after the fault is passed unmasked.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** A masker fed chunk by chunk: what each call returns is safe to emit; end() emits the rest or throws. */
export interface ChunkMasker {
  push(chunk: Buffer): Buffer;
  end(): Buffer;
  hits(): Record<string, number>;
}

/** A masking Transform and its hit counts (by rule, "policy/rule"). */
export interface MaskingStream {
  stream: Transform;
  hits(): Record<string, number>;
}

/** Wraps `masker`, decoding each chunk through `decoders` first (outermost coding first; none: identity). */
export function maskingStream(masker: ChunkMasker, decoders: Transform[] = []): MaskingStream {
  return { stream: decoders.length === 0 ? new PlainTransform(masker) : new DecodingTransform(masker, decoders), hits: () => masker.hits() };
}

/** Pushes what `produce` returns and calls back, or calls back with its error (the Transform then errors). */
function emit(stream: Transform, produce: () => Buffer, callback: TransformCallback): void {
  let out: Buffer;
  try {
    out = produce();
  } catch (err) {
    return callback(err as Error);
  }
  if (out.length > 0) stream.push(out);
  callback();
}

class PlainTransform extends Transform {
  constructor(private readonly masker: ChunkMasker) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    emit(this, () => this.masker.push(chunk), callback);
  }

  override _flush(callback: TransformCallback): void {
    emit(this, () => this.masker.end(), callback);
  }
}

class DecodingTransform extends Transform {
  private readonly first: Transform;
  private readonly last: Transform;
  private failed = false;

  constructor(private readonly masker: ChunkMasker, decoders: Transform[]) {
    super();
    for (let i = 0; i + 1 < decoders.length; i++) decoders[i].pipe(decoders[i + 1]);
    this.first = decoders[0];
    this.last = decoders[decoders.length - 1];
    for (const d of decoders) d.on('error', (err: Error) => this.fail(err));
    this.last.on('data', (chunk: Buffer) => {
      if (this.failed) return;
      try {
        const out = this.masker.push(chunk);
        if (out.length > 0) this.push(out);
      } catch (err) {
        this.fail(err as Error);
      }
    });
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.destroy(err);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failed) return callback();
    // The decoder's callback comes once it has taken the chunk: backpressure follows the decoder's.
    this.first.write(chunk, () => callback());
  }

  override _flush(callback: TransformCallback): void {
    this.last.once('end', () => {
      if (!this.failed) emit(this, () => this.masker.end(), callback);
    });
    this.first.end();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.first.destroy();
    this.last.destroy();
    callback(err);
  }
}
