/**
 * Generic walk over one libpg-query statement tree: collects every relation (RangeVar), every function call
 * (FuncCall) and every statement nested inside (data-modifying CTEs, rule actions, BEGIN ATOMIC bodies, CREATE
 * SCHEMA elements, COPY and EXPLAIN queries, SET clauses), wherever they sit.
 *
 * Owns the traversal and the CTE scoping. Pure: no I/O, no parser calls, never mutates the tree.
 * It visits every object and array rather than a list of known fields, so a construct nobody thought of is still
 * searched. The parser writes most nodes as `{ NodeType: {...} }`, but fields typed as one node kind hold the
 * payload bare (`DeleteStmt.relation`, `CallStmt.funccall`, `SelectStmt.larg`); those are recognised by shape or
 * by field name.
 */
import { namedObjects } from './names.js';
import { pinnedSetConfigCalls } from './settings.js';

/** A parser node payload. */
export type Node = Record<string, unknown>;

/** One function call found in the tree. */
export interface Call {
  /** Lower-cased, `schema.name` when qualified in the text. */
  name: string;
  /** The first argument when it is a string literal, null when it is something else, undefined when absent. */
  firstArg: string | null | undefined;
  /** Every positional argument: its string literal, or null when it is anything else. */
  args: (string | null)[];
  /** For `set_config(name, ...) FROM pg_settings WHERE name = '...'`: the names the query pins (settings.ts). */
  pinnedNames?: string[];
}

/** A statement found inside another one. */
export interface Nested {
  kind: string;
  node: Node;
}

/** What a walk collects; tables, schemas and functions are filled in place. */
export interface Collected {
  tables: Set<string>;
  schemas: Set<string>;
  functions: Set<string>;
  calls: Call[];
  nested: Nested[];
  /** FuncCall payloads whose first argument a pg_settings query pins to known names (settings.ts). */
  pins?: Map<Node, string[]>;
}

/** Trees deeper than this are refused (the caller turns the error into `unknown`) instead of overflowing. */
const MAX_DEPTH = 3000;
const NO_SCOPE: ReadonlySet<string> = new Set();

/** Creates an empty accumulator. */
export function newCollected(): Collected {
  return { tables: new Set(), schemas: new Set(), functions: new Set(), calls: [], nested: [] };
}

/**
 * Walks the payload of a top-level statement of node type `kind` into `into`. The statement itself is not
 * reported as nested; everything below it is.
 */
export function walkStatement(kind: string, node: Node, into: Collected): void {
  namedObjects(kind, node, into);
  if (kind === 'SelectStmt') notePins(node, into);
  visitObject(node, NO_SCOPE, into, 0);
}

