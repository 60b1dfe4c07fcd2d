/**
 * INTERIM stand-in for helper hc's src/protocols/http/response-masking.ts (docs: HTTP.md section 4), with the same
 * signatures, until that file lands: a session without masking rules passes answers untouched; a session with rules
 * gets every answer body refused (fail closed: never passed unmasked), and recorded bodies are not kept as text.
 * The engine imports planResponseBody and maskTextBody from here; the lead switches the import to response-masking.js.
 */
import type { Transform } from 'node:stream';
import type { ResultMasking } from '../../session/pipeline.js';

/** A masking transform and what it masked. */
export interface MaskingStream { stream: Transform; hits(): Record<string, number> }

/** How one answer body is relayed. */
export type BodyPlan =
  | { kind: 'pass' }
  | { kind: 'refuse'; reason: string }
  | { kind: 'mask'; open(): MaskingStream;
      headers(h: Record<string, string | string[]>): Record<string, string | string[]> };

/** The plan for one answer: pass without rules, refuse with any (this stand-in cannot mask). */
export function planResponseBody(masking: ResultMasking, _headers: Record<string, string | string[] | undefined>): BodyPlan {
  if (masking.rules.length === 0) return { kind: 'pass' };
  return { kind: 'refuse', reason: 'response masking is not available in this build' };
}

/** A text masked for the recording; null here: the stand-in keeps no body text. */
export const maskTextBody: ((text: string, contentType: string | undefined, masking: ResultMasking) =>
  { text: string; hits: Record<string, number> }) | null = null;
