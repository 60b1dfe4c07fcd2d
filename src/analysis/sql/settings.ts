/**
 * Session settings that decide how the server reads statement text, and therefore must never change: Warden parses
 * every statement with `standard_conforming_strings = on` and reads its bytes as UTF-8, so the upstream session is
 * pinned to exactly that (the PostgreSQL engine forces both at login and ends a session whose server reports
 * anything else). Here: which values keep the pin, and the refusal of every statement that would break it
 * (SET / SET LOCAL / SET NAMES, a function's or role's SET clause, set_config), plus the one shape in which a
 * set_config's setting name is not a literal but is still known (pg_dump's `... FROM pg_settings WHERE name = '...'`).
 *
 * Owns the pinned-setting table and the pg_settings pin. Pure: no I/O, no parser calls. A refusal never depends on
 * a number written in the statement (numbers are shared between cached texts), so numeric values are refused.
 */
import type { Node } from './walk.js';

/**
 * Pinned settings (lower case, as PostgreSQL compares GUC names) and the values that keep them pinned.
 * `client_encoding` is UTF8 only: Warden decodes statement text as UTF-8, so any other encoding would make the
 * bytes the server reads differ from the text Warden judged (SJIS, BIG5, GBK, GB18030, UHC and JOHAB can even end
 * a multibyte character with a backslash byte; single-byte and EUC encodings change non-ASCII names).
 */
const PINNED: ReadonlyMap<string, { pinned: string; keeps: (value: string) => boolean }> = new Map([
  ['standard_conforming_strings', { pinned: 'on', keeps: isTrueSpelling }],
  ['client_encoding', { pinned: 'UTF8', keeps: isUtf8Name }],
]);

/** The pinned settings and their values, as Warden sends them at upstream login. */
export const PINNED_SETTINGS: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries([...PINNED].map(([name, { pinned }]) => [name, pinned])),
);

/** Lower-cases ASCII only, as PostgreSQL's guc_name_compare does. */
export function gucName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** True for a setting Warden keeps pinned. */
export function isPinnedSetting(name: string): boolean {
  return PINNED.has(gucName(name.trim()));
}

/** True when `value` keeps pinned setting `name` at its pinned value (`on`, `UTF8` and their other spellings). */
export function keepsPin(name: string, value: string): boolean {
  const entry = PINNED.get(gucName(name.trim()));
  return entry === undefined || entry.keeps(value);
}

/** PostgreSQL's parse_bool spellings of true (case-insensitive, unique prefixes); `1` is a number and refused. */
function isTrueSpelling(value: string): boolean {
  const v = value.trim().toLowerCase();
  return v === 'on' || (v.length > 0 && ('true'.startsWith(v) || 'yes'.startsWith(v)));
}

/** UTF8 under any spelling PostgreSQL accepts: case and punctuation are ignored (`utf-8`, `UTF_8`, `Unicode`). */
function isUtf8Name(value: string): boolean {
  const clean = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  return clean === 'utf8' || clean === 'unicode';
}

/** The refusal message for an attempt to change a pinned setting. */
export function pinnedRefusal(name: string): string {
  const setting = gucName(name.trim());
  const pinned = PINNED.get(setting)?.pinned ?? '?';
  return `${setting} must stay ${pinned} through Warden: Warden reads every statement with standard_conforming_strings `
    + 'on and client_encoding UTF8 and must read it exactly as the server does, so this statement is refused';
}

/**
 * The refusal for a SET-like statement node (VariableSetStmt: SET, SET LOCAL, SET NAMES, RESET, and the SET
 * clauses of CREATE/ALTER FUNCTION, ALTER ROLE/DATABASE, ALTER SYSTEM), or undefined when it keeps every pin.
 * RESET, DEFAULT and FROM CURRENT return to the session's login value, which Warden pinned.
 */
export function setStatementRefusal(node: Node): string | undefined {
  const name = String(node.name ?? '');
  if (!isPinnedSetting(name)) return undefined;
  if (node.kind !== 'VAR_SET_VALUE') return undefined;
  const args = (Array.isArray(node.args) ? node.args : []) as Node[];
  const values = args.map((a) => ((a.A_Const as Node | undefined)?.sval as Node | undefined)?.sval);
  if (values.length !== 1 || typeof values[0] !== 'string' || !keepsPin(name, values[0])) return pinnedRefusal(name);
  return undefined;
}

