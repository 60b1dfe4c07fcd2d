/**
 * Decides structurally whether a WHERE clause may keep every row: `true`, `1=1`, `'a'='a'`, `$1=$1`, `x=x`,
 * `NOT false`, `1<2`, `id=5 OR true`, `true AND true`, `'t'`, `EXISTS (SELECT 1)`, `coalesce(true, x)`, ... An UPDATE
 * or DELETE with such a clause is as unbounded as one without.
 *
 * Owns a small constant folder over parser expression nodes. Pure: no I/O.
 *
 * An expression folds to the SET of values it could have, and a clause counts as unbounded when `true` is among
 * them (fail closed). Three kinds of unknowns:
 * - a number is an opaque NUM and is never looked at: the analysis cache shares one result between texts that
 *   differ only in numeric literals (cache-key.ts), so `1 = 2` must be {true, false}, like `1 = 1`;
 * - an expression that mentions no column (`$1`, `now() > '2020-01-01'`, `length('abc') = 3`, `EXISTS (SELECT 1
 *   FROM u)`) is ANY: the same for every row, so the statement touches all rows or none, and it may be all;
 * - an expression over columns is NC (it depends on the row): that is what bounds a statement.
 * Identical operands (`x = x`, `$1 = $1`) count as equal although NULL = NULL is not true: such a statement is
 * plainly written to match everything.
 */
import type { Node } from './walk.js';

const NUM = Symbol('number');
const ANY = Symbol('row-independent unknown');
const NC = Symbol('row-dependent');
/** One possible value of an expression. */
type Scalar = boolean | null | string | typeof NUM | typeof ANY | typeof NC;
/** Every value the expression could fold to, deduplicated. */
type Possible = Scalar[];

const ANY_BOOL: Possible = [true, false];
const ANY_TRUTH: Possible = [true, false, null];

/** True when the clause keeps every row for some choice of the numbers written in it. */
export function isAlwaysTrue(expr: unknown): boolean {
  return truth(evaluate(expr)).includes(true);
}

function evaluate(expr: unknown): Possible {
  if (expr === null || typeof expr !== 'object') return [NC];
  const [kind] = Object.keys(expr);
  const node = (expr as Node)[kind] as Node;
  switch (kind) {
    case 'A_Const':
      return [constant(node)];
    case 'TypeCast':
      return cast(node);
    case 'BoolExpr':
      return boolExpr(String(node.boolop), ((node.args ?? []) as unknown[]).map(evaluate));
    case 'A_Expr':
      return aExpr(node);
    case 'NullTest':
      return unique(evaluate(node.arg).flatMap((v) => nullTest(node.nulltesttype === 'IS_NULL', v)));
    case 'BooleanTest':
      return unique(truth(evaluate(node.arg)).map((v) => booleanTest(String(node.booltesttype), v)));
    case 'CoalesceExpr':
      return coalesce(((node.args ?? []) as unknown[]).map(evaluate));
    case 'SubLink':
      return subLink(node, expr);
    case 'ColumnRef':
    case 'CurrentOfExpr':
      return [NC];
    default:
      return opaque(expr);
  }
}

/** Anything not folded: row-independent unless it mentions a column (or a cursor position). */
function opaque(expr: unknown): Possible {
  return mentionsRow(expr) ? [NC] : [ANY];
}

function nullTest(isNull: boolean, v: Scalar): Possible {
  if (v === NC) return [NC];
  if (v === ANY) return ANY_BOOL;
  return [(v === null) === isNull];
}

function constant(c: Node): Scalar {
  if (c.isnull === true) return null;
  if (c.boolval) return (c.boolval as Node).boolval === true; // `{ boolval: {} }` is false
  if (c.ival || c.fval) return NUM;
  if (c.sval) return String((c.sval as Node).sval ?? '');
  return NC;
}

function cast(node: Node): Possible {
  const values = evaluate(node.arg);
  const names = ((node.typeName as Node)?.names ?? []) as Node[];
  const type = String(((names[names.length - 1]?.String as Node) ?? {}).sval ?? '');
  if (type !== 'bool' && type !== 'boolean') return values; // other casts keep equal literals equal
  return unique(values.flatMap((v) => (v === NUM ? ANY_BOOL : truth([v]))));
}

