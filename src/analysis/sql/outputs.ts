/**
 * Where column values flow in a statement, for masking: which named columns reach a result column through an
 * expression (a computed column, which PostgreSQL reports without a source table), whether any value reaches one
 * through a function or operator that could hide it from content detectors, which named columns are copied into
 * other relations or session state (INSERT ... SELECT, UPDATE ... SET, CREATE TABLE AS, SELECT INTO, views,
 * functions), which impure or relation-reading functions see them, and which cursors a text declares or fetches.
 *
 * Writes of arithmetic on columns (`SET n = n + 1`) are not opaque copies: a statement that returns nothing needs no
 * masking, and refusing counters and balances under a detector rule would make such rules unusable. The oracle it
 * leaves (a card number stored as a number, shifted and read back) is documented in the README.
 * Resolution is by name and conservative: a column is "masked" when `isMasked(name)` says so for its last name
 * part; aliases of such columns (`ssn AS x`, subquery and CTE column lists) become masked names too, and a
 * whole-row reference (`t`, `t.*` inside an expression) counts as every masked column. Filter positions (WHERE,
 * JOIN ON, HAVING, ORDER BY, GROUP BY, LIMIT) are not outputs: their oracles are documented, not closed here.
 * Pure: no I/O beyond the parser; never decides access.
 */
import { parseStatements } from './parse.js';
import type { Node } from './walk.js';

/** What one text does with masked values (see the module comment). */
export interface ColumnFlow {
  /** Masked names whose values reach a computed result column ('*': a whole row). */
  derived: string[];
  /** Some column value reaches a result column through a function, operator or cast content detectors may miss. */
  opaque: boolean;
  /** Some column value is written elsewhere (INSERT, UPDATE SET, SELECT INTO) through an expression that changes it. */
  opaqueCopy: boolean;
  /**
   * Some column value (any column, masked by name or not) reaches a result column inside an expression, whose type
   * may differ from the column's (`upper(x)`, `x::text`, a set operation's branch): rules that mask by type cannot
   * follow it by the result's type. A plain column as a whole result column keeps its type and does not count.
   */
  typedReads: boolean;
  /**
   * Some column value (any column) is written elsewhere, where it may take another type (an assignment cast), other
   * than back into its own column of the updated row (`SET n = n + 1`, which keeps that column's type).
   */
  typedCopies: boolean;
  /** Masked names referenced anywhere (error texts of the statement may echo their values). */
  touches: boolean;
  /** Why the text must not run for a session under column rules, or null. */
  refusal: string | null;
  declares: string[];
  fetches: string[];
  /** Statements it prepares (PREPARE) and executes (EXECUTE): their results come from the prepared query. */
  prepares: string[];
  executes: string[];
}

/** Positions whose values never become result values. */
const FILTER_KEYS = new Set(['whereClause', 'havingClause', 'quals', 'sortClause', 'groupClause', 'limitCount',
  'limitOffset', 'windowClause', 'distinctClause', 'onConflictClause', 'joinCondition']);
/** Statements whose whole purpose is to keep or re-expose values elsewhere: refused when they name a masked column. */
const COPYING = new Set(['CreateTableAsStmt', 'ViewStmt', 'CreatePolicyStmt',
  'AlterPolicyStmt', 'CreateStatsStmt', 'IndexStmt', 'AlterTableStmt', 'CreateDomainStmt', 'CreateTableStmt']);
/** Statements that define or run code (functions, procedures, DO): refused whenever masking rules apply. */
const BODIES = new Set(['CreateFunctionStmt', 'DoStmt']);
/**
 * Triggers and rules run later on whole rows, with every column, whatever their text names: refused whenever masking
 * rules apply (a trigger calling the built-in tsvector_update_trigger with the column names as string arguments
 * copied a masked value into a tsvector column of the caller's, readable in clear).
 */
const ROW_HOOKS = new Set(['CreateTrigStmt', 'RuleStmt']);
/**
 * Statements that define, replace, rename or move callable objects (operators, aggregates, casts, transforms,
 * conversions, operator classes, languages, extensions, event triggers) or change how a routine resolves names:
 * refused whenever masking rules apply. The analysis trusts that a function or operator name means the built-in
 * (`upper`, `||`), but the server resolves names by argument types through the search path: an operator or
 * aggregate of the caller's own, with an exact argument type match, runs in its place (an operator bound to
 * lo_from_bytea wrote a masked value into a large object that lo_get then read in clear).
 */
