/**
 * Looks inside PL/pgSQL code (DO blocks and CREATE FUNCTION ... LANGUAGE plpgsql): finds every embedded SQL
 * statement and expression and notes dynamic SQL (EXECUTE, OPEN ... FOR EXECUTE, FOR ... IN EXECUTE), whose
 * text Warden cannot know.
 *
 * Owns the PL/pgSQL tree traversal and the rewriting of PL/pgSQL expressions into parseable SQL. Pure apart from
 * the synchronous parser call: no I/O. The SQL found is handed to a callback, so this module does not depend on
 * the statement analyser (which depends on it).
 */
import { parsePlpgsqlFunction } from './parse.js';
import type { Node } from './walk.js';

/** What a PL/pgSQL body contains. */
export interface PlpgsqlContent {
  /** SQL texts to analyse: statements as written, expressions as `SELECT <expr>`. */
  sql: string[];
  /** True when the body runs SQL built at run time. */
  dynamic: boolean;
}

/** PL/pgSQL statement node types that run a string as SQL. */
const DYNAMIC_NODES = new Set(['PLpgSQL_stmt_dynexecute', 'PLpgSQL_stmt_dynfors']);

/** Wraps a DO body in a function so the PL/pgSQL parser accepts it; the dollar tag never occurs in the body. */
export function wrapDoBody(body: string): string {
  // The stem without its closing `$` must not occur either: `...$warden` + `$warden$` would close early.
  let stem = '$warden';
  for (let i = 0; body.includes(stem); i++) stem = `$warden${i}`;
  return `CREATE FUNCTION warden_do() RETURNS void LANGUAGE plpgsql AS ${stem}$${body}${stem}$`;
}

/** Parses a whole CREATE FUNCTION statement and lists its SQL. Throws when the body does not parse. */
export function plpgsqlContent(createFunction: string): PlpgsqlContent {
  const tree = parsePlpgsqlFunction(createFunction);
  const content: PlpgsqlContent = { sql: [], dynamic: false };
  collect(tree, content, 0);
  return content;
}

function collect(value: unknown, content: PlpgsqlContent, depth: number): void {
  if (depth > 3000) throw new Error('PL/pgSQL body nested too deeply to analyse');
  if (Array.isArray(value)) {
    for (const item of value) collect(item, content, depth + 1);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value as Node)) {
    if (DYNAMIC_NODES.has(key) || key === 'dynquery') content.dynamic = true;
    if (key === 'PLpgSQL_expr' && child && typeof child === 'object') {
      const sql = exprToSql(child as Node);
      if (sql !== undefined) content.sql.push(sql);
    }
    if (child !== null && typeof child === 'object') collect(child, content, depth + 1);
  }
}

/**
 * PL/pgSQL hands each expression to the SQL parser in a mode: 0 a whole statement, 2 an expression (run as
 * `SELECT expr`), 3-5 an assignment `target := expr`. The raw parser has no modes, so the text is rewritten.
 */
function exprToSql(expr: Node): string | undefined {
  const query = typeof expr.query === 'string' ? expr.query : '';
  const mode = Number(expr.parseMode ?? 0);
  if (query.trim() === '') return undefined;
  if (mode === 1) return undefined; // a type name
  if (mode === 2) return `SELECT ${query}`;
  if (mode >= 3 && mode <= 5) return assignmentToSql(query);
  return query;
}

/**
 * `x[i] := expr` becomes `SELECT x[i], expr`: the target stays in so a call hidden in a subscript is still seen.
 * If the split lands in the wrong place the result does not parse, and the body is then `unknown`.
 */
function assignmentToSql(query: string): string {
  const colon = query.indexOf(':=');
  if (colon >= 0) return `SELECT ${query.slice(0, colon)}, ${query.slice(colon + 2)}`;
  const equals = query.indexOf('=');
  if (equals >= 0) return `SELECT ${query.slice(0, equals)}, ${query.slice(equals + 1)}`;
  return `SELECT ${query}`;
}
