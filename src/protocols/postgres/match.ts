/**
 * What the SQL policy match keys mean (`tables`, `schemas`, `functions`, `unbounded`) for one analysed statement.
 * The exact semantics are documented in policy/evaluate.ts's header (item 4); this module only implements them for
 * the postgres protocol's `unitMatches`. Pure and cheap: it runs for every statement on the hot path, so it allocates
 * nothing per call beyond glob.ts's compiled cache. `classes` is matched by the pipeline, never here.
 */
import { z } from 'zod';
import { anyGlobMatch, globMatch } from '../../policy/glob.js';
import type { AnalysedUnit, MatchConditions } from '../../session/protocol.js';

// Non-empty lists: an empty list would silently make a rule match nothing (or, read loosely, everything).
const globs = z.array(z.string().min(1)).min(1);

/** The SQL match keys and the schema of each value. */
export const SQL_MATCH_KEYS = {
  tables: globs,
  schemas: globs,
  functions: globs,
  unbounded: z.boolean(),
} as const;

/** The SQL match conditions of a rule, as validated by SQL_MATCH_KEYS. */
export interface SqlMatch {
  tables?: readonly string[];
  schemas?: readonly string[];
  functions?: readonly string[];
  unbounded?: boolean;
}

const NONE: readonly string[] = [];

/**
 * True when the SQL conditions of `match` hold for `unit` (a statement). `restrictive` is true for deny and
 * require_approval rules: object conditions hold when the statement MAY touch a matching object; an allow rule's
 * hold only when EVERYTHING of that kind the statement touches matches as written.
 */
export function sqlUnitMatches(conditions: MatchConditions, unit: AnalysedUnit, restrictive: boolean): boolean {
  const match = conditions as SqlMatch;
  if (match.unbounded !== undefined && match.unbounded !== (unit.flags?.unbounded === true)) return false;
  const tables = unit.attributes.tables ?? NONE;
  const objects = restrictive ? mayTouch : onlyTouches;
  if (match.tables && !objects(match.tables, tables)) return false;
  if (match.functions && !objects(match.functions, unit.attributes.functions ?? NONE)) return false;
  if (match.schemas && !schemasHold(match.schemas, unit.attributes.schemas ?? NONE, tables, restrictive)) return false;
  return true;
}

/** Restrictive: any name may be a matching object, reading unqualified names as "in some schema". */
function mayTouch(patterns: readonly string[], names: readonly string[]): boolean {
  return names.some((name) => patterns.some((pattern) => mayResolveTo(pattern, name)));
}

/** Permissive: at least one name, and every one matches a pattern exactly as written. */
function onlyTouches(patterns: readonly string[], names: readonly string[]): boolean {
  return names.length > 0 && names.every((name) => anyGlobMatch(patterns, name));
}

/**
 * Could `name` (as written in SQL) denote an object `pattern` names? An unqualified name resolves through the
 * session's search_path, which the caller controls, so it may be in any schema: `orders` may be `audit.orders`.
 * A qualified name is also caught by a pattern that names no schema: `secrets` covers `public.secrets`.
 */
function mayResolveTo(pattern: string, name: string): boolean {
  if (globMatch(pattern, name)) return true;
  const nameDot = name.lastIndexOf('.');
  const patternDot = pattern.lastIndexOf('.');
  if (nameDot < 0 && patternDot >= 0) return globMatch(pattern.slice(patternDot + 1), name);
  if (nameDot >= 0 && patternDot < 0) return globMatch(pattern, name.slice(nameDot + 1));
  return false;
}

/**
 * Restrictive: a named schema matches, or the statement touches an unqualified table (which may live in a matching
 * schema). Unqualified functions do not count: built-ins resolve through pg_catalog first, and counting them would
 * make every `now()` hit every schema rule; name functions in `functions` to guard them.
 * Permissive: at least one schema is named, all named schemas match, and every table is
 * qualified (an unqualified table could be anywhere, so it never satisfies an allow rule's schemas).
 */
function schemasHold(patterns: readonly string[], schemas: readonly string[], tables: readonly string[],
  restrictive: boolean): boolean {
  if (restrictive) {
    if (schemas.some((schema) => anyGlobMatch(patterns, schema))) return true;
    return tables.some(isUnqualified);
  }
  return onlyTouches(patterns, schemas) && !tables.some(isUnqualified);
}

function isUnqualified(name: string): boolean {
  return !name.includes('.');
}