const CALLABLES = new Set(['DefineStmt', 'CreateCastStmt', 'CreateTransformStmt', 'CreateConversionStmt',
  'CreateOpClassStmt', 'CreateOpFamilyStmt', 'AlterOpFamilyStmt', 'AlterOperatorStmt', 'AlterFunctionStmt',
  'CreatePLangStmt', 'CreateExtensionStmt', 'AlterExtensionStmt', 'AlterExtensionContentsStmt', 'CreateEventTrigStmt']);
/**
 * Object kinds whose renaming or moving changes the names masking rules match (`schema.table.column`, `*.column`):
 * refused whenever masking rules apply, as are inheritance and partition attachments that make a table's rows
 * readable under its parent's name (after `ALTER TABLE customers RENAME COLUMN ssn TO foo`, or `ALTER TABLE
 * customers INHERIT par`, the values came through in clear as `foo` and as `par.ssn`).
 */
const NAMED_BY_RULES = /^OBJECT_(TABLE|COLUMN|VIEW|MATVIEW|FOREIGN_TABLE|SCHEMA|ATTRIBUTE|TYPE|DOMAIN)$/;
const REPARENTING = new Set(['AT_AddInherit', 'AT_AttachPartition']);
/** Object kinds whose renaming or moving to another schema changes which code a name calls. */
const CALLABLE_OBJECTS = /^OBJECT_(FUNCTION|PROCEDURE|ROUTINE|AGGREGATE|OPERATOR|CAST|TRANSFORM|CONVERSION|OPCLASS|OPFAMILY|LANGUAGE|EXTENSION)$/;
/** Views and tables holding column statistics (histogram bounds, most common values): values of every column. */
const STATISTICS = /^(pg_stats|pg_stats_ext|pg_stats_ext_exprs|pg_statistic|pg_statistic_ext|pg_statistic_ext_data)$/;
/** Functions that read relations or run SQL text by name: what they return bypasses column analysis. */
const READS_BY_NAME = /^(?:(?:table|query|cursor|schema|database)_to_xml(?:schema|_and_xmlschema)?|ts_stat|ts_rewrite|crosstab\d*|connectby|xpath_table|dblink\w*|query_to_json\w*)$/;

/**
 * Functions a masked value may flow through: built-ins without side effects. A masked value passed to any other
 * function (pg_notify, set_config, a user-defined function that writes elsewhere) is refused.
 */
const PURE = new Set(('upper lower initcap btrim ltrim rtrim trim substr substring left right length char_length ' +
  'character_length octet_length bit_length concat concat_ws format replace translate reverse repeat lpad rpad ' +
  'split_part strpos position overlay regexp_replace regexp_substr regexp_match regexp_matches regexp_count ' +
  'regexp_split_to_array regexp_split_to_table md5 sha224 sha256 sha384 sha512 encode decode to_hex to_char ' +
  'to_number to_date to_timestamp ascii chr quote_literal quote_ident quote_nullable starts_with string_to_array ' +
  'array_to_string array_agg string_agg json_agg jsonb_agg json_object_agg jsonb_object_agg to_json to_jsonb ' +
  'row_to_json array_to_json json_build_object jsonb_build_object json_build_array jsonb_build_array json_object ' +
  'jsonb_object json_strip_nulls jsonb_strip_nulls jsonb_set jsonb_insert jsonb_pretty xmlagg xmlelement xmlforest ' +
  'count sum avg min max bool_and bool_or every mode percentile_cont percentile_disc first_value last_value ' +
  'nth_value lag lead coalesce nullif greatest least abs round trunc ceil ceiling floor mod sign hashtext ' +
  'convert_to convert_from unnest array_length cardinality array_position array_positions array_append ' +
  'array_prepend array_cat array_remove array_replace normalize unistr textlen bit_count get_byte get_bit ' +
  'set_byte substring_index tsvector to_tsvector to_tsquery plainto_tsquery websearch_to_tsquery levenshtein ' +
  'similarity soundex metaphone dmetaphone difference lag lead row_number rank dense_rank ntile').split(' '));
