/**
 * Decides structurally whether a WHERE clause keeps every row: `true`, `1=1`, `'a'='a'`, `$1=$1`, `x=x`, `NOT false`,
 * `1<2`, `id=5 OR true`, `true AND true`, `'t'`, `EXISTS (SELECT 1)`, `coalesce(true, x)`, ... An UPDATE or DELETE
 * with such a clause is as unbounded as one without.
 *
 * Owns a small constant folder over parser expression nodes (SQL three-valued logic). Pure: no I/O.
 * It answers "always true" only when it can prove it, except that identical operands (`x = x`, `$1 = $1`) count as
 * equal although NULL = NULL is not true: the statement is plainly written to match everything.
 */
import type { Node } from './walk.js';

/** A folded constant, or NOT_CONSTANT when the expression depends on rows, parameters or functions. */
type Value = boolean | number | string | null | typeof NOT_CONSTANT;
const NOT_CONSTANT = Symbol('not constant');

/** True when the expression is true for every row (see the module comment for what is recognised). */
export function isAlwaysTrue(expr: unknown): boolean {
  return toBool(evaluate(expr)) === true;
}

function evaluate(expr: unknown): Value {
  if (expr === null || typeof expr !== 'object') return NOT_CONSTANT;
  const [kind] = Object.keys(expr);
  const node = (expr as Node)[kind] as Node;
  switch (kind) {
    case 'A_Const':
      return constant(node);
    case 'TypeCast':
      return cast(node);
    case 'BoolExpr':
      return boolExpr(node);
    case 'A_Expr':
      return aExpr(node);
    case 'NullTest':
      return nullTest(node);
    case 'BooleanTest':
      return booleanTest(node);
    case 'CoalesceExpr':
      return coalesce(node);
    case 'SubLink':
      return subLink(node);
    default:
      return NOT_CONSTANT;
  }
}

function constant(c: Node): Value {
  if (c.isnull === true) return null;
  // The parser omits default values: `{ ival: {} }` is 0 and `{ boolval: {} }` is false.
  if (c.boolval) return (c.boolval as Node).boolval === true;
  if (c.ival) return Number((c.ival as Node).ival ?? 0);
  if (c.fval) return Number((c.fval as Node).fval ?? 0);
  if (c.sval) return String((c.sval as Node).sval ?? '');
  return NOT_CONSTANT;
}

function cast(node: Node): Value {
  const value = evaluate(node.arg);
  const names = ((node.typeName as Node)?.names ?? []) as Node[];
  const type = String(((names[names.length - 1]?.String as Node) ?? {}).sval ?? '');
  if (type === 'bool' || type === 'boolean') return toBool(value);
  return value; // other casts keep equal literals equal, which is all the comparisons need
}

function boolExpr(node: Node): Value {
  const args = ((node.args ?? []) as unknown[]).map((a) => toBool(evaluate(a)));
  switch (node.boolop) {
    case 'NOT_EXPR':
      return typeof args[0] === 'boolean' ? !args[0] : args[0];
    case 'OR_EXPR':
      if (args.includes(true)) return true;
      return args.every((a) => a === false) ? false : NOT_CONSTANT;
    case 'AND_EXPR':
      if (args.includes(false)) return false;
      return args.every((a) => a === true) ? true : NOT_CONSTANT;
    default:
      return NOT_CONSTANT;
  }
}

function aExpr(node: Node): Value {
  const names = (node.name ?? []) as Node[];
  const op = String(((names[names.length - 1]?.String as Node) ?? {}).sval ?? '');
  switch (node.kind) {
    case 'AEXPR_OP':
      return operator(op, node.lexpr, node.rexpr);
    case 'AEXPR_NOT_DISTINCT':
      return sameTree(node.lexpr, node.rexpr) ? true : distinct(node.lexpr, node.rexpr, false);
    case 'AEXPR_DISTINCT':
      return sameTree(node.lexpr, node.rexpr) ? false : distinct(node.lexpr, node.rexpr, true);
    case 'AEXPR_IN':
      return inList(op, node.lexpr, node.rexpr);
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN': {
      const [low, high] = ((node.rexpr as Node)?.List as Node)?.items as unknown[];
      const inside = boolExpr({ boolop: 'AND_EXPR', args: [cmp('>=', node.lexpr, low), cmp('<=', node.lexpr, high)] });
      return node.kind === 'AEXPR_BETWEEN' ? inside : boolExpr({ boolop: 'NOT_EXPR', args: [wrapBool(inside)] });
    }
    default:
      return NOT_CONSTANT;
  }
}

/** A comparison or arithmetic on two operands; identical operands compare equal whatever they are. */
function operator(op: string, lexpr: unknown, rexpr: unknown): Value {
  if (lexpr === undefined) {
    const v = evaluate(rexpr); // prefix operator
    if (typeof v !== 'number') return NOT_CONSTANT;
    return op === '-' ? -v : op === '+' ? v : NOT_CONSTANT;
  }
  if (sameTree(lexpr, rexpr)) {
    if (op === '=' || op === '<=' || op === '>=') return true;
    if (op === '<>' || op === '<' || op === '>') return false;
  }
  const a = evaluate(lexpr);
  const b = evaluate(rexpr);
  if (a === NOT_CONSTANT || b === NOT_CONSTANT) return NOT_CONSTANT;
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') {
    if (op === '+') return a + b;
    if (op === '-') return a - b;
    if (op === '*') return a * b;
  }
  if (op === '||' && typeof a !== 'boolean' && typeof b !== 'boolean') return `${a}${b}`;
  return compare(op, a, b);
}

