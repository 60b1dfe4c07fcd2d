/**
 * Content masking of one text: runs a content action's detectors and operator patterns over a value, resolves
 * overlapping matches (earliest, then longest) and replaces each kept match by its strategy's output. Also the
 * entry point for free text (NOTIFY payloads, error messages and DETAILs), which gets every content rule, plus the
 * column values PostgreSQL echoes in error texts with no column metadata (`Key (email)=(...) already exists.`,
 * `Failing row contains (...)`), which only a column rule protects. Pure: no I/O. The hot path of masked results:
 * it must not allocate when nothing matches, and must return the very string it was given in that case.
 */
import { globMatch } from '../policy/glob.js';
import type { MaskItem } from '../policy/schema.js';
import { patternHits } from './content-hits.js';
import { detectorScan } from './detectors.js';
import type { ColumnAction } from './plan.js';
import { isEscaped, type Range } from './scan.js';
import { DETECTOR_BITS } from './screen.js';
import { compileRules, type CompiledItem, type MaskRules } from './rules.js';
import { REDACTED, maskValue } from './strategies.js';

type Content = Extract<ColumnAction, { kind: 'content' }>;

/**
 * Applies content detectors and patterns to one text value; returns the same string instance when nothing matched
 * (so the caller can tell cheaply). Overlapping matches: the earliest wins, then the longest, then the first in
 * the action's order. A match masked with the `null` strategy becomes '[REDACTED]' (a part of a text cannot be NULL).
 */
export function maskContent(value: string, action: Content, hashKey: Buffer): string {
  return maskScreened(value, action, hashKey, -1);
}

/**
 * maskContent for a value the byte screen has seen: `passed` holds the DETECTOR_BITS that may match (-1: not
 * screened, run every detector with its own pre-filter). Detectors outside `passed` cannot match and are skipped.
 */
export function maskScreened(value: string, action: Content, hashKey: Buffer, passed: number): string {
  return maskPrepared(value, prepareContent(action), hashKey, passed);
}

/** A content action prepared for the hot path: each detector's bit and scan, looked up once per action. */
export interface PreparedContent {
  action: Content;
  bits: number[];
  scans: Array<(text: string, screened: boolean) => readonly Range[]>;
  /** The index of the email detector among the action's detectors, -1 when it has none. */
  email: number;
  /** Per source (detectors, then patterns): its replacement when it does not depend on the match (see fixedReplacement). */
  fixed: Array<string | undefined>;
}

const preparedActions = new WeakMap<Content, PreparedContent>();

/** The prepared form of an action (cached per action object). */
export function prepareContent(action: Content): PreparedContent {
  let found = preparedActions.get(action);
  if (found === undefined) {
    found = { action, bits: action.detectors.map((d) => DETECTOR_BITS[d.detector]),
      scans: action.detectors.map((d) => detectorScan(d.detector)), email: action.detectors.findIndex((d) => d.detector === 'email'),
      fixed: [...action.detectors, ...action.patterns].map((_, source) => fixedReplacement(source, action)) };
    preparedActions.set(action, found);
  }
  return found;
}

/** maskScreened with the action already prepared (the DataRow path prepares each column's action once per plan). */
export function maskPrepared(value: string, prepared: PreparedContent, hashKey: Buffer, passed: number): string {
  // Hits as flat triples (start, end, source) where source indexes detectors, then patterns: no object per hit.
  let hits: number[] | undefined;
  const { action, bits, scans } = prepared;
  const { patterns } = action;
  for (let d = 0; d < bits.length; d++) {
    if (passed !== -1 && (passed & bits[d]) === 0) continue;
    const ranges = scans[d](value, passed !== -1);
    for (let r = 0; r < ranges.length; r++) (hits ??= []).push(ranges[r][0], ranges[r][1], d);
  }
  if (patterns.length > 0) patternHits(patterns, value, (s, e, p) => void (hits ??= []).push(s, e, bits.length + p));
  return hits === undefined ? value : rewrite(value, hits, action, hashKey);
}

function rewrite(value: string, hits: number[], action: Content, hashKey: Buffer): string {
  if (hits.length === 3) {
    // The common case: one match, nothing to order.
    let start = hits[0];
    const end = hits[1];
    if (start + 1 < end && isEscaped(value, start)) start++;
    return value.slice(0, start) + hitReplacement(value.slice(start, end), hits[2], action, hashKey) + value.slice(end);
  }
  let out = '';
  let pos = 0;
  for (const i of keptHits(hits, (index) => isEscaped(value, index))) {
    const start = hits[3 * i];
    const end = hits[3 * i + 1];
    out += value.slice(pos, start) + hitReplacement(value.slice(start, end), hits[3 * i + 2], action, hashKey);
    pos = end;
  }
  return out + value.slice(pos);
}