/** SQL three-valued AND / OR / NOT over every combination of the arguments' possible values. */
function boolExpr(op: string, args: Possible[]): Possible {
  const bools = args.map(truth);
  if (op === 'NOT_EXPR') return (bools[0] ?? [NC]).map((v) => (typeof v === 'boolean' ? !v : v));
  const combine = op === 'AND_EXPR' ? and : op === 'OR_EXPR' ? or : undefined;
  if (!combine || bools.length === 0) return [NC];
  return bools.reduce((acc, next) => unique(acc.flatMap((a) => next.map((b) => combine(a, b)))));
}

function and(a: Scalar, b: Scalar): Scalar {
  if (a === false || b === false) return false;
  if (a === NC || b === NC) return NC;
  return a === null || b === null ? null : true;
}

function or(a: Scalar, b: Scalar): Scalar {
  if (a === true || b === true) return true;
  if (a === NC || b === NC) return NC;
  return a === null || b === null ? null : false;
}

function aExpr(node: Node): Possible {
  const names = (node.name ?? []) as Node[];
  const op = String(((names[names.length - 1]?.String as Node) ?? {}).sval ?? '');
  const { lexpr, rexpr } = node;
  switch (node.kind) {
    case 'AEXPR_OP':
      return lexpr === undefined ? prefix(op, evaluate(rexpr)) : binary(op, lexpr, rexpr);
    case 'AEXPR_NOT_DISTINCT':
    case 'AEXPR_DISTINCT': {
      const equal = binary('IS NOT DISTINCT FROM', lexpr, rexpr);
      return node.kind === 'AEXPR_DISTINCT' ? boolExpr('NOT_EXPR', [equal]) : equal;
    }
    case 'AEXPR_IN': {
      const items = (((rexpr as Node)?.List as Node)?.items ?? []) as unknown[];
      const arms = items.map((item) => binary(op === '<>' ? '<>' : '=', lexpr, item));
      return boolExpr(op === '<>' ? 'AND_EXPR' : 'OR_EXPR', arms);
    }
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN': {
      const [low, high] = ((((rexpr as Node)?.List as Node)?.items ?? []) as unknown[]).concat([undefined, undefined]);
      const inside = boolExpr('AND_EXPR', [binary('>=', lexpr, low), binary('<=', lexpr, high)]);
      return node.kind === 'AEXPR_BETWEEN' ? inside : boolExpr('NOT_EXPR', [inside]);
    }
    default:
      return opaque(node); // LIKE, ANY/ALL, NULLIF, ...: constant unless a column is involved
  }
}

function prefix(op: string, values: Possible): Possible {
  return unique(values.map((v) => (v === NC ? NC : v === NUM && (op === '-' || op === '+') ? NUM : ANY)));
}

/** A comparison or arithmetic. Identical operands compare equal, unless numbers in them might differ. */
function binary(op: string, lexpr: unknown, rexpr: unknown): Possible {
  if (COMPARISONS.has(op) && sameTree(lexpr, rexpr)) {
    if (containsNumber(lexpr)) return [true, false, NC]; // `x + 1 = x + 2` has the same cache key as `x + 1 = x + 1`
    return [op === '=' || op === '<=' || op === '>=' || op === 'IS NOT DISTINCT FROM'];
  }
  const left = evaluate(lexpr);
  const right = evaluate(rexpr);
  return unique(left.flatMap((a) => right.flatMap((b) => scalarOp(op, a, b))));
}

const COMPARISONS = new Set(['=', '<>', '<', '>', '<=', '>=', 'IS NOT DISTINCT FROM']);

function scalarOp(op: string, a: Scalar, b: Scalar): Possible {
  if (a === NC || b === NC) return [NC];
  if (a === ANY || b === ANY) return COMPARISONS.has(op) ? ANY_TRUTH : [ANY];
  if (op === 'IS NOT DISTINCT FROM' && (a === null || b === null)) return [a === b];
  if (a === null || b === null) return [null];
  if (op === '||' && typeof a === 'string' && typeof b === 'string') return [a + b];
  if (!COMPARISONS.has(op)) return [ANY]; // arithmetic and other operators on constants: some constant
  if (a === NUM || b === NUM) return isNumeric(a) && isNumeric(b) ? ANY_BOOL : [NC];
  return [compare(op === 'IS NOT DISTINCT FROM' ? '=' : op, a, b)];
}