/**
 * Functions and operators whose result keeps a value readable by content detectors (case changes, trimming,
 * concatenation, aggregation into text or JSON). Anything else applied to a value (substr, reverse, to_hex,
 * encode, arithmetic, a cast to bytea) may hide it from them.
 */
const PRESERVING = new Set(('upper lower initcap btrim ltrim rtrim trim concat concat_ws coalesce nullif greatest ' +
  'least array_agg string_agg json_agg jsonb_agg json_object_agg jsonb_object_agg to_json to_jsonb row_to_json ' +
  'array_to_json json_build_object jsonb_build_object json_build_array jsonb_build_array json_object jsonb_object ' +
  'array_to_string min max count length char_length octet_length first_value last_value nth_value lag lead ' +
  'format').split(' '));
/** Casts that keep a value's text (to a string or JSON type, or a wider number). */
const PRESERVING_CASTS = new Set(['text', 'varchar', 'bpchar', 'char', 'name', 'json', 'jsonb', 'int8', 'numeric',
  'character varying', 'citext']);
/** Expression nodes that pass their inputs' values through unchanged (in text). */
const PASSING_NODES = new Set(['CaseExpr', 'CaseWhen', 'CoalesceExpr', 'MinMaxExpr', 'A_ArrayExpr', 'RowExpr',
  'A_Indirection', 'CollateClause', 'ResTarget', 'List', 'SubLink', 'SelectStmt', 'RangeSubselect', 'JoinExpr',
  'RangeVar', 'CommonTableExpr', 'WithClause', 'Alias', 'String', 'A_Const', 'SortBy', 'WindowDef', 'RangeFunction',
  'IntoClause', 'OnConflictClause', 'InferClause', 'MultiAssignRef', 'ReturningClause', 'TypeName', 'ParamRef',
  'A_Star', 'Integer', 'Float', 'Boolean', 'GroupingSet', 'LockingClause']);

interface State {
  isMasked: (name: string) => boolean;
  /** Masked names and aliases of them, each with the masked column names it stands for ('*': every one). */
  masked: Map<string, string[]>;
  /** Inside a set operation's branch or a sub-select in an expression: PostgreSQL reports no source for results. */
  noPassthrough?: boolean;
  /** Relation names and aliases: a ColumnRef of one of these names alone is a whole-row reference (to these origins). */
  relations: Map<string, string[]>;
  /** Visiting a plain column that is a whole RETURNING column: it keeps its own type. */
  plainResult?: boolean;
  /** Visiting the value an UPDATE assigns to this column (with the names the updated table goes by). */
  assigning?: { column: string; relations: string[] };
  flow: ColumnFlow;
}

/** Analyses a query string (see the module comment). Text that does not parse counts as touching every column. */
export function columnFlow(text: string, isMasked: (name: string) => boolean): ColumnFlow {
  const flow: ColumnFlow = { derived: [], opaque: false, opaqueCopy: false, typedReads: false, typedCopies: false, touches: false, refusal: null, declares: [], fetches: [], prepares: [], executes: [] };
  let statements;
  try {
    statements = parseStatements(text);
  } catch {
    return { ...flow, derived: ['*'], opaque: true, opaqueCopy: true, typedReads: true, typedCopies: true, touches: true };
  }
  for (const { kind, node } of statements) {
    const state: State = { isMasked, masked: new Map(), relations: new Map(), flow };
    try {
      collectNames({ [kind]: node }, state, isMasked);
      visit({ [kind]: node }, state, 'output', '');
    } catch (err) {
      // A tree deep enough to exhaust the stack: refused rather than judged in part.
      if (!(err instanceof RangeError)) throw err;
      return { ...flow, derived: ['*'], opaque: true, typedReads: true, typedCopies: true, touches: true,
        refusal: 'the statement is nested too deeply for masking analysis and is refused: masking rules apply to this session' };
    }
    if (kind === 'DeclareCursorStmt' && typeof node.portalname === 'string') flow.declares.push(node.portalname);
    if (kind === 'FetchStmt' && typeof node.portalname === 'string') flow.fetches.push(node.portalname);
    if (kind === 'ClosePortalStmt' && typeof node.portalname === 'string') flow.declares.push(node.portalname);
    if (kind === 'PrepareStmt' && typeof node.name === 'string') flow.prepares.push(node.name);
    if (kind === 'ExecuteStmt' && typeof node.name === 'string') flow.executes.push(node.name);
  }
  flow.derived = [...new Set(flow.derived)];
  return flow;
}

