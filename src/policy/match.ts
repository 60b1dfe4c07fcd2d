/**
 * Whether one policy rule applies: to a subject (who), to a target (where) and to one class of one statement (what).
 * The exact semantics are documented in evaluate.ts's header; this module only implements them. Pure and cheap:
 * it runs for every statement on the hot path, so it allocates nothing per call beyond glob.ts's compiled cache.
 */
import type { StatementAnalysis, StatementClass } from '../analysis/sql/types.js';
import type { Subject, Target } from '../session/types.js';
import { anyGlobMatch, globMatch } from './glob.js';
import type { PolicyRule, SubjectSelector } from './schema.js';

/** True when the rule's `subjects` selects this subject (ANY listed item suffices); no selector means everyone. */
export function subjectMatches(selector: SubjectSelector | undefined, subject: Subject): boolean {
  if (selector === undefined) return true;
  const { users, groups, services, agents, chain } = selector;
  if (users && subject.kind === 'user' && anyGlobMatch(users, subject.id)) return true;
  if (services && subject.kind === 'service' && anyGlobMatch(services, subject.id)) return true;
  if (agents && subject.kind === 'agent' && anyGlobMatch(agents, subject.id)) return true;
  if (groups && subject.groups.some((group) => anyGlobMatch(groups, group))) return true;
  if (chain?.actors && subject.chain.some((actor) => anyGlobMatch(chain.actors!, actor.id))) return true;
  if (chain?.longerThan !== undefined && subject.chain.length > chain.longerThan) return true;
  return false;
}

/** True when the target's name matches one of `targets` and every `targetLabels` entry matches its label. */
export function targetMatches(rule: Pick<PolicyRule, 'targets' | 'targetLabels'>, target: Target): boolean {
  if (!anyGlobMatch(rule.targets, target.name)) return false;
  if (rule.targetLabels === undefined) return true;
  for (const [key, pattern] of Object.entries(rule.targetLabels)) {
    const value = Object.hasOwn(target.labels, key) ? target.labels[key] : undefined;
    if (value === undefined || !globMatch(pattern, value)) return false;
  }
  return true;
}

/**
 * True when the rule's `match` holds for class `cls` of `statement`. `restrictive` is true for deny and
 * require_approval rules: their object conditions hold when the statement MAY touch a matching object; an allow
 * rule's hold only when EVERYTHING of that kind the statement touches matches as written.
 */
export function statementMatches(
  rule: Pick<PolicyRule, 'match'>,
  statement: StatementAnalysis,
  cls: StatementClass,
  restrictive: boolean,
): boolean {
  const match = rule.match;
  if (match === undefined) return true;
  if (match.classes && !match.classes.includes(cls)) return false;
  if (match.unbounded !== undefined && match.unbounded !== statement.unboundedWrite) return false;
  const objects = restrictive ? mayTouch : onlyTouches;
  if (match.tables && !objects(match.tables, statement.tables)) return false;
  if (match.functions && !objects(match.functions, statement.functions)) return false;
  if (match.schemas && !schemasHold(match.schemas, statement, restrictive)) return false;
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
function schemasHold(patterns: readonly string[], statement: StatementAnalysis, restrictive: boolean): boolean {
  if (restrictive) {
    if (statement.schemas.some((schema) => anyGlobMatch(patterns, schema))) return true;
    return statement.tables.some(isUnqualified);
  }
  return onlyTouches(patterns, statement.schemas) && !statement.tables.some(isUnqualified);
}

function isUnqualified(name: string): boolean {
  return !name.includes('.');
}
