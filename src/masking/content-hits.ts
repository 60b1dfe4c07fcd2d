/**
 * The matches of one content action (its detectors, then its operator patterns) in one text, as flat triples
 * (start, end, source) where `source` indexes the detectors and then the patterns: no object per hit. Shared by the
 * stream masker (terminal output) and the same-length masker (SFTP data), which differ only in which hits they keep
 * (`keep`) and how they rewrite them. Pure: the patterns' RegExps are restarted from lastIndex 0.
 */
import { scanDetector } from './detectors.js';
import type { ContentAction } from './rules.js';

/** Every hit of `action` in `text` for which `keep(start, end)` holds, detectors first, each in text order. */
export function contentHits(action: ContentAction, text: string, keep: (start: number, end: number) => boolean): number[] {
  const hits: number[] = [];
  const { detectors, patterns } = action;
  for (let d = 0; d < detectors.length; d++) {
    for (const [s, e] of scanDetector(detectors[d].detector, text)) if (keep(s, e)) hits.push(s, e, d);
  }
  patternHits(patterns, text, (s, e, p) => {
    if (keep(s, e)) hits.push(s, e, detectors.length + p);
  });
  return hits;
}

/** Calls `found(start, end, index)` for every non-empty match of each operator pattern in `text`, in order. */
export function patternHits(patterns: ReadonlyArray<{ regex: RegExp }>, text: string,
  found: (start: number, end: number, pattern: number) => void): void {
  for (let p = 0; p < patterns.length; p++) {
    const re = patterns[p].regex;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) {
        // An empty match never masks anything; step past it or the loop would not end.
        re.lastIndex = m.index + 1;
        continue;
      }
      found(m.index, m.index + m[0].length, p);
    }
  }
}
