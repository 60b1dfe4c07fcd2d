/**
 * Masking plans: for one result shape (the columns of a RowDescription, resolved to their source columns), what
 * happens to each column. A column rule (columns/types) masks the whole value; content rules (detectors/patterns)
 * scan the values of every other column, which is how values that left their column (lower(email), email || '',
 * row_to_json, json_agg, string_agg) are still caught. Computed once per result, so row-time work is a lookup.
 * Pure: no I/O. Never decides access; never sees row data.
 */
import { globMatch } from '../policy/glob.js';
import type { MaskItem } from '../policy/schema.js';
import { compileRules, contentAction, type ColumnGlob, type CompiledItem, type ContentAction } from './rules.js';
import type { Strategy } from './strategies.js';

export type { ContentAction } from './rules.js';

/** One result column as the relay knows it from RowDescription plus the catalog. */
export interface ColumnInfo {
  name: string;
  /** 'schema.table.column' of the source column when the column comes straight from a table; undefined when computed. */
  source?: string;
  /** The type name from pg_catalog (e.g. 'text', 'varchar', 'int4', 'jsonb'). */
  typeName: string;
  /** 0 text, 1 binary. */
  format: number;
  /** A computed column (RowDescription names no source table): an expression's value, not a stored column's. */
  computed?: boolean;
  /** Masked whole with this strategy: a view's column computed from masked columns (src/masking/derived.ts). */
  derived?: { strategy: Strategy; rule: string } | null;
}

/** What happens to one column: a whole-value strategy, or content scanning with detectors and patterns. */
export type ColumnAction =
  | {
      kind: 'column';
      strategy: Strategy;
      rule: string;
      /** A json/jsonb column in text format: the masked value is written as a JSON string so clients still parse it. */
      json?: boolean;
    }
  | ContentAction;

/** A compiled plan for one result shape. */
export interface MaskPlan {
  /** Per column, in result order: its action, or null to pass it through. */
  columns: Array<ColumnAction | null>;
  /** True when no column needs anything: the relay passes rows through untouched. */
  empty: boolean;
  /** Set when a binary-format column is covered by a rule masking cannot apply to it: the relay refuses the result. */
  binaryRefusal?: string;
}

/**
 * Binary values of these types are their UTF-8 text (jsonb after a version byte), so content scanning works on
 * them unchanged; a whole-value replacement string is a valid binary value only for the plain string types.
 */
const SCANNABLE_BINARY = new Set(['text', 'varchar', 'bpchar', 'name', 'json', 'jsonb', 'xml']);
const REPLACEABLE_BINARY = new Set(['text', 'varchar', 'bpchar', 'name']);
/**
 * Binary values no detector could match in their text form either (no 13 digits in a row, no @, no dotted quad),
 * so a binary int4 or timestamp column needs no scanning when only detectors (not operator patterns) apply.
 * int8, numeric and float8 are absent: their text can be a 15-19 digit card number.
 */
const DETECTOR_PROOF = new Set([
  'bool', 'int2', 'int4', 'float4', 'oid', 'date', 'time', 'timetz', 'timestamp', 'timestamptz',
  'interval', 'uuid',
]);

/**
 * Types whose text form no detector can match either: at most ten digits with no separator a detector accepts (an
 * int4 is no card and, with no + or separators, no phone), whatever the session's DateStyle or float settings. A
 * text column of these types is not scanned when only detectors (not operator patterns) apply to it.
 */
const TEXT_DETECTOR_PROOF = new Set(['bool', 'int2', 'int4', 'oid', 'float4']);

/**
 * Compiles the plan of one result shape. Rule matching: a `columns` glob with dots is matched against the source
 * `schema.table.column` (one dot: also `table.column`); a glob without dots, or whose parts before the last are all
 * `*` (`*.email`), is also matched against the bare column names (the RowDescription name and the source column
 * name), so `*.email` covers `public.users.email`, `SELECT email AS e` and a computed column named `email`, while
 * `public.customers.card_number` covers that source column only. Matching is case-insensitive. `types` globs match
 * typeName; an item with both columns and types needs both. An item with columns/types and no detectors/patterns is
 * a column rule: column rules win over content rules, and the first in order wins among them. An item with
 * detectors/patterns and no columns/types scans every column no column rule covers (any type: an int8 can hold a
 * card number; an int4 cannot hold one and is skipped); with columns/types too, it scans only the columns it
 * matches.
 */
