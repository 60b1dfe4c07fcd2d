/**
 * SQL analysis entry point: what a query string does, as statement classes (read, write, ddl, destructive,
 * privilege, admin, unknown), relations, schemas and functions, per statement and in total. The policy engine
 * decides on this; Warden parses with PostgreSQL's own parser (libpg-query), so comments, case, quoting, dollar
 * quoting and Unicode escapes cannot disguise a statement.
 *
 * Owns the public API and the result cache. Pure: no I/O (the parser is WASM bundled in the package), never
 * throws from analyzeSql, and fails closed: anything it cannot judge is `unknown`.
 *
 * Results: an empty or comment-only string has no statements and no classes (PostgreSQL answers it with
 * EmptyQueryResponse and runs nothing). Text that does not parse is one `Unparseable` statement of class
 * `unknown`, with `parseError` set.
 */
import { cacheKey } from './cache-key.js';
import { TextCache } from './cache.js';
import { loadParser, numericTokenSpans, parserReady, parseStatements } from './parse.js';
import { fromTemplate, makeTemplate, type Template } from './reuse.js';
import { analyzeStatement, sortedClasses } from './statement.js';
import type { SqlAnalysis, StatementAnalysis } from './types.js';

/** Bounds of each cache: 10,000 texts and 16 Mi characters of text in total. */
export const SQL_ANALYSIS_CACHE_LIMITS = { maxEntries: 10_000, maxChars: 16 * 1024 * 1024 } as const;

/** Exact text -> frozen analysis: the same text gives the same object. */
const cache = new TextCache<SqlAnalysis>(SQL_ANALYSIS_CACHE_LIMITS);
/** Text with numbers replaced (cache-key.ts) -> analysis to reuse for texts that differ only in numbers. */
const templates = new TextCache<Template>(SQL_ANALYSIS_CACHE_LIMITS);

/** Loads the parser (WASM) once; must be awaited before analyzeSql. Idempotent. */
export function initSqlAnalysis(): Promise<void> {
  return loadParser();
}

/**
 * Analyses a query string (one or more statements). Synchronous, cached by exact text (LRU): the same text gives
 * the same frozen object; a text that differs from a cached one only in numeric literals reuses its analysis with
 * its own statement texts (reuse.ts). Never throws: unparseable SQL, a NUL character, an internal error or a parser
 * that was not loaded all give one `Unparseable` statement of class `unknown` and `parseError`.
 */
export function analyzeSql(text: string): SqlAnalysis {
  if (typeof text !== 'string') return unparseable('', 'query text is not a string');
  const hit = cache.get(text);
  if (hit) return hit;
  if (!parserReady()) return unparseable(text, 'SQL parser not loaded: await initSqlAnalysis() first');
  const key = cacheKey(text);
  const template = key === text ? undefined : templates.get(key);
  const reused = template && fromTemplate(template, text, key);
  if (reused) {
    const result = deepFreeze(reused);
    cache.set(text, result);
    return result;
  }
  const { analysis, ranges } = analyzeUncached(text);
  const result = deepFreeze(analysis);
  cache.set(text, result);
  if (key !== text && result.parseError === undefined && !result.statements.some((s) => s.numbersMatter)) {
    // The parser's lexer, not the hand-written key, says where the numbers are (reuse.ts, rule 2).
    let tokens: [number, number][] | undefined;
    try {
      tokens = numericTokenSpans(text);
    } catch {
      tokens = undefined;
    }
    const made = tokens && makeTemplate(result, text, key, ranges, tokens);
    if (made) templates.set(key, made);
  }
  return result;
}

/** Entries and total text length currently cached (for metrics and tests). */
export function sqlAnalysisCacheStats(): { entries: number; chars: number; templates: number } {
  return { entries: cache.size, chars: cache.totalChars, templates: templates.size };
}

/** A fresh analysis that neither reads nor fills the caches (the differential tests compare it with analyzeSql). */
export function analyzeSqlUncached(text: string): SqlAnalysis {
  if (typeof text !== 'string') return unparseable('', 'query text is not a string');
  if (!parserReady()) return unparseable(text, 'SQL parser not loaded: await initSqlAnalysis() first');
  return deepFreeze(analyzeUncached(text).analysis);
}

/** Drops every cached analysis (tests; a parser upgrade). */
export function clearSqlAnalysisCache(): void {
  cache.clear();
  templates.clear();
}

/** A fresh analysis, and where each statement's text lies in the query string (for templates). */
function analyzeUncached(text: string): { analysis: SqlAnalysis; ranges: [number, number][] } {
  if (text.trim() === '') return { analysis: { statements: [], classes: [] }, ranges: [] };
  let parsed;
  try {
    parsed = parseStatements(text);
  } catch (err) {
    return { analysis: unparseable(text, errorMessage(err)), ranges: [] };
  }
  const statements = parsed.map((s): StatementAnalysis => {
    try {
      return analyzeStatement(s.kind, s.node, s.text);
    } catch (err) {
      // A bug or a pathological tree must not let the statement through: it becomes unknown.
      return { ...emptyStatement(s.kind, s.text), analysisError: errorMessage(err) };
    }
  });
  const analysis: SqlAnalysis = { statements, classes: sortedClasses(statements.flatMap((s) => s.classes)) };
  const refusal = statements.find((s) => s.refusal !== undefined)?.refusal;
  if (refusal !== undefined) analysis.refusal = refusal;
  return { analysis, ranges: parsed.map((s) => s.range) };
}

function unparseable(text: string, parseError: string): SqlAnalysis {
  return { statements: [emptyStatement('Unparseable', text.trim())], classes: ['unknown'], parseError };
}

function emptyStatement(kind: string, text: string): StatementAnalysis {
  return { kind, classes: ['unknown'], tables: [], schemas: [], functions: [], unboundedWrite: false, text };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
