/**
 * Where a query string carries values: every literal and `$n` parameter token (found by the parser's own lexer,
 * never by a regular expression), each literal's value as the server decodes it (escapes, continuation lines), and
 * the columns each value is written to or compared with (INSERT column lists, UPDATE SET, `col = value`,
 * `col IN (...)`). Recordings use this to redact what callers send (recording/redact.ts).
 *
 * Owns that mapping. Pure apart from synchronous parser calls; no I/O. Never throws: text that does not lex gives
 * `lexed: false`, text that lexes but does not parse gives its tokens with no values and `parsed: false`, so the
 * caller can fail closed.
 */
import { TextCache } from './cache.js';
import { constantTokens, parseStatements, type ConstantToken } from './parse.js';
import type { Node } from './walk.js';

/** Columns a value is bound to: lower-cased names; `*` when it goes to a column Warden cannot name. */
export type Binding = readonly string[];

/** One literal or parameter token of the text. */
export interface ValueSite {
  kind: ConstantToken['kind'];
  /** [start, end) in UTF-16 code units of the text. */
  start: number;
  end: number;
  /** A string literal's value as the server reads it (continuations joined, escapes decoded), when known. */
  value?: string;
  /** For `$n`: n. */
  param?: number;
  columns: Binding;
}

/** Every value site of a query string. */
export interface ValueMap {
  sites: ValueSite[];
  /** False when the text does not lex: nothing is known, not even where its literals are. */
  lexed: boolean;
  /** False when it lexes but does not parse: sites are known, their values and columns are not. */
  parsed: boolean;
}

const cache = new TextCache<ValueMap>({ maxEntries: 2_000, maxChars: 4 * 1024 * 1024 });
const NONE: Binding = Object.freeze([]);

/** The value sites of `text`, cached by exact text. */
export function valueMap(text: string): ValueMap {
  const hit = cache.get(text);
  if (hit) return hit;
  const map = compute(text);
  cache.set(text, map);
  return map;
}

function compute(text: string): ValueMap {
  let tokens: ConstantToken[];
  try {
    tokens = constantTokens(text);
  } catch {
    return { sites: [], lexed: false, parsed: false };
  }
  const found = new Map<number, { value?: string; columns: Set<string> }>();
  const params = new Map<number, Set<string>>();
  let parsed = true;
  try {
    for (const s of parseStatements(text)) visit({ [s.kind]: s.node }, NONE, found, params, 0);
  } catch {
    parsed = false;
  }
  const sites: ValueSite[] = [];
  let previous: ValueSite | undefined;
  for (const t of tokens) {
    const site: ValueSite = { kind: t.kind, start: t.start, end: t.end, columns: NONE };
    const at = found.get(t.startByte);
    if (at) {
      site.value = at.value;
      site.columns = [...at.columns];
    } else if (t.kind === 'string' && previous?.kind === 'string' && previous.value !== undefined) {
      // 'a'<newline>'b' is one constant: the second token shares the first one's value and columns.
      site.value = previous.value;
      site.columns = previous.columns;
    }
    if (t.kind === 'param') {
      site.param = Number(text.slice(t.start + 1, t.end));
      site.columns = [...(params.get(site.param) ?? [])];
    }
    sites.push(site);
    previous = site;
  }
  return { sites, lexed: true, parsed };
}

type Found = Map<number, { value?: string; columns: Set<string> }>;

/** Walks every node; `bound` is the columns the expression being visited is written to or compared with. */
function visit(value: unknown, bound: Binding, found: Found, params: Map<number, Set<string>>, depth: number): void {
  if (depth > 3000) throw new Error('statement nested too deeply');
  if (Array.isArray(value)) {
    for (const item of value) visit(item, bound, found, params, depth + 1);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const node = value as Node;
  const recurse = (v: unknown, b: Binding) => visit(v, b, found, params, depth + 1);
  if (node.A_Const) return constant(node.A_Const as Node, bound, found);
  if (node.ParamRef) {
    const n = Number((node.ParamRef as Node).number);
    const set = params.get(n) ?? new Set<string>();
    for (const c of bound) set.add(c);
    params.set(n, set);
    return;
  }
  if (node.InsertStmt) return insert(node.InsertStmt as Node, recurse);
  // EXECUTE name (values): the prepared statement decides which columns they reach; Warden cannot name them.
  if (node.ExecuteStmt) return recurse((node.ExecuteStmt as Node).params, [...bound, '*']);
  if (node.ResTarget && typeof (node.ResTarget as Node).name === 'string' && (node.ResTarget as Node).val) {
    // UPDATE ... SET col = value (and SELECT value AS alias, which binds to a name that masks nothing real).
    const target = node.ResTarget as Node;
    return recurse(target.val, [...bound, String(target.name).toLowerCase()]);
  }
  if (node.A_Expr) {
    const expr = node.A_Expr as Node;
    const left = columnName(expr.lexpr);
    const right = columnName(expr.rexpr);
    recurse(expr.lexpr, right ? [...bound, right] : bound);
    recurse(expr.rexpr, left ? [...bound, left] : bound);
    return;
  }
  for (const key of Object.keys(node)) if (key !== 'location') recurse(node[key], bound);
}

/** INSERT INTO t (a, b) VALUES (...), (...) / SELECT ...: each value bound to its column by position. */
function insert(node: Node, recurse: (v: unknown, b: Binding) => void): void {
  const cols = ((node.cols ?? []) as Node[]).map((c) => String((c.ResTarget as Node | undefined)?.name ?? '*').toLowerCase());
  const column = (i: number): Binding => [cols[i] ?? '*'];
  const select = ((node.selectStmt as Node | undefined)?.SelectStmt ?? undefined) as Node | undefined;
  for (const key of Object.keys(node)) {
    if (key !== 'selectStmt') recurse(node[key], NONE);
  }
  if (!select) return;
  for (const row of (select.valuesLists ?? []) as Node[]) {
    ((row.List as Node | undefined)?.items as unknown[] ?? []).forEach((item, i) => recurse(item, column(i)));
  }
  ((select.targetList ?? []) as Node[]).forEach((t, i) => recurse((t.ResTarget as Node | undefined)?.val, column(i)));
  for (const key of Object.keys(select)) {
    if (key !== 'valuesLists' && key !== 'targetList') recurse(select[key], NONE);
  }
}

function constant(c: Node, bound: Binding, found: Found): void {
  const location = Number(c.location ?? -1);
  if (location < 0) return;
  const entry = found.get(location) ?? { columns: new Set<string>() };
  const sval = (c.sval as Node | undefined)?.sval;
  if (typeof sval === 'string') entry.value = sval;
  for (const col of bound) entry.columns.add(col);
  found.set(location, entry);
}

/** The column a ColumnRef names (its last field), or undefined for anything else (`t.*` included). */
function columnName(expr: unknown): string | undefined {
  const ref = (expr as Node | null)?.ColumnRef as Node | undefined;
  if (!ref) return undefined;
  const fields = (ref.fields ?? []) as Node[];
  const last = (fields[fields.length - 1]?.String as Node | undefined)?.sval;
  return typeof last === 'string' ? last.toLowerCase() : undefined;
}
