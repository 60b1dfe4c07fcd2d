/**
 * Mask rules as the policy engine returns them, compiled once per rules array: each item's column and type globs
 * (lower-cased, split into the forms a column can be matched by), its detectors, and its patterns as RegExps; the
 * content action shared by every column no column rule covers; the content action for free text. Compiled forms
 * are cached by the rules array's identity (a session keeps one array), so per-result work is only matching.
 * Pure: no I/O. Never mutates the rules it is given.
 */
import type { MaskItem } from '../policy/schema.js';
import { isDetectorName, type DetectorName } from './detectors.js';
import type { Strategy } from './strategies.js';

/** The mask rules that apply to one session: rule id ("policy/rule") and its items, in evaluation order. */
export type MaskRules = ReadonlyArray<{ rule: string; items: MaskItem[] }>;

/** Content scanning for one column or text: the detectors and patterns to run, each with its strategy and rule. */
export interface ContentAction {
  kind: 'content';
  detectors: Array<{ detector: DetectorName; strategy: Strategy; rule: string }>;
  patterns: Array<{ regex: RegExp; strategy: Strategy; rule: string }>;
}

/** A `columns` glob in the forms it can match: a source name, a `table.column` suffix, a bare column name. */
export interface ColumnGlob {
  /** The whole glob, lower-cased, matched against `schema.table.column` (only when it has a dot). */
  glob: string;
  dotted: boolean;
  /** With exactly one dot (`users.email`) the glob also matches the source's `table.column`. */
  tableColumn: boolean;
  /** The glob for bare column names: the glob itself without dots, the last part of `*.email` or `*.*.email`. */
  bare?: string;
}

/** One mask item, compiled. */
export interface CompiledItem {
  rule: string;
  strategy: Strategy;
  columns?: ColumnGlob[];
  types?: string[];
  detectors: DetectorName[];
  patterns: RegExp[];
  /** Has columns or types: applies to matching columns only. */
  scoped: boolean;
  /** Has detectors or patterns: scans values; without, masks whole values. */
  content: boolean;
}

/** A rules array, compiled. */
export interface CompiledRules {
  items: CompiledItem[];
  /** Content scanning for every column no column rule covers; null when no item scans content unscoped. */
  unscoped: ContentAction | null;
  /** Content scanning for free text (notices, errors, NOTIFY): every content item, scoped or not. */
  freeText: ContentAction | null;
}

const cache = new WeakMap<MaskRules, CompiledRules>();

/** The compiled form of `rules`, computed once per array. */
export function compileRules(rules: MaskRules): CompiledRules {
  let compiled = cache.get(rules);
  if (compiled === undefined) {
    const items = rules.flatMap((r) => r.items.map((item) => compileItem(r.rule, item)));
    compiled = {
      items,
      unscoped: contentAction(items.filter((i) => i.content && !i.scoped)),
      freeText: contentAction(items.filter((i) => i.content)),
    };
    cache.set(rules, compiled);
  }
  return compiled;
}

function compileItem(rule: string, item: MaskItem): CompiledItem {
  // The schema only admits known detector names; an unknown one (a newer policy on an older gateway) is dropped here
  // rather than crashing, and the remaining items still apply.
  const detectors = (item.detectors ?? []).filter((d) => isDetectorName(d));
  const patterns = (item.patterns ?? []).map(patternRegex);
  return {
    rule,
    strategy: item.strategy,
    columns: item.columns?.map(columnGlob),
    types: item.types?.map((t) => t.toLowerCase()),
    detectors,
    patterns,
    scoped: item.columns !== undefined || item.types !== undefined,
    content: item.detectors !== undefined || item.patterns !== undefined,
  };
}

/** Column names are matched case-insensitively: a quoted "Email" column is still an e-mail column. */
function columnGlob(pattern: string): ColumnGlob {
  const glob = pattern.toLowerCase();
  const parts = glob.split('.');
  const dotted = parts.length > 1;
  const wildcardPrefix = parts.slice(0, -1).every((p) => p === '*');
  return {
    glob,
    dotted,
    tableColumn: parts.length === 2,
    bare: !dotted ? glob : wildcardPrefix ? parts[parts.length - 1] : undefined,
  };
}

const regexCache = new Map<string, RegExp>();
const REGEX_CACHE_MAX = 1000;

/** Patterns compile once per text; the cache is bounded because policies can change for the life of a process. */
function patternRegex(source: string): RegExp {
  let re = regexCache.get(source);
  if (re === undefined) {
    if (regexCache.size >= REGEX_CACHE_MAX) regexCache.clear();
    re = new RegExp(source, 'g');
    regexCache.set(source, re);
  }
  return re;
}

/**
 * The content action of some items in order, or null when they scan nothing. A detector or pattern named twice
 * keeps its first strategy: the first rule in evaluation order wins, as for column rules.
 */
export function contentAction(items: readonly CompiledItem[]): ContentAction | null {
  const action: ContentAction = { kind: 'content', detectors: [], patterns: [] };
  const seenDetectors = new Set<DetectorName>();
  const seenPatterns = new Set<RegExp>();
  for (const item of items) {
    for (const detector of item.detectors) {
      if (seenDetectors.has(detector)) continue;
      seenDetectors.add(detector);
      action.detectors.push({ detector, strategy: item.strategy, rule: item.rule });
    }
    for (const regex of item.patterns) {
      if (seenPatterns.has(regex)) continue;
      seenPatterns.add(regex);
      action.patterns.push({ regex, strategy: item.strategy, rule: item.rule });
    }
  }
  return action.detectors.length + action.patterns.length > 0 ? action : null;
}
