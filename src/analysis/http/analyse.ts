/**
 * HTTP request analysis (issue 14): one request (`METHOD /path?query` with the engine's attributes) to one analysed
 * unit with its classes and the match attributes `methods`, `paths`, `query`, `jsonBody`. Pure, synchronous, never
 * throws; a request it cannot judge is one `unknown` unit with `parseError`.
 *
 * SKELETON: classes by method only; the full analyser (attributes, body fields) replaces this.
 */
import type { Analysis } from '../../session/protocol.js';

/** What the engine tells the analyser about a request besides its text (see HttpCommandAttributes). */
export interface HttpRequestFacts {
  body?: string;
  bodyUnread?: string;
  contentType?: string;
}

const METHOD_CLASSES: Record<string, string> = { GET: 'read', HEAD: 'read', OPTIONS: 'read', POST: 'write', PUT: 'write',
  PATCH: 'write', DELETE: 'destructive' };

/** One request judged. */
export function analyseHttpRequest(text: string, _facts: HttpRequestFacts): Analysis {
  const method = text.slice(0, text.indexOf(' '));
  const cls = METHOD_CLASSES[method];
  if (cls === undefined) return unknownHttpAnalysis(text, `the method ${method} is not judged`);
  return { units: [{ text, classes: [cls], attributes: { methods: [method] } }], classes: [cls] };
}

/** A request the analyser cannot judge: one `unknown` unit, no attribute established. */
export function unknownHttpAnalysis(text: string, why: string): Analysis {
  return { units: [{ text, classes: ['unknown'], attributes: {} }], classes: ['unknown'], parseError: why };
}
