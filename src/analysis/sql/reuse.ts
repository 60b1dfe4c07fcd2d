/**
 * Reuses one analysis for query texts that differ only in numeric literals (`WHERE aid = 17` / `WHERE aid = 4711`),
 * which is what clients like pgbench and ORMs without bind parameters send. The shared cache key comes from
 * cache-key.ts (numbers replaced by `?`); this module maps a text onto that key so each statement's own `text` can
 * be cut from the new query string, and refuses when the mapping is not exact.
 *
 * Owns the alignment and the template. Pure: no I/O, no parser calls (analyze.ts passes the parser's tokens in).
 * Safety rests on three things, none of them on cache-key.ts being right:
 * 1. the analysis never depends on a number's value (where.ts, classify.ts);
 * 2. a template is only made from a text whose replaced spans are exactly the numeric constants the parser's own
 *    lexer found in it (ICONST/FCONST, every one of them): a span the hand-written key took for a number inside
 *    a string (`WHERE'\' ... '1' = '2'`) makes no template, so a later `'1' = '1'` is analysed on its own;
 * 3. a text is only matched to a template when every replaced span is a well-formed numeric literal that cannot
 *    join the characters around it into another token: no identifier character, digit, `.` or `$` just before it,
 *    no identifier character or `.` just after it. The text outside the spans is the template's text, so the
 *    lexer reads both texts alike: the same tokens, numbers at the same places, only their values differ.
 * A span like `5or` (PostgreSQL 14 reads `5 or`) is refused, so the text is analysed on its own.
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
  return align(text, key)?.map;
}

/** The alignment and the replaced spans ([start, end) in `text`), or undefined (see alignToKey and rule 3). */
function align(text: string, key: string): { map: Int32Array; spans: [number, number][] } | undefined {
  const map = new Int32Array(key.length + 1);
  const spans: [number, number][] = [];
  let i = 0;
  for (let j = 0; j < key.length; j++) {
    map[j] = i;
    if (key[j] === '?' && text[i] !== '?') {
      const end = numberEnd(text, i); // the same span rule as cache-key.ts; a mismatch fails below
      if (!CLEAN_NUMBER.test(text.slice(i, end)) || joins(text, i, end)) return undefined;
      spans.push([i, end]);
      i = end;
    } else if (key[j] === text[i]) {
      i++;
    } else {
      return undefined;
    }
  }
  if (i !== text.length) return undefined;
  map[key.length] = i;
  return { map, spans };
}

/** Whether the characters around a numeric span could lex together with it into another token (rule 3). */
function joins(text: string, start: number, end: number): boolean {
  const before = start > 0 ? text.charCodeAt(start - 1) : 32;
  const after = end < text.length ? text.charCodeAt(end) : 32;
  return isIdentChar(before) || before === 46 /* . */ || isIdentChar(after) || after === 46;
}

/** Builds a template from a fresh analysis; undefined when the text cannot be aligned with its key. */
export function makeTemplate(
  analysis: SqlAnalysis,
  text: string,
  key: string,
  ranges: [number, number][],
  numericTokens: readonly [number, number][],
): Template | undefined {
  if (analysis.parseError !== undefined || ranges.length !== analysis.statements.length) return undefined;
  const aligned = align(text, key);
  if (!aligned || !sameSpans(aligned.spans, numericTokens)) return undefined;
  const { map } = aligned;
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

/** Rule 2: the key replaced exactly the parser's numeric constants, no more, no fewer. */
function sameSpans(a: readonly [number, number][], b: readonly [number, number][]): boolean {
  return a.length === b.length && a.every(([s, e], i) => s === b[i][0] && e === b[i][1]);
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