/**
 * Which hits (flat triples start, end, source) are replaced, in order: a hit that starts on the letter of an
 * escape (the `n` of `\n` in JSON text) starts one later, so the replacement never leaves a dangling backslash
 * that would break the JSON a client parses; overlapping hits keep the earliest, then the longest, then the first
 * source. Adjusts the starts in `hits`; returns the kept triples' indexes in text order.
 */
export function keptHits(hits: number[], escapedAt: (index: number) => boolean): number[] {
  const count = hits.length / 3;
  const order: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = hits[3 * i];
    if (start + 1 < hits[3 * i + 1] && escapedAt(start)) hits[3 * i] = start + 1;
    order.push(i);
  }
  if (count > 1) {
    order.sort((a, b) => hits[3 * a] - hits[3 * b] || hits[3 * b + 1] - hits[3 * a + 1] || hits[3 * a + 2] - hits[3 * b + 2]);
  }
  const kept: number[] = [];
  let pos = -1;
  for (const i of order) {
    if (hits[3 * i] < pos) continue;
    kept.push(i);
    pos = hits[3 * i + 1];
  }
  return kept;
}

/** The replacement of every match of source `source` when it does not depend on the match (redact, null), else undefined. */
export function fixedReplacement(source: number, action: Content): string | undefined {
  const { detectors, patterns } = action;
  const strategy = source < detectors.length ? detectors[source].strategy : patterns[source - detectors.length].strategy;
  return strategy === 'redact' || strategy === 'null' ? REDACTED : undefined;
}

/** What replaces a match found by the action's detector or pattern number `source` (detectors first). */
export function hitReplacement(match: string, source: number, action: Content, hashKey: Buffer): string {
  const { detectors, patterns } = action;
  if (source < detectors.length) {
    const { strategy, detector } = detectors[source];
    return maskValue(strategy, match, detector, hashKey) ?? REDACTED;
  }
  return maskValue(patterns[source - detectors.length].strategy, match, 'pattern', hashKey) ?? REDACTED;
}

/**
 * Masks any text (a NOTIFY payload, an error message or DETAIL) with the content rules, all of them: a detector
 * scoped to some columns still applies, since a text's values come from unknown columns. Values PostgreSQL echoes
 * with their column names (`Key (email)=(...)`) or as a row (`Failing row contains (...)`) are masked too when a
 * column rule covers them. Returns `value` itself when nothing changed.
 */
export function maskFreeText(value: string, rules: Array<{ rule: string; items: MaskItem[] }>, hashKey: Buffer): string {
  if (value.length === 0 || rules.length === 0) return value;
  const compiled = compileRules(rules as MaskRules);
  const scanned = compiled.freeText === null ? value : maskContent(value, compiled.freeText, hashKey);
  return maskEchoedValues(scanned, compiled.items);
}

const PREFILTER = /\bkey \(|failing row contains \(/i;
// `Key (names)=(values)` followed by one of the endings PostgreSQL writes (unique, foreign key, exclusion).
const KEY_ECHO = new RegExp(String.raw`(\bkey \()(.*?)(\)=\()(.*?)(\))` +
  String.raw`(?= already exists| is not present| is still referenced| conflicts with|\.?$|\.\s)`, 'gi');
const ROW_ECHO = /(failing row contains \()(.*)(\))/gi;
const IDENTIFIER = /[a-z_][a-z0-9_$]*/g;

/**
 * Masks the echoed values in `text` that column rules (items with columns/types and no detectors/patterns) cover:
 * the values of a `Key (...)=(...)` echo when a listed column matches a rule (or a `types` rule exists, since the
 * text carries no types), and the whole `Failing row contains (...)` tuple when any column rule exists (its values
 * come without names). Returns `text` itself when nothing is masked.
 */
function maskEchoedValues(text: string, items: readonly CompiledItem[]): string {
  if (!PREFILTER.test(text)) return text;
  const columnRules = items.filter((i) => i.scoped && !i.content);
  if (columnRules.length === 0) return text;
  let out = text.replace(KEY_ECHO, (all: string, open: string, names: string, eq: string, values: string, close: string) =>
    values !== REDACTED && keyCovered(names, columnRules) ? `${open}${names}${eq}${REDACTED}${close}` : all);
  out = out.replace(ROW_ECHO, (all: string, open: string, values: string, close: string) =>
    values !== REDACTED ? `${open}${REDACTED}${close}` : all);
  return out === text ? text : out;
}

/** Whether any identifier in a Key echo's column list (`email`, `lower(email::text)`) is covered by a rule. */
function keyCovered(names: string, columnRules: readonly CompiledItem[]): boolean {
  if (columnRules.some((i) => i.types !== undefined)) return true;
  const identifiers = names.toLowerCase().match(IDENTIFIER) ?? [];
  return columnRules.some((item) =>
    (item.columns ?? []).some((g) => {
      // Without a table in the text, a source glob (public.customers.card_number) is judged by its column part.
      const bare = g.bare ?? g.glob.slice(g.glob.lastIndexOf('.') + 1);
      return identifiers.some((id) => globMatch(bare, id));
    }));
}
