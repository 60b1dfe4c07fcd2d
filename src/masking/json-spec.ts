/**
 * Which mask items apply to HTTP bodies and how, compiled once per rules array, and the counted content scan of one
 * decoded text (a JSON string value or key, a WebSocket message, an SSE line).
 *
 * What applies to HTTP: items with `fields` (JSON selectors), `detectors` or `patterns`. An item with `fields` and
 * no detectors or patterns masks each selected value whole with its strategy; with detectors or patterns it scans
 * the strings inside the selected values with them. An item with detectors or patterns and no `fields` scans every
 * string value and member name, whatever `columns` or `types` it also has (an HTTP body has no SQL columns, and a
 * scope that cannot be judged fails closed, as for terminal output). Items with only `columns` or `types` name SQL
 * result columns and do not apply to HTTP bodies (as for every byte-stream engine). Pure: no I/O.
 */
import type { MaskItem } from '../policy/schema.js';
import { contentHits } from './content-hits.js';
import { parseSelector, SelectorMatcher, type SelectorStep } from './json-selectors.js';
import { compileRules, contentAction, type ContentAction, type MaskRules } from './rules.js';
import { NON_ASCII, PATTERNS, actionScreen, screen } from './screen.js';
import type { Strategy } from './strategies.js';
import { hitReplacement, keptHits } from './text.js';

/** One item with `fields`: what a selected value gets. */
export interface FieldItem {
  rule: string;
  strategy: Strategy;
  /** The item's own detectors and patterns (scan the selected values), or null (mask them whole). */
  content: ContentAction | null;
}

/** The HTTP masking of one rules array. */
export interface HttpMaskSpec {
  /** Matches the field selectors; each tag indexes `fields`. Null when no item has fields. */
  matcher: SelectorMatcher | null;
  fields: FieldItem[];
  /** Detectors and patterns of the items without fields: every string value and member name; null when none. */
  content: ContentAction | null;
}

const cache = new WeakMap<MaskRules, HttpMaskSpec | null>();

/** The HTTP masking of `rules`, or null when no item applies to HTTP bodies (then bodies pass untouched). */
export function httpMaskSpec(rules: MaskRules): HttpMaskSpec | null {
  if (cache.has(rules)) return cache.get(rules) ?? null;
  const compiled = compileRules(rules);
  const fields: FieldItem[] = [];
  const selectors: Array<{ steps: SelectorStep[]; tag: number }> = [];
  const unfielded = [];
  let n = 0;
  for (const r of rules) {
    for (const item of r.items) {
      const c = compiled.items[n++];
      if (item.fields === undefined) {
        if (c.content) unfielded.push(c);
        continue;
      }
      const tag = fields.length;
      fields.push({ rule: r.rule, strategy: item.strategy, content: c.content ? contentAction([c]) : null });
      for (const text of item.fields) selectors.push({ steps: safeSteps(text), tag });
    }
  }
  const content = contentAction(unfielded);
  const spec = fields.length === 0 && content === null ? null
    : { matcher: selectors.length > 0 ? new SelectorMatcher(selectors) : null, fields, content };
  cache.set(rules, spec);
  return spec;
}

/** The schema rejects bad selectors; one that still fails (an older stored policy) selects the whole body: fail closed. */
function safeSteps(text: string): SelectorStep[] {
  try {
    return parseSelector(text);
  } catch {
    return [];
  }
}

/** Whether `item` is one HTTP masking applies (see the module comment). */
export function appliesToHttp(item: MaskItem): boolean {
  return item.fields !== undefined || item.detectors !== undefined || item.patterns !== undefined;
}

/** Adds one hit for `rule` to `hits`. */
export function countHit(hits: Record<string, number>, rule: string): void {
  hits[rule] = (hits[rule] ?? 0) + 1;
}

/**
 * Whether the raw UTF-8 bytes of a JSON string may hold a match of `action`: the byte screen (screen.ts), which is
 * only sound on text as it will be scanned, so a string with an escape (`\u0040` is an `@`) or non-ASCII bytes, or
 * an action with operator patterns, always goes on to the scan.
 */
export function mayMatch(bytes: Uint8Array, start: number, end: number, escaped: boolean, action: ContentAction): boolean {
  const screening = actionScreen(action);
  if (escaped || screening.mask & PATTERNS) return true;
  const passed = screen(bytes, start, end, screening);
  return (passed & NON_ASCII) !== 0 || (passed & screening.mask) !== 0;
}

/**
 * `text` with every match of `action` replaced (overlaps: earliest, then longest), counting each replaced match for
 * its rule in `hits`; the same string instance when nothing matched.
 */
export function maskCounted(text: string, action: ContentAction, hashKey: Buffer, hits: Record<string, number>): string {
  if (text.length === 0) return text;
  const found = contentHits(action, text, () => true);
  if (found.length === 0) return text;
  let out = '';
  let pos = 0;
  const detectors = action.detectors.length;
  for (const i of keptHits(found, () => false)) {
    const start = found[3 * i];
    const end = found[3 * i + 1];
    const source = found[3 * i + 2];
    out += text.slice(pos, start) + hitReplacement(text.slice(start, end), source, action, hashKey);
    countHit(hits, source < detectors ? action.detectors[source].rule : action.patterns[source - detectors].rule);
    pos = end;
  }
  return out + text.slice(pos);
}
