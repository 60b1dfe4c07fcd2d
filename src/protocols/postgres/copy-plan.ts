/**
 * The masking plan of `COPY table [(columns)] TO STDOUT`, which sends no RowDescription: the columns COPY lists for
 * the table (from the catalog), planned like a SELECT of them. Pure: the tables are looked up by the caller; never
 * decides access.
 */
import { WardenError } from '../../errors.js';
import { compilePlan, type ColumnAction, type MaskPlan } from '../../masking/plan.js';
import type { TableColumns } from './catalog.js';
import type { CopyOut } from './copy-statements.js';
import type { MaskRules } from './result-masking.js';
import { typeName } from './types.js';

/**
 * The plan of `COPY table [(columns)]`: the table's columns as COPY lists them (all but generated ones, in order,
 * or those named), planned like a RowDescription's. Without a schema the name may match tables in several schemas
 * (the caller's search_path is unknown here): they must all mask alike, else the COPY is refused.
 */
export function copyTablePlan(rules: MaskRules, relation: NonNullable<CopyOut['relation']>, tables: TableColumns[], count: number): MaskPlan {
  let chosen: MaskPlan | undefined;
  for (const table of tables) {
    const columns = copyColumns(table, relation.columns, count);
    if (columns === undefined) continue;
    const plan = compilePlan(rules, columns.map((c) => ({ name: c.name, typeName: typeName(c.typeOid), format: 0,
      source: `${table.schema}.${table.table}.${c.name}` })));
    if (chosen !== undefined && !samePlan(chosen, plan)) {
      throw new WardenError('WARDEN_ERR_FORBIDDEN', `COPY ${relation.name}: tables of that name in several schemas are masked differently; ` +
        'name the table with its schema');
    }
    chosen ??= plan;
  }
  if (chosen === undefined) {
    throw new WardenError('WARDEN_ERR_FORBIDDEN', `COPY ${relation.name}: its columns could not be read from the catalog (a table created in this ` +
      'transaction or a temporary one?), so masking rules that name columns cannot be applied; use SELECT');
  }
  return chosen;
}

/** The columns `COPY table [(names)]` sends, when they number `count`; undefined when this table cannot be it. */
function copyColumns(table: TableColumns, names: string[] | undefined, count: number): TableColumns['columns'] | undefined {
  if (names !== undefined) {
    const named = names.map((n) => table.columns.find((c) => c.name === n));
    return named.length === count && named.every((c) => c !== undefined) ? named as TableColumns['columns'] : undefined;
  }
  // COPY TO leaves generated columns out (PostgreSQL 12 to 17); a server that sends them is matched by the count.
  const stored = table.columns.filter((c) => !c.generated);
  if (stored.length === count) return stored;
  return table.columns.length === count ? table.columns : undefined;
}

/** Whether two plans mask every column alike (same strategies, detectors and patterns; rule names aside). */
function samePlan(a: MaskPlan, b: MaskPlan): boolean {
  return a.columns.length === b.columns.length && a.columns.every((x, i) => actionKey(x) === actionKey(b.columns[i]));
}

function actionKey(action: ColumnAction | null): string {
  if (action === null) return '-';
  if (action.kind === 'column') return `c:${action.strategy}:${action.json === true}`;
  return `s:${action.detectors.map((d) => `${d.detector}=${d.strategy}`).join(',')}:${action.patterns.map((p) => `${p.regex.source}=${p.strategy}`).join(',')}`;
}