function visit(value: unknown, key: string, scope: ReadonlySet<string>, acc: Collected, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('statement nested too deeply to analyse');
  if (Array.isArray(value)) {
    for (const item of value) visit(item, key, scope, acc, depth + 1);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Node;
  const keys = Object.keys(obj);
  if (keys.length === 1 && isUpper(keys[0].charCodeAt(0))) {
    visitNode(keys[0], obj[keys[0]] as Node, scope, acc, depth + 1);
  } else if (key === 'funccall') {
    visitNode('FuncCall', obj, scope, acc, depth + 1); // CallStmt holds its FuncCall bare
  } else if (key === 'setstmt') {
    visitNode('VariableSetStmt', obj, scope, acc, depth + 1); // ALTER SYSTEM / DATABASE / ROLE ... SET
  } else if (isRangeVar(obj)) {
    addRelation(obj, acc); // a bare RangeVar is a target (DML relation, INTO, CREATE ... ON): never a CTE name
  } else {
    visitObject(obj, scope, acc, depth + 1);
  }
}

function visitNode(kind: string, node: Node, scope: ReadonlySet<string>, acc: Collected, depth: number): void {
  if (node === null || typeof node !== 'object') return;
  if (kind === 'RangeVar') {
    // In FROM lists an unqualified name may be a CTE in scope, which is not a table.
    if (node.schemaname === undefined && scope.has(String(node.relname))) return;
    addRelation(node, acc);
    return;
  }
  if (kind === 'FuncCall') addCall(node, acc);
  if (kind === 'SelectStmt') notePins(node, acc);
  // Every statement node type ends in `Stmt`, so an unfamiliar one is still reported (and classed unknown).
  // A plain sub-SELECT is just an expression here; one that locks or creates a table is caught in visitObject.
  if (kind.endsWith('Stmt') && kind !== 'SelectStmt') {
    acc.nested.push({ kind, node });
    namedObjects(kind, node, acc);
  }
  visitObject(node, scope, acc, depth);
}

/** Visits every field; a WITH clause first, so its CTE names are in scope for the rest of the statement. */
function visitObject(node: Node, scope: ReadonlySet<string>, acc: Collected, depth: number): void {
  let inner = scope;
  const withClause = node.withClause as Node | undefined;
  if (withClause && typeof withClause === 'object') inner = visitWith(withClause, scope, acc, depth);
  // A SELECT that locks rows (FOR UPDATE/SHARE) or creates a table (INTO) does more than read, at any depth.
  if (Array.isArray(node.lockingClause) || (node.intoClause && 'op' in node)) {
    acc.nested.push({ kind: 'SelectStmt', node });
  }
  for (const key of Object.keys(node)) {
    if (key === 'withClause' || key === 'location') continue;
    const value = node[key];
    if (value !== null && typeof value === 'object') visit(value, key, inner, acc, depth + 1);
  }
}

/**
 * A non-recursive CTE sees only the CTEs before it (a later sibling's name still means the real table);
 * WITH RECURSIVE makes every name visible in every body. The main query sees them all.
 */
function visitWith(withClause: Node, scope: ReadonlySet<string>, acc: Collected, depth: number): ReadonlySet<string> {
  const ctes = (Array.isArray(withClause.ctes) ? withClause.ctes : []) as Node[];
  const entries = ctes.map((c) => (c.CommonTableExpr ?? {}) as Node);
  const names = entries.map((e) => String(e.ctename));
  const all = new Set([...scope, ...names]);
  const growing = new Set(scope);
  for (const [i, entry] of entries.entries()) {
    const visible = withClause.recursive === true ? all : new Set(growing);
    visitObject(entry, visible, acc, depth + 1);
    growing.add(names[i]);
  }
  return all;
}

/** Node type names start with a capital letter (`SelectStmt`, `A_Const`); field names never do. */
function isUpper(code: number): boolean {
  return code >= 65 && code <= 90;
}

function isRangeVar(obj: Node): boolean {
  return typeof obj.relname === 'string' && typeof obj.relpersistence === 'string';
}

function addRelation(rv: Node, acc: Collected): void {
  const schema = typeof rv.schemaname === 'string' ? rv.schemaname : undefined;
  const name = String(rv.relname);
  acc.tables.add(schema ? `${schema}.${name}` : name);
  if (schema) acc.schemas.add(schema);
}

/** Remembers the set_config calls a SELECT's own WHERE pins to known setting names. */
function notePins(select: Node, acc: Collected): void {
  for (const [call, names] of pinnedSetConfigCalls(select)) (acc.pins ??= new Map()).set(call, names);
}

function addCall(fc: Node, acc: Collected): void {
  const parts = (Array.isArray(fc.funcname) ? fc.funcname : []).map(stringValue);
  // `extract(...)`, `substring(... from ...)` come back as pg_catalog.* calls; that schema was never written.
  if (fc.funcformat === 'COERCE_SQL_SYNTAX' && parts.length > 1 && parts[0] === 'pg_catalog') parts.shift();
  if (parts.length === 0) return;
  const name = parts.join('.').toLowerCase();
  if (parts.length > 1) acc.schemas.add(parts[parts.length - 2]);
  acc.functions.add(name);
  const args = Array.isArray(fc.args) ? (fc.args as unknown[]) : [];
  const literals = args.map(stringLiteral);
  const call: Call = { name, firstArg: args.length === 0 ? undefined : literals[0], args: literals };
  const pinned = acc.pins?.get(fc);
  if (pinned) call.pinnedNames = pinned;
  acc.calls.push(call);
}

/** The text of a `String` node, or '' for anything else. */
export function stringValue(node: unknown): string {
  const s = (node as { String?: { sval?: unknown } } | null)?.String?.sval;
  return typeof s === 'string' ? s : '';
}

/** A string constant, also through casts (`'role'::text`); null when the expression is anything else. */
export function stringLiteral(node: unknown): string | null {
  const n = node as Node | null;
  if (!n || typeof n !== 'object') return null;
  const cast = n.TypeCast as Node | undefined;
  if (cast) return stringLiteral(cast.arg);
  const constant = n.A_Const as { sval?: { sval?: string } } | undefined;
  if (constant?.sval) return constant.sval.sval ?? '';
  return null;
}