/** The node type and payload of a wrapped node (`{ ColumnRef: {...} }`), or undefined. */
function unwrap(value: unknown): [string, Node] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1 || !/^[A-Z]/.test(keys[0])) return undefined;
  const payload = (value as Node)[keys[0]];
  return payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? [keys[0], payload as Node] : undefined;
}

/** Every object below `value` with its wrapper type (bare payloads get the type their field implies). */
function* nodes(value: unknown, type = ''): Generator<[string, Node]> {
  if (Array.isArray(value)) {
    for (const item of value) yield* nodes(item);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const wrapped = unwrap(value);
  const [kind, node] = wrapped ?? [type, value as Node];
  yield [kind, node];
  for (const [key, child] of Object.entries(node)) yield* nodes(child, bareType(key));
}

/** Fields that hold a bare payload of one node type. */
function bareType(key: string): string {
  if (key === 'larg' || key === 'rarg') return 'SelectStmt';
  if (key === 'relation' || key === 'rel') return 'RangeVar';
  return '';
}

function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((f) => unwrap(f)).filter((f) => f?.[0] === 'String').map((f) => String(f![1].sval ?? '').toLowerCase());
}

/** Masked names (and their aliases, to a fixpoint) and relation names of a statement. */
function collectNames(root: unknown, state: State, isMasked: (name: string) => boolean): void {
  const all = [...nodes(root)];
  for (const [kind, node] of all) {
    if (kind === 'ColumnRef') for (const name of strings(node.fields)) if (isMasked(name)) state.masked.set(name, [name]);
  }
  // Relations whose whole row may hold masked values: tables (their columns are not known here), and sub-selects
  // and CTEs that read masked columns. A function's alias (`generate_series(1, 3) g`) names its value, not a row.
  for (const [kind, node] of all) {
    const alias = (node.alias as Node | undefined)?.aliasname;
    if (kind === 'RangeVar') {
      if (typeof node.relname === 'string') state.relations.set(node.relname.toLowerCase(), ['*']);
      if (typeof alias === 'string') state.relations.set(alias.toLowerCase(), ['*']);
    }
    if (kind === 'RangeSubselect' && typeof alias === 'string') state.relations.set(alias.toLowerCase(), originsOf(node.subquery, state));
    if (kind === 'CommonTableExpr' && typeof node.ctename === 'string') {
      state.relations.set(node.ctename.toLowerCase(), originsOf(node.ctequery, state));
    }
  }
  for (let round = 0, grew = true; grew && round < 20; round++) {
    grew = false;
    const add = (name: unknown, origins: string[]) => {
      if (typeof name !== 'string' || origins.length === 0) return;
      const key = name.toLowerCase();
      const known = state.masked.get(key) ?? [];
      const fresh = origins.filter((o) => !known.includes(o));
      if (fresh.length === 0) return;
      state.masked.set(key, [...known, ...fresh]);
      grew = true;
    };
    for (const [kind, node] of all) {
      if (kind === 'ResTarget' && node.name !== undefined) add(node.name, originsOf(node.val, state));
      if (kind === 'RangeSubselect') {
        const origins = originsOf(node.subquery, state);
        for (const c of strings((node.alias as Node | undefined)?.colnames)) add(c, origins);
      }
      if (kind === 'CommonTableExpr') {
        const origins = originsOf(node.ctequery, state);
        for (const c of strings(node.aliascolnames)) add(c, origins);
      }
    }
  }
}

/** The masked column names a subtree's column references stand for. */
function originsOf(value: unknown, state: State): string[] {
  const origins = new Set<string>();
  for (const [kind, node] of nodes(value)) if (kind === 'ColumnRef') for (const o of refNames(node, state)) origins.add(o);
  return [...origins];
}

/** Whether a subtree references a masked column or a whole row. */
function mentions(value: unknown, state: State): boolean {
  for (const [kind, node] of nodes(value)) if (kind === 'ColumnRef' && refNames(node, state).length > 0) return true;
  return false;
}