/**
 * set_config calls whose setting name is pinned by the query itself: in `SELECT set_config(name, v, b) FROM
 * pg_settings WHERE name = 'x'` (pg_dump's form) the call only ever sees rows whose `name` is `x`. Returns each
 * such call (its FuncCall payload) with the names it can see. Only calls at the top of the select list count: they
 * run after WHERE has filtered the rows, whereas a call inside WHERE may run before the filtering conjunct. The
 * column must be a bare or relation-qualified `name` of the one FROM item, with no column aliases, so that the
 * argument and the WHERE conjunct read the same column.
 */
export function pinnedSetConfigCalls(select: Node): Map<Node, string[]> {
  const found = new Map<Node, string[]>();
  const from = (Array.isArray(select.fromClause) ? select.fromClause : []) as Node[];
  const rel = from.length === 1 ? (from[0].RangeVar as Node | undefined) : undefined;
  if (!rel || rel.relname !== 'pg_settings' || (rel.schemaname ?? 'pg_catalog') !== 'pg_catalog') return found;
  const alias = rel.alias as Node | undefined;
  if (alias?.colnames !== undefined) return found;
  const isName = nameColumn(typeof alias?.aliasname === 'string' ? alias.aliasname : 'pg_settings');
  const names = whereNames(select.whereClause, isName);
  if (names === undefined) return found;
  for (const target of (Array.isArray(select.targetList) ? select.targetList : []) as Node[]) {
    const call = ((target.ResTarget as Node | undefined)?.val as Node | undefined)?.FuncCall as Node | undefined;
    const args = (Array.isArray(call?.args) ? call!.args : []) as unknown[];
    if (call && args.length > 0 && isName(args[0])) found.set(call, names);
  }
  return found;
}

/**
 * The setting names an `UPDATE pg_settings [AS qualifier] ... WHERE` clause limits itself to, or undefined when the
 * clause does not pin them.
 */
export function settingNamesFromWhere(where: unknown, qualifier: string): string[] | undefined {
  return whereNames(where, nameColumn(qualifier));
}

/** Whether an expression is the column `name`, bare or qualified by `qualifier`. */
function nameColumn(qualifier: string): (expr: unknown) => boolean {
  return (expr) => {
    const fields = (((expr as Node | null)?.ColumnRef as Node | undefined)?.fields ?? []) as Node[];
    const parts = fields.map((f) => (f.String as Node | undefined)?.sval);
    return (parts.length === 1 && parts[0] === 'name') || (parts.length === 2 && parts[0] === qualifier && parts[1] === 'name');
  };
}

/** The names a top-level conjunct `name = 'x'` or `name IN ('x', ...)` allows, or undefined when none pins it. */
function whereNames(where: unknown, isNameColumn: (e: unknown) => boolean): string[] | undefined {
  const w = where as Node | undefined;
  const bool = w?.BoolExpr as Node | undefined;
  const conjuncts = bool?.boolop === 'AND_EXPR' ? ((bool.args ?? []) as Node[]) : w ? [w] : [];
  for (const c of conjuncts) {
    const e = c.A_Expr as Node | undefined;
    const op = ((e?.name ?? []) as Node[]).map((n) => (n.String as Node | undefined)?.sval);
    if (!e || op.length !== 1 || op[0] !== '=') continue;
    if (e.kind === 'AEXPR_OP') {
      const literal = isNameColumn(e.lexpr) ? plainString(e.rexpr) : isNameColumn(e.rexpr) ? plainString(e.lexpr) : undefined;
      if (literal !== undefined) return [literal];
    } else if (e.kind === 'AEXPR_IN' && isNameColumn(e.lexpr)) {
      const items = (((e.rexpr as Node | undefined)?.List as Node | undefined)?.items ?? []) as unknown[];
      const literals = items.map(plainString);
      if (literals.length > 0 && literals.every((l) => l !== undefined)) return literals as string[];
    }
  }
  return undefined;
}

/** A bare string constant (no cast: a cast to another type could change what equality means). */
function plainString(expr: unknown): string | undefined {
  const sval = (((expr as Node | null)?.A_Const as Node | undefined)?.sval as Node | undefined)?.sval;
  return typeof sval === 'string' ? sval : undefined;
}
