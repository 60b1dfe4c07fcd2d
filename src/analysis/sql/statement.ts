/**
 * Analyses one parsed statement: walks it (relations, calls, nested statements), classifies it and everything
 * inside it, and follows function and DO bodies into their own SQL.
 *
 * Owns how the parts combine: nested statements and bodies add their classes except `read` (a read inside
 * something else adds nothing), calls add the classes of dangerous functions, and `read` survives only when it
 * is all a statement does. Pure apart from synchronous parser calls: no I/O.
 */
import { plpgsqlContent, wrapDoBody } from './bodies.js';
import { classify, type Body } from './classify.js';
import { judgeCall } from './functions.js';
import { parseStatements } from './parse.js';
import type { StatementAnalysis, StatementClass } from './types.js';
import { newCollected, walkStatement, type Node } from './walk.js';

/** Bodies inside bodies (a DO whose SQL creates a function ...) are followed this deep, then `unknown`. */
const MAX_BODY_DEPTH = 4;

/** A statement's findings before they are sorted and frozen. */
interface Facts {
  classes: Set<StatementClass>;
  unbounded: boolean;
  tables: Set<string>;
  schemas: Set<string>;
  functions: Set<string>;
  /** Why the statement must never run (settings.ts); the first one is reported. */
  refusals: string[];
  /** A number's value decided something (where.ts). */
  numbersMatter: boolean;
}

/** Analyses one top-level statement of parser type `kind`; `text` is its own source. */
export function analyzeStatement(kind: string, node: Node, text: string): StatementAnalysis {
  const { facts, verdict } = analyzeNode(kind, node, text, 0);
  const result: StatementAnalysis = {
    kind,
    classes: sortedClasses(facts.classes),
    tables: [...facts.tables].sort(),
    schemas: [...facts.schemas].sort(),
    functions: [...facts.functions].sort(),
    unboundedWrite: facts.unbounded,
    text,
  };
  if (facts.refusals.length > 0) result.refusal = facts.refusals[0];
  if (facts.numbersMatter) result.numbersMatter = true;
  if (verdict.prepares !== undefined) result.prepares = verdict.prepares;
  if (verdict.executes !== undefined) result.executes = verdict.executes;
  if (verdict.deallocates !== undefined) result.deallocates = verdict.deallocates;
  return result;
}

function analyzeNode(kind: string, node: Node, text: string, depth: number) {
  const collected = newCollected();
  walkStatement(kind, node, collected);
  const verdict = classify(kind, node, text);
  const facts: Facts = { ...collected, classes: new Set(verdict.classes), unbounded: verdict.unbounded,
    refusals: verdict.refusal === undefined ? [] : [verdict.refusal], numbersMatter: verdict.numbersMatter === true };
  const bodies: Body[] = [...verdict.bodies];
  if (verdict.mergeNested) {
    for (const nested of collected.nested) {
      const inner = classify(nested.kind, nested.node, '');
      addClasses(facts.classes, inner.classes);
      facts.unbounded ||= inner.unbounded;
      facts.numbersMatter ||= inner.numbersMatter === true;
      if (inner.refusal !== undefined) facts.refusals.push(inner.refusal);
      bodies.push(...inner.bodies);
    }
  }
  for (const call of collected.calls) {
    const judged = judgeCall(call);
    addClasses(facts.classes, judged.classes);
    if (judged.refusal !== undefined) facts.refusals.push(judged.refusal);
    // SQL text a function runs (query_to_xml('...'), ts_stat('...')) is judged like a body.
    for (const sql of judged.sql) bodies.push({ language: 'sql', source: sql });
  }
  for (const body of bodies) mergeBody(facts, body, depth);
  if (facts.classes.size > 1) facts.classes.delete('read'); // `read` means "only reads"
  return { facts, verdict };
}

/** Parses a function or DO body and merges what it does into the statement that carries it. */
function mergeBody(facts: Facts, body: Body, depth: number): void {
  if (depth >= MAX_BODY_DEPTH) {
    facts.classes.add('unknown');
    return;
  }
  if (body.language === 'sql') {
    mergeSql(facts, body.source, depth);
    return;
  }
  try {
    const source = body.language === 'plpgsql-block' ? wrapDoBody(body.source) : body.source;
    const content = plpgsqlContent(source);
    if (content.dynamic) facts.classes.add('unknown'); // EXECUTE of a string built at run time
    for (const sql of content.sql) mergeSql(facts, sql, depth);
  } catch {
    facts.classes.add('unknown'); // a body the PL/pgSQL parser rejects cannot be judged
  }
}

function mergeSql(facts: Facts, sql: string, depth: number): void {
  if (sql.trim() === '') return; // an empty function body does nothing
  let statements;
  try {
    statements = parseStatements(sql);
  } catch {
    facts.classes.add('unknown');
    return;
  }
  for (const s of statements) {
    const inner = analyzeNode(s.kind, s.node, s.text, depth + 1).facts;
    addClasses(facts.classes, inner.classes);
    facts.unbounded ||= inner.unbounded;
    for (const t of inner.tables) facts.tables.add(t);
    for (const t of inner.schemas) facts.schemas.add(t);
    for (const t of inner.functions) facts.functions.add(t);
    facts.refusals.push(...inner.refusals);
    facts.numbersMatter ||= inner.numbersMatter;
  }
}

function addClasses(into: Set<StatementClass>, from: Iterable<StatementClass>): void {
  for (const c of from) if (c !== 'read') into.add(c);
}

/** Classes in a fixed, documented order (alphabetical), so results compare with plain equality. */
export function sortedClasses(classes: Iterable<StatementClass>): StatementClass[] {
  return [...new Set(classes)].sort();
}