/** The masked names a ColumnRef stands for: its own name, or '*' for a whole row (`t`, `t.*`). */
function refNames(ref: Node, state: State): string[] {
  const fields = Array.isArray(ref.fields) ? ref.fields : [];
  const last = unwrap(fields[fields.length - 1]);
  if (last?.[0] === 'A_Star') return ['*'];
  const name = strings(fields).pop();
  if (name === undefined) return [];
  const origins = state.masked.get(name);
  if (origins !== undefined) return origins;
  return fields.length === 1 ? state.relations.get(name) ?? [] : [];
}

type Mode = 'output' | 'filter' | 'copy';

/** Walks a subtree, recording flows; `mode` says where its values go. */
function visit(value: unknown, state: State, mode: Mode, parent: string): void {
  if (Array.isArray(value)) {
    for (const item of value) visit(item, state, mode, parent);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const wrapped = unwrap(value);
  const [kind, node] = wrapped ?? [bareType(parent), value as Node];
  if (statementRefusal(kind, node, state)) return;
  if (kind === 'SelectStmt' && node.intoClause !== undefined) mode = 'copy';
  if (kind === 'InsertStmt' || kind === 'UpdateStmt' || kind === 'MergeStmt') mode = 'copy';
  if (kind === 'ColumnRef') {
    if (mode === 'output' && !state.plainResult) state.flow.typedReads = true;
    if (mode === 'copy' && !isOwnColumn(node, state)) state.flow.typedCopies = true;
    const names = refNames(node, state);
    if (names.length > 0) {
      state.flow.touches = true;
      if (mode === 'copy') refuse(state, `a statement that copies masked column "${names[0]}" elsewhere is refused: masking rules apply to this session`);
      else if (mode === 'output') state.flow.derived.push(...names);
    }
    return;
  }
  if (kind === 'FuncCall') checkCall(node, state);
  if (kind === 'ResTarget' && parent !== 'returning' && mode === 'output' && !state.noPassthrough && isPassthrough(node.val, state)) {
    visit(node.val, state, 'filter', 'val');
    return;
  }
  if (kind === 'ResTarget' && parent === 'returning' && mode === 'output' && !state.noPassthrough && isPassthrough(node.val, state)) {
    state.plainResult = true;
    visit(node.val, state, mode, 'val');
    state.plainResult = false;
    return;
  }
  if (kind === 'UpdateStmt') {
    const rel = node.relation as Node | undefined;
    state.assigning = { column: '', relations: [rel?.relname, (rel?.alias as Node | undefined)?.aliasname]
      .filter((n): n is string => typeof n === 'string').map((n) => n.toLowerCase()) };
  }
  if (mode !== 'filter' && wrapped !== undefined && !kind.endsWith('Stmt') && !PASSING_NODES.has(kind) &&
    expressionChanges(kind, node) && hasColumnRef(node)) {
    if (mode === 'output') state.flow.opaque = true;
    // Arithmetic written back (`SET n = n + 1`, `stock - $1`) is every day's write and yields a number; what the
    // operands hold is still judged below (a function or text cast inside them is opaque).
    else if (!isArithmetic(kind, node)) state.flow.opaqueCopy = true;
  }
  const setOp = kind === 'SelectStmt' && node.op !== undefined && node.op !== 'SETOP_NONE';
  const outer = state.noPassthrough;
  const assigning = state.assigning;
  if (kind === 'SubLink') state.noPassthrough = true;
  // Inside a sub-select a column of the same name is another relation's: only the SET expression itself counts.
  if (kind === 'SubLink' || kind === 'SelectStmt') state.assigning = undefined;
  for (const [key, child] of Object.entries(node)) {
    if (kind === 'UpdateStmt' && key === 'targetList' && assigning !== undefined) {
      for (const target of Array.isArray(child) ? child : []) {
        const res = unwrap(target);
        const name = res?.[0] === 'ResTarget' && typeof res[1].name === 'string' && res[1].indirection === undefined
          && unwrap(res[1].val)?.[0] !== 'MultiAssignRef' ? res[1].name.toLowerCase() : '';
        state.assigning = { column: name, relations: assigning.relations };
        visit(target, state, mode, key);
      }
      state.assigning = assigning;
      continue;
    }
    let childMode: Mode = FILTER_KEYS.has(key) ? (mode === 'copy' ? 'copy' : 'filter') : mode;
    if (kind === 'UpdateStmt' && key === 'whereClause') childMode = 'filter';
    if ((kind === 'InsertStmt' || kind === 'UpdateStmt' || kind === 'DeleteStmt' || kind === 'MergeStmt') && key === 'returningClause') {
      childMode = 'output';
    }
    const inSetOp = state.noPassthrough;
    if (setOp && (key === 'larg' || key === 'rarg')) state.noPassthrough = true;
    visit(child, state, childMode, key === 'returningClause' ? 'returning' : key);
    state.noPassthrough = inSetOp;
  }
  state.noPassthrough = outer;
  state.assigning = kind === 'UpdateStmt' ? undefined : assigning;
}

/** A reference, in an UPDATE's SET expression, to the very column being assigned (of the updated table). */
function isOwnColumn(ref: Node, state: State): boolean {
  const own = state.assigning;
  if (own === undefined || own.column === '') return false;
  const fields = strings(ref.fields);
  if (fields.length !== (Array.isArray(ref.fields) ? ref.fields.length : -1)) return false; // a `*` among them
  if (fields.length === 1) return fields[0] === own.column;
  return fields.length === 2 && fields[1] === own.column && own.relations.includes(fields[0]);
}

/** A result column that is a plain column reference: PostgreSQL reports its source, and column masking applies. */
function isPassthrough(val: unknown, state: State): boolean {
  const ref = unwrap(val);
  if (ref?.[0] !== 'ColumnRef') return false;
  const fields = Array.isArray(ref[1].fields) ? ref[1].fields : [];
  if (unwrap(fields[fields.length - 1])?.[0] === 'A_Star') return true;
  return !(fields.length === 1 && refNames(ref[1], state)[0] === '*');
}

/** Whether an expression node may change its inputs' text so that detectors miss it. */
function expressionChanges(kind: string, node: Node): boolean {
  if (kind === 'FuncCall') return !PRESERVING.has(funcName(node).split('.').pop()!);
  if (kind === 'A_Expr') return !strings(node.name).every((op) => op === '||');
  if (kind === 'TypeCast') {
    const type = strings((node.typeName as Node | undefined)?.names).pop() ?? '';
    return !PRESERVING_CASTS.has(type);
  }
  return true;
}

/** Numeric operators: their result is a number, not a reshaped text. */
const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);

