/**
 * Reuses one analysis for query texts that differ only in numeric literals (`WHERE aid = 17` / `WHERE aid = 4711`),
 * which is what clients like pgbench and ORMs without bind parameters send. The shared cache key comes from
 * cache-key.ts (numbers replaced by `?`); this module maps a text onto that key so each statement's own `text` can
 * be cut from the new query string, and refuses when the mapping is not exact.
 *
 * Owns the alignment and the template. Pure: no I/O, no parser calls.
 * Safety rests on two things: the analysis never depends on a number's value (where.ts, classify.ts), and a text
 * is only matched to a template when every replaced span is a well-formed numeric literal. A span like `5or`
 * (PostgreSQL 14 reads `5 or`) is refused, so the text is analysed on its own.
 */
import type { SqlAnalysis, StatementAnalysis } from './types.js';

/** A cached analysis plus where each statement's text lies in key coordinates. */
export interface Template {
  analysis: SqlAnalysis;
  /** [start, end) of each statement's trimmed text, as offsets into the cache key. */
  ranges: [number, number][];
}

const DEC = String.raw`\d+(?:_\d+)*`;
/** Decimal, float with exponent, hex, octal and binary literals as PostgreSQL 16+ lexes them; nothing else. */
const CLEAN_NUMBER = new RegExp(
  String.raw`^(?:(?:${DEC}(?:\.(?:${DEC})?)?|\.${DEC})(?:[eE][+-]?${DEC})?|0[xX](?:_?[0-9a-fA-F]+)+|0[oO](?:_?[0-7]+)+|0[bB](?:_?[01]+)+)$`,
);

/**
 * For each offset of `key` (and its end), the matching offset in `text`; undefined unless `key` is `text` with
 * some well-formed numeric literals replaced by `?`.
 */
export function alignToKey(text: string, key: string): Int32Array | undefined {
  const map = new Int32Array(key.length + 1);
  let i = 0;
  for (let j = 0; j < key.length; j++) {
    map[j] = i;
    if (key[j] === '?' && text[i] !== '?') {
      const end = numberEnd(text, i); // the same span rule as cache-key.ts; a mismatch fails below
      if (!CLEAN_NUMBER.test(text.slice(i, end))) return undefined;
      i = end;
    } else if (key[j] === text[i]) {
      i++;
    } else {
      return undefined;
    }
  }
  if (i !== text.length) return undefined;
  map[key.length] = i;
  return map;
}

/** Builds a template from a fresh analysis; undefined when the text cannot be aligned with its key. */
export function makeTemplate(
  analysis: SqlAnalysis,
  text: string,
  key: string,
  ranges: [number, number][],
): Template | undefined {
  if (analysis.parseError !== undefined || ranges.length !== analysis.statements.length) return undefined;
  const map = alignToKey(text, key);
  if (!map) return undefined;
  const keyRanges: [number, number][] = [];
  for (const [start, end] of ranges) {
    const ks = keyOffset(map, start);
    const ke = keyOffset(map, end);
    if (ks === undefined || ke === undefined) return undefined;
    keyRanges.push([ks, ke]);
  }
  return { analysis, ranges: keyRanges };
}

/** The template's analysis with each statement's text cut from `text`; undefined when `text` does not align. */
export function fromTemplate(template: Template, text: string, key: string): SqlAnalysis | undefined {
  const map = alignToKey(text, key);
  if (!map) return undefined;
  const statements = template.analysis.statements.map(
    (s, i): StatementAnalysis => ({ ...s, text: text.slice(map[template.ranges[i][0]], map[template.ranges[i][1]]) }),
  );
  return { ...template.analysis, statements };
}

/** The key offset whose text offset is exactly `offset` (the map is strictly increasing). */
function keyOffset(map: Int32Array, offset: number): number | undefined {
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid] === offset) return mid;
    if (map[mid] < offset) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function isIdentChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c > 127;
}

/** End of the numeric span starting at i, by cache-key.ts's rule: identifier characters, dots, exponent signs. */
function numberEnd(text: string, i: number): number {
  let j = i;
  if (text[j] === '0' && /[xXoObB]/.test(text[j + 1] ?? '')) j += 2;
  while (j < text.length && (isIdentChar(text.charCodeAt(j)) || text[j] === '.')) {
    if ((text[j] === 'e' || text[j] === 'E') && (text[j + 1] === '-' || text[j + 1] === '+')) j++;
    j++;
  }
  return j;
}
