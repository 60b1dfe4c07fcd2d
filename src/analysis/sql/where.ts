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
 *
 * The question asked is "does the clause keep every row whose columns are not null?": a predicate that holds for
 * every non-null value of a column's type keeps them all, where the parser can tell without the catalog:
 * `x IS NOT NULL` (and `x IS NULL` is false for such rows, so `NOT (x IS NULL)` is true), `x LIKE '%'`, `x ~ ''`,
 * a range bound at or beyond the extremes of the smallest integer type (`x > -2147483648`, `x >= -32768`,
 * `x < 32767`, `BETWEEN -40000 AND 40000`), the empty string as a lower bound, and `'-infinity'` / `'infinity'` /
 * `'NaN'`. Reading a number's value breaks the rule above, so such a clause reports `numbersMatter` and its text
 * is never shared with texts that differ in numbers (analyze.ts).
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

/** Set while a clause is folded when a number's value was read (a range bound); see whereVerdict. */
let numbersRead = false;

/** True when the clause keeps every (non-null) row for some choice of the numbers written in it. */
export function isAlwaysTrue(expr: unknown): boolean {
  return whereVerdict(expr).alwaysTrue;
}

/**
 * isAlwaysTrue, and whether the answer read the value of a number written in the clause (then the statement's
 * analysis must not be shared with texts that differ only in numbers).
 */
export function whereVerdict(expr: unknown): { alwaysTrue: boolean; numbersMatter: boolean } {
  numbersRead = false;
  const alwaysTrue = truth(evaluate(expr)).includes(true);
  const numbersMatter = numbersRead;
  numbersRead = false;
  return { alwaysTrue, numbersMatter };
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
      if (nonNull(node.arg)) return [node.nulltesttype !== 'IS_NULL']; // for every row whose columns are not null
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
      if (lexpr !== undefined && isColumn(lexpr) && REGEX_ALL.has(op) && matchesAll(rexpr, REGEX_EVERYTHING)) return [true];
      if (lexpr === undefined) return prefix(op, evaluate(rexpr));
      // transform_null_equals (any session may set it) makes `x = NULL` mean `x IS NULL`: count both readings.
      if (op === '=' && (isNullConst(lexpr) || isNullConst(rexpr))) {
        const other = isNullConst(lexpr) ? rexpr : lexpr;
        return unique([...binary(op, lexpr, rexpr), ...evaluate({ NullTest: { arg: other, nulltesttype: 'IS_NULL' } })]);
      }
      return binary(op, lexpr, rexpr);
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE':
      // `x LIKE '%'` holds for every non-null string; NOT LIKE and other patterns depend on the row.
      if ((op === '~~' || op === '~~*') && isColumn(lexpr) && matchesAll(rexpr, /^%+$/)) return [true];
      return opaque(node);
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
  if (wholeRange(op, lexpr, rexpr)) return [true];
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

const REGEX_ALL = new Set(['~', '~*']);
const REGEX_EVERYTHING = /^(|\.\*|\^|\$|\^\.\*|\.\*\$|\^\.\*\$)$/;
const LOWER_STRINGS = new Set(['', '-infinity', '-inf']);
const UPPER_STRINGS = new Set(['infinity', '+infinity', 'inf', '+inf', 'nan']);
/** The smallest integer type's bounds: a bound beyond them lets every int2 (and nearly every wider) value through. */
const INT2_MIN = -32768;
const INT2_MAX = 32767;
const FLIPPED: Record<string, string> = { '>': '<', '>=': '<=', '<': '>', '<=': '>=' };

/** A column, possibly cast (`x::int`): not null on the rows the question is about. */
function isColumn(expr: unknown): boolean {
  const n = expr as Node | null;
  if (!n || typeof n !== 'object') return false;
  if (n.ColumnRef) return true;
  const cast = n.TypeCast as Node | undefined;
  return cast !== undefined && isColumn(cast.arg);
}

function isNullConst(expr: unknown): boolean {
  return ((expr as Node | null)?.A_Const as Node | undefined)?.isnull === true;
}

const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '^', '||']);

/** An expression that is not null when the row's columns are not: columns, constants, arithmetic, coalesce. */
function nonNull(expr: unknown, depth = 0): boolean {
  const n = expr as Node | null;
  if (!n || typeof n !== 'object' || depth > 50) return false;
  if (n.ColumnRef) return true;
  const c = n.A_Const as Node | undefined;
  if (c) return c.isnull !== true;
  const cast = n.TypeCast as Node | undefined;
  if (cast) return nonNull(cast.arg, depth + 1);
  const e = n.A_Expr as Node | undefined;
  if (e) {
    const names = (e.name ?? []) as Node[];
    const op = String(((names[names.length - 1]?.String as Node) ?? {}).sval ?? '');
    return e.kind === 'AEXPR_OP' && ARITHMETIC.has(op) && (e.lexpr === undefined || nonNull(e.lexpr, depth + 1)) && nonNull(e.rexpr, depth + 1);
  }
  const coalesce = n.CoalesceExpr as Node | undefined;
  if (coalesce) return ((coalesce.args ?? []) as unknown[]).some((a) => nonNull(a, depth + 1));
  return false;
}

/** A string constant (through casts) that the pattern matches in full. */
function matchesAll(expr: unknown, pattern: RegExp): boolean {
  const value = constantText(expr);
  return typeof value === 'string' && pattern.test(value);
}

/** The text of a string constant, or of a number as written (through casts and a sign the parser folded in). */
function constantText(expr: unknown): string | undefined {
  const n = expr as Node | null;
  if (!n || typeof n !== 'object') return undefined;
  const cast = n.TypeCast as Node | undefined;
  if (cast) return constantText(cast.arg);
  const c = n.A_Const as Node | undefined;
  if (!c) return undefined;
  if (c.sval) return String((c.sval as Node).sval ?? '');
  if (c.ival || c.fval) {
    numbersRead = true; // the answer now depends on this number's value
    return c.ival ? String((c.ival as Node).ival ?? 0) : String((c.fval as Node).fval ?? '');
  }
  return undefined;
}

/** `column > bound` (either way round) where the bound lets every value of the column's type through. */
function wholeRange(op: string, lexpr: unknown, rexpr: unknown): boolean {
  if (!(op in FLIPPED)) return false;
  const [direction, bound] = isColumn(lexpr) ? [op, rexpr] : isColumn(rexpr) ? [FLIPPED[op], lexpr] : [undefined, undefined];
  if (direction === undefined) return false;
  const text = constantText(bound)?.trim().toLowerCase();
  if (text === undefined) return false;
  const lower = direction === '>' || direction === '>=';
  if ((lower ? LOWER_STRINGS : UPPER_STRINGS).has(text)) return true;
  const value = text === '' ? NaN : Number(text.replace(/_/g, ''));
  return !Number.isNaN(value) && (lower ? value <= INT2_MIN : value >= INT2_MAX);
}

function unique(values: Possible): Possible {
  return [...new Set(values)];
}