/** An operator expression of arithmetic operators only (binary or unary). */
function isArithmetic(kind: string, node: Node): boolean {
  if (kind !== 'A_Expr' || node.kind !== 'AEXPR_OP') return false;
  const ops = strings(node.name);
  return ops.length > 0 && ops.every((op) => ARITHMETIC.has(op));
}

function hasColumnRef(node: Node): boolean {
  for (const [kind] of nodes(node)) if (kind === 'ColumnRef') return true;
  return false;
}

function funcName(node: Node): string {
  return strings(node.funcname).join('.');
}

/** Functions that see masked values must be pure built-ins; relation-reading ones are refused outright. */
function checkCall(node: Node, state: State): void {
  const name = funcName(node);
  const [schema, bare] = name.includes('.') ? name.split('.', 2) : ['', name];
  if (READS_BY_NAME.test(bare)) {
    refuse(state, `${name}() reads relations or runs SQL by name and is refused: masking rules apply to this session`);
    return;
  }
  if (!mentions(node.args, state) && !mentions(node.agg_order, state) && !mentions(node.agg_filter, state)) return;
  state.flow.touches = true;
  if ((schema !== '' && schema !== 'pg_catalog') || !PURE.has(bare)) {
    refuse(state, `${name}() is not a built-in function Warden knows to be pure and is refused on masked columns: ` +
      'masking rules apply to this session');
  }
}