/** Compares two non-numeric constants after PostgreSQL's resolution of an untyped literal against a boolean. */
function compare(op: string, a: Exclude<Scalar, null | symbol>, b: typeof a): Scalar {
  let x: string | boolean = a;
  let y: string | boolean = b;
  if (typeof x !== typeof y) {
    const bx = toBool(x);
    const by = toBool(y);
    if (typeof bx !== 'boolean' || typeof by !== 'boolean') return NC;
    [x, y] = [bx, by];
  }
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
      return NC;
  }
}

function isNumeric(v: Scalar): boolean {
  return v === NUM || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v.trim())));
}

function booleanTest(test: string, v: Scalar): Scalar {
  if (typeof v === 'symbol') return v;
  switch (test) {
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
      return NC;
  }
}

/** The first non-null argument, over every combination of possible values. */
function coalesce(args: Possible[]): Possible {
  if (args.length === 0) return [null];
  const [first, ...rest] = args;
  return unique(first.flatMap((v) => (v === null ? coalesce(rest) : v === ANY ? [ANY, ...coalesce(rest)] : [v])));
}

/** `EXISTS (SELECT 1)` and `(SELECT true)`: a SELECT of constants with no FROM/WHERE returns exactly one row. */
function subLink(node: Node, expr: unknown): Possible {
  const select = (node.subselect as Node)?.SelectStmt as Node | undefined;
  const extra = ['fromClause', 'whereClause', 'havingClause', 'groupClause', 'limitCount', 'limitOffset', 'larg'];
  if (!select || !Array.isArray(select.targetList) || extra.some((k) => select[k] !== undefined)) return opaque(expr);
  const values = (select.targetList as Node[]).map((t) => evaluate((t.ResTarget as Node)?.val));
  if (values.some((v) => v.includes(NC))) return [NC];
  if (node.subLinkType === 'EXISTS_SUBLINK') return [true];
  if (node.subLinkType === 'EXPR_SUBLINK' && values.length === 1) return values[0];
  return opaque(expr);
}

/** The possible truth values (true, false, null, or NC) of possible values used as a condition. */
function truth(values: Possible): Possible {
  return unique(values.flatMap((v) => (v === ANY ? ANY_TRUTH : [toBool(v)])));
}

/** PostgreSQL's boolean input: `t`, `true`, `yes`, `on`, `1` (and unique prefixes), case-insensitive. */
function toBool(v: Scalar): Scalar {
  if (typeof v === 'boolean' || v === null || v === NC) return v;
  if (v === NUM || v === ANY) return NC; // an integer is not a boolean (PostgreSQL rejects `WHERE 1`)
  const s = v.trim().toLowerCase();
  if (s === '') return NC;
  if (s === '1' || s === 'on' || 'true'.startsWith(s) || 'yes'.startsWith(s)) return true;
  if (s === '0' || s === 'of' || s === 'off' || 'false'.startsWith(s) || 'no'.startsWith(s)) return false;
  return NC;
}

/** Structural equality of two parse trees, ignoring source positions and the values of numeric constants. */
function sameTree(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (isNumber(a) && isNumber(b)) return true;
  const ka = Object.keys(a).filter((k) => k !== 'location');
  const kb = Object.keys(b).filter((k) => k !== 'location');
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameTree((a as Node)[k], (b as Node)[k]));
}

function isNumber(node: object): boolean {
  const c = (node as Node).A_Const as Node | undefined;
  return c !== undefined && (c.ival !== undefined || c.fval !== undefined);
}

/** True when the expression reads the current row: a column anywhere inside, or WHERE CURRENT OF. */
function mentionsRow(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if ('ColumnRef' in node || 'CurrentOfExpr' in node) return true;
  return Object.values(node).some(mentionsRow);
}

function containsNumber(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if (isNumber(node)) return true;
  return Object.values(node).some(containsNumber);
}

function unique(values: Possible): Possible {
  return [...new Set(values)];
}