function compare(op: string, a: Value, b: Value): Value {
  const pair = coerce(a, b);
  if (!pair) return NOT_CONSTANT;
  const [x, y] = pair;
  switch (op) {
    case '=':
      return x === y;
    case '<>':
      return x !== y;
    case '<':
      return x < y;
    case '>':
      return x > y;
    case '<=':
      return x <= y;
    case '>=':
      return x >= y;
    default:
      return NOT_CONSTANT;
  }
}

/** Brings two constants to one type the way PostgreSQL resolves an untyped literal against a typed one. */
function coerce(a: Value, b: Value): [number, number] | [string, string] | [boolean, boolean] | undefined {
  if (typeof a === typeof b && (typeof a === 'number' || typeof a === 'string' || typeof a === 'boolean')) {
    return [a, b] as [number, number];
  }
  if (typeof a === 'number' && typeof b === 'string') return numeric(b) === undefined ? undefined : [a, numeric(b)!];
  if (typeof a === 'string' && typeof b === 'number') return numeric(a) === undefined ? undefined : [numeric(a)!, b];
  if (typeof a === 'boolean' && typeof b === 'string') return typeof toBool(b) === 'boolean' ? [a, toBool(b) as boolean] : undefined;
  if (typeof a === 'string' && typeof b === 'boolean') return typeof toBool(a) === 'boolean' ? [toBool(a) as boolean, b] : undefined;
  return undefined;
}

function numeric(s: string): number | undefined {
  const n = Number(s.trim());
  return s.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

function cmp(op: string, l: unknown, r: unknown): unknown {
  return wrapBool(operator(op, l, r));
}

/** Turns a folded value back into an expression node so boolExpr can combine it. */
function wrapBool(v: Value): unknown {
  if (typeof v === 'boolean') return { A_Const: { boolval: { boolval: v } } };
  if (v === null) return { A_Const: { isnull: true } };
  return { ColumnRef: {} };
}

function distinct(l: unknown, r: unknown, wantDistinct: boolean): Value {
  const a = evaluate(l);
  const b = evaluate(r);
  if (a === NOT_CONSTANT || b === NOT_CONSTANT) return NOT_CONSTANT;
  const same = a === null || b === null ? a === b : compare('=', a, b);
  if (typeof same !== 'boolean') return NOT_CONSTANT;
  return wantDistinct ? !same : same;
}

/** `x IN (..., x, ...)` and constant lists; `NOT IN` is the same list with `<>`. */
function inList(op: string, lexpr: unknown, rexpr: unknown): Value {
  const items = (((rexpr as Node)?.List as Node)?.items ?? []) as unknown[];
  const arms = items.map((item) => cmp(op === '<>' ? '<>' : '=', lexpr, item));
  return boolExpr({ boolop: op === '<>' ? 'AND_EXPR' : 'OR_EXPR', args: arms });
}

function nullTest(node: Node): Value {
  const v = evaluate(node.arg);
  if (v === NOT_CONSTANT) return NOT_CONSTANT;
  return node.nulltesttype === 'IS_NULL' ? v === null : v !== null;
}

function booleanTest(node: Node): Value {
  const v = toBool(evaluate(node.arg));
  if (v === NOT_CONSTANT) return NOT_CONSTANT;
  switch (node.booltesttype) {
    case 'IS_TRUE':
      return v === true;
    case 'IS_NOT_TRUE':
      return v !== true;
    case 'IS_FALSE':
      return v === false;
    case 'IS_NOT_FALSE':
      return v !== false;
    case 'IS_UNKNOWN':
      return v === null;
    case 'IS_NOT_UNKNOWN':
      return v !== null;
    default:
      return NOT_CONSTANT;
  }
}

function coalesce(node: Node): Value {
  for (const arg of (node.args ?? []) as unknown[]) {
    const v = evaluate(arg);
    if (v !== null) return v;
  }
  return null;
}

/** `EXISTS (SELECT 1)` and `(SELECT true)`: a SELECT of constants with no FROM/WHERE returns exactly one row. */
function subLink(node: Node): Value {
  const select = (node.subselect as Node)?.SelectStmt as Node | undefined;
  if (!select || !Array.isArray(select.targetList)) return NOT_CONSTANT;
  const extra = ['fromClause', 'whereClause', 'havingClause', 'groupClause', 'limitCount', 'limitOffset', 'larg'];
  if (extra.some((k) => select[k] !== undefined)) return NOT_CONSTANT;
  const values = (select.targetList as Node[]).map((t) => evaluate((t.ResTarget as Node)?.val));
  if (values.includes(NOT_CONSTANT)) return NOT_CONSTANT;
  if (node.subLinkType === 'EXISTS_SUBLINK') return true;
  if (node.subLinkType === 'EXPR_SUBLINK' && values.length === 1) return values[0];
  return NOT_CONSTANT;
}

/** PostgreSQL's boolean input: `t`, `true`, `yes`, `on`, `1` (and unique prefixes), case-insensitive. */
function toBool(v: Value): Value {
  if (typeof v === 'boolean' || v === null || v === NOT_CONSTANT) return v;
  if (typeof v === 'number') return NOT_CONSTANT;
  const s = v.trim().toLowerCase();
  if (s === '') return NOT_CONSTANT;
  if (s === '1' || s === 'on' || 'true'.startsWith(s) || 'yes'.startsWith(s)) return true;
  if (s === '0' || s === 'of' || s === 'off' || 'false'.startsWith(s) || 'no'.startsWith(s)) return false;
  return NOT_CONSTANT;
}

/** Structural equality of two parse trees, ignoring source positions. */
function sameTree(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => k !== 'location');
  const kb = Object.keys(b).filter((k) => k !== 'location');
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameTree((a as Node)[k], (b as Node)[k]));
}