/** Refusals that depend on the statement's kind; returns true when the subtree needs no further walk. */
function statementRefusal(kind: string, node: Node, state: State): boolean {
  if (kind === 'RangeVar' && typeof node.relname === 'string' && STATISTICS.test(node.relname.toLowerCase())) {
    refuse(state, `${node.relname} holds values of every column (histograms, most common values) and is refused: ` +
      'masking rules apply to this session');
    return true;
  }
  if (COPYING.has(kind) && mentions(node, state)) {
    refuse(state, `${kind.replace(/Stmt$/, '')} naming a masked column is refused: masking rules apply to this session`);
    return true;
  }
  if (CALLABLES.has(kind) || ((kind === 'RenameStmt' || kind === 'AlterObjectSchemaStmt') &&
      CALLABLE_OBJECTS.test(String(node.renameType ?? node.objectType)))) {
    refuse(state, 'statements that define, rename or move operators, aggregates, casts and other callable objects ' +
      'are refused: masking rules apply to this session, and such an object can run in place of a built-in ' +
      'function Warden trusts with masked values');
    return true;
  }
  if (((kind === 'RenameStmt' || kind === 'AlterObjectSchemaStmt') && NAMED_BY_RULES.test(String(node.renameType ?? node.objectType))) ||
      (kind === 'AlterTableStmt' && Array.isArray(node.cmds) && (node.cmds as Node[]).some((c) =>
        REPARENTING.has(String((c as { AlterTableCmd?: Node }).AlterTableCmd?.subtype))))) {
    refuse(state, 'renaming or moving tables, columns, types or schemas, and attaching a table to a parent, are refused: ' +
      'masking rules apply to this session and match columns by these names');
    return true;
  }
  if (ROW_HOOKS.has(kind)) {
    refuse(state, `CREATE ${kind === 'RuleStmt' ? 'RULE' : 'TRIGGER'} is refused: masking rules apply to this session, and ` +
      'a trigger or rule runs on whole rows, with every column, whatever its text names');
    return true;
  }
  if (BODIES.has(kind)) {
    // Code runs later or builds its SQL at run time (EXECUTE format(...)): what it reads cannot be followed here.
    refuse(state, `${kind === 'DoStmt' ? 'DO' : 'CREATE FUNCTION/PROCEDURE'} is refused: masking rules apply to this session, and ` +
      'Warden cannot follow which values code reads (its SQL may be built at run time)');
    return true;
  }
  return false;
}

function refuse(state: State, message: string): void {
  state.flow.refusal ??= message;
}

/** One result column of a view, as its definition computes it. */
export interface ViewColumn {
  /** The masked column names its expression references ('*': a whole row). */
  origins: string[];
  /** The column is a plain reference to a masked column (its value is that column's, unchanged). */
  plain: boolean;
}

/**
 * Per result column of a view definition (`pg_get_viewdef`, which lists every column explicitly), what it computes
 * from masked columns; null when the definition is not one plain SELECT (a set operation, VALUES): then every
 * column of the view must be taken as derived from every masked column it references.
 */
export function viewColumns(definition: string, isMasked: (name: string) => boolean): ViewColumn[] | null {
  let statements;
  try {
    statements = parseStatements(definition);
  } catch {
    return null;
  }
  if (statements.length !== 1 || statements[0].kind !== 'SelectStmt') return null;
  const node = statements[0].node;
  if ((node.op !== undefined && node.op !== 'SETOP_NONE') || !Array.isArray(node.targetList)) return null;
  const flow: ColumnFlow = { derived: [], opaque: false, opaqueCopy: false, typedReads: false, typedCopies: false, touches: false, refusal: null, declares: [], fetches: [], prepares: [], executes: [] };
  const state: State = { isMasked, masked: new Map(), relations: new Map(), flow };
  collectNames({ SelectStmt: node }, state, isMasked);
  return node.targetList.map((target) => {
    const val = unwrap(target)?.[1].val;
    const origins = originsOf(val, state);
    return { origins, plain: origins.length > 0 && isPassthrough(val, state) && unwrap(val)?.[0] === 'ColumnRef' };
  });
}

/** Every masked column name a text references anywhere (a view definition that cannot be split by column). */
export function referencedMasked(definition: string, isMasked: (name: string) => boolean): string[] {
  const flow: ColumnFlow = { derived: [], opaque: false, opaqueCopy: false, typedReads: false, typedCopies: false, touches: false, refusal: null, declares: [], fetches: [], prepares: [], executes: [] };
  const state: State = { isMasked, masked: new Map(), relations: new Map(), flow };
  const origins = new Set<string>();
  try {
    for (const { kind, node } of parseStatements(definition)) {
      collectNames({ [kind]: node }, state, isMasked);
      for (const o of originsOf({ [kind]: node }, state)) origins.add(o);
    }
  } catch {
    return ['*'];
  }
  return [...origins];
}
