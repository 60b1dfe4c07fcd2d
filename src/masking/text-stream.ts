/**
 * Streaming content masking of text bodies (text/*, XML, form data): the shared stream masker of terminal output
 * and exec streams (stream.ts), which already holds back a bounded tail so that a match split across chunks is
 * still masked whole, behind the ChunkMasker interface of the HTTP masking Transform.
 */
import type { ChunkMasker } from './masking-transform.js';
import type { ContentAction } from './rules.js';
import { StreamMasker } from './stream.js';

/** A ChunkMasker applying `action` (detectors and patterns) to a text stream. */
export function textMasker(action: ContentAction, hashKey: Buffer): ChunkMasker {
  const masker = new StreamMasker(action, hashKey);
  return {
    push: (chunk) => masker.push(chunk),
    end: () => masker.flush(),
    hits: () => Object.fromEntries(masker.hits),
  };
}

/** A ChunkMasker that passes everything (a text body when no detector or pattern applies). */
export function passMasker(): ChunkMasker {
  return { push: (chunk) => chunk, end: () => Buffer.alloc(0), hits: () => ({}) };
}