export function compilePlan(rules: Array<{ rule: string; items: MaskItem[] }>, columns: ColumnInfo[],
  derived?: { strategy: Strategy; rule: string } | null): MaskPlan {
  const compiled = compileRules(rules);
  const plan: MaskPlan = { columns: [], empty: true };
  for (const column of columns) {
    // `derived`: the statement computes result values from masked columns (src/masking/derived.ts); its computed
    // columns are masked whole.
    const whole = column.derived ?? (column.computed ? derived : null);
    let action = whole ? derivedAction(column, whole) : actionFor(column, compiled.items, compiled.unscoped);
    if (action?.kind === 'content' && column.format === 0 && action.patterns.length === 0 &&
      TEXT_DETECTOR_PROOF.has(column.typeName.toLowerCase())) action = null;
    if (action !== null && column.format !== 0) {
      const refusal = binaryRefusal(column, action);
      if (refusal === 'skip') action = null;
      else if (refusal !== undefined) plan.binaryRefusal ??= refusal;
    }
    plan.columns.push(action);
    if (action !== null) plan.empty = false;
  }
  return plan;
}

function derivedAction(column: ColumnInfo, derived: { strategy: Strategy; rule: string }): ColumnAction {
  const type = column.typeName.toLowerCase();
  const action: ColumnAction = { kind: 'column', strategy: derived.strategy, rule: derived.rule };
  if (column.format === 0 && (type === 'json' || type === 'jsonb')) action.json = true;
  return action;
}

function actionFor(column: ColumnInfo, items: readonly CompiledItem[], unscoped: ContentAction | null): ColumnAction | null {
  const names = [column.name.toLowerCase()];
  const source = column.source?.toLowerCase();
  const sourceParts = source?.split('.') ?? [];
  if (sourceParts.length > 0) names.push(sourceParts[sourceParts.length - 1]);
  const tableColumn = sourceParts.length >= 2 ? sourceParts.slice(-2).join('.') : undefined;
  const typeName = column.typeName.toLowerCase();
  let scopedContent: CompiledItem[] | undefined;
  for (const item of items) {
    if (!item.scoped) continue;
    if (item.types && !item.types.some((t) => globMatch(t, typeName))) continue;
    if (item.columns && !item.columns.some((g) => columnMatches(g, names, source, tableColumn))) continue;
    if (!item.content) {
      const json = column.format === 0 && (typeName === 'json' || typeName === 'jsonb');
      const action: ColumnAction = { kind: 'column', strategy: item.strategy, rule: item.rule };
      if (json) action.json = true;
      return action;
    }
    (scopedContent ??= []).push(item);
  }
  if (scopedContent === undefined) return unscoped;
  // Rare: merge in the original order so that a detector named twice keeps the strategy of its first rule.
  const applicable = new Set(scopedContent);
  return contentAction(items.filter((i) => i.content && (!i.scoped || applicable.has(i))));
}

/** Whether a `columns` glob covers a column (see compilePlan). */
function columnMatches(glob: ColumnGlob, names: readonly string[], source?: string, tableColumn?: string): boolean {
  if (glob.bare !== undefined && names.some((n) => globMatch(glob.bare as string, n))) return true;
  if (source === undefined || !glob.dotted) return false;
  if (globMatch(glob.glob, source)) return true;
  return glob.tableColumn && tableColumn !== undefined && globMatch(glob.glob, tableColumn);
}

/**
 * For a binary-format column with an action: undefined when the action works on binary bytes as is, 'skip' when
 * nothing can match so no action is needed, else the refusal message.
 */
function binaryRefusal(column: ColumnInfo, action: ColumnAction): string | undefined | 'skip' {
  const type = column.typeName.toLowerCase();
  if (action.kind === 'column') {
    if (action.strategy === 'null' || REPLACEABLE_BINARY.has(type)) return undefined;
    return `column "${column.name}" (${type}) is masked by rule ${action.rule} and cannot be masked in binary format; ` +
      'request text format';
  }
  if (SCANNABLE_BINARY.has(type)) return undefined;
  if (action.patterns.length === 0 && DETECTOR_PROOF.has(type)) return 'skip';
  const rule = action.detectors[0]?.rule ?? action.patterns[0]?.rule;
  return `column "${column.name}" (${type}) must be scanned by rule ${rule} and cannot be scanned in binary format; ` +
    'request text format';
}
