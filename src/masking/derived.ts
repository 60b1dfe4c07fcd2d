/**
 * Masking facts of a statement text, from the column-flow analysis (src/analysis/sql/outputs.ts) and the session's
 * rules: the column action for its computed result columns (values derived from masked columns, or transformed so
 * that detectors may miss them), whether its error and notice texts must be masked, and why it must not run at
 * all (it copies masked values elsewhere, hands them to impure functions, reads column statistics, or derives a
 * value from a column whose strategy cannot apply to a derived value, or computes or copies column values under a
 * rule that masks by type). Results are cached per rules and text.
 * Pure: no I/O beyond the parser. Never decides access.
 */
import { columnFlow, referencedMasked, viewColumns } from '../analysis/sql/outputs.js';
import { globMatch } from '../policy/glob.js';
import { compileRules, type CompiledItem, type MaskRules } from './rules.js';
import type { Strategy } from './strategies.js';

/** What masking must do with one statement's results (see the module comment). */
export interface MaskFacts {
  /** Identifies these facts in plan cache keys. */
  key: string;
  /** The action for every computed result column (no source table), or null. */
  derived: { strategy: Strategy; rule: string } | null;
  /** Error and notice texts of the statement are masked (they may echo values it reads). */
  texts: boolean;
  /** Why the statement is refused, or null. */
  refusal: string | null;
}

/** How the shape tracker reads texts (see ResultShapes' FactsSource). */
export interface MaskFactsSource {
  analyze(text: string): { facts: MaskFacts; declares: string[]; fetches: string[]; prepares: string[]; executes: string[] };
  merge(facts: MaskFacts[]): MaskFacts;
  /** A portal or cursor Warden knows nothing of: its computed columns are masked as if derived from every column. */
  unknown: MaskFacts;
  /**
   * The action for column `attnum` of a view with this definition, when it references masked columns: a plain
   * reference keeps the column's strategy; a derived value gets it too, `redact` in place of `partial` or `hash` (refusing
   * would have to end the session: the view is only known once its result arrives).
   */
  viewColumn(definition: string, attnum: number, nested?: string[]): { strategy: Strategy; rule: string } | null;
  /**
   * How free text Warden cannot trace to a statement (NOTIFY payloads from any session) is masked whole when rules
   * name columns (no detector recognises a column-only value): the first such rule's strategy, `redact` in place of
   * `partial` or `hash`; null when no rule names columns.
   */
  freeTextAction: { strategy: Strategy; rule: string } | null;
}

const CACHE_MAX = 512;

/**
 * Strategies that cannot apply to a derived value: `partial` would show other parts of it (`reverse(email)`), and
 * `hash` would turn equal tokens into an oracle on any part of it (`substr(card, 1, 1)` next to a literal guess in
 * one UNION). Where Warden cannot refuse, such a value is redacted instead.
 */
const NOT_FOR_DERIVED = new Set<Strategy>(['partial', 'hash']);
const forDerived = (strategy: Strategy): Strategy => (NOT_FOR_DERIVED.has(strategy) ? 'redact' : strategy);
const NONE: MaskFacts = { key: '', derived: null, texts: false, refusal: null };

/** The globs of an item as they can name a column by its own name: the last part of each `columns` glob. */
function nameGlobs(item: CompiledItem): string[] {
  return (item.columns ?? []).map((g) => g.glob.split('.').pop()!);
}

/** The facts source of one session's rules. */
export function maskFactsSource(rules: MaskRules): MaskFactsSource {
  const compiled = compileRules(rules);
  // Items naming columns: their values are masked wherever they flow. Types-only items cannot be resolved by name.
  const named = compiled.items.filter((i) => i.columns !== undefined);
  const content = compiled.items.find((i) => i.content && !i.scoped) ?? compiled.items.find((i) => i.content);
  const isMasked = (name: string): boolean => named.some((i) => nameGlobs(i).some((g) => globMatch(g, name)));
  // Items that mask by type without naming columns: they cannot follow a value by name, and a computed value's type
  // is not its column's (`upper(x)`, `x::text`), so a computed value read from any column, or a copy of any column's
  // value elsewhere, is refused for sessions under them (Warden does not know the types of the columns a statement
  // reads). Whole result columns keep their type and are masked by it as usual.
  const typed = compiled.items.find((i) => i.types !== undefined && i.columns === undefined);
  const cache = new Map<string, ReturnType<MaskFactsSource['analyze']>>();

  const matching = (names: string[]): CompiledItem[] =>
    names.includes('*') ? named : named.filter((i) => names.some((n) => nameGlobs(i).some((g) => globMatch(g, n))));
  const derivedAction = (names: string[]): { action: MaskFacts['derived']; refusal: string | null } => {
    const items = matching(names);
    const unfit = items.find((i) => NOT_FOR_DERIVED.has(i.strategy));
    if (unfit !== undefined) {
      return { action: null, refusal: `a value computed from a column masked with "${unfit.strategy}" by rule ${unfit.rule} ` +
        `is refused (${unfit.strategy === 'partial' ? 'a partial form of a derived value would show other parts of it'
          : 'equal tokens of derived values would tell parts of the value'}); select the column itself` };
    }
    return { action: items.length > 0 ? { strategy: items[0].strategy, rule: items[0].rule } : null, refusal: null };
  };

  const analyze = (text: string) => {
    let hit = cache.get(text);
    if (hit !== undefined) return hit;
    const flow = columnFlow(text, isMasked);
    let { action, refusal } = derivedAction(flow.derived);
    refusal = flow.refusal ?? refusal;
    if (action === null && flow.opaque && content !== undefined) {
      // A transformed value (reverse, to_hex, substr...) may no longer look like what the detectors find.
      action = { strategy: forDerived(content.strategy), rule: content.rule };
    }
    if (refusal === null && flow.opaqueCopy && content !== undefined) {
      refusal = 'writing a value computed from a column (a function, cast or operator applied to it) is refused: content ' +
        `masking rule ${content.rule} applies to this session and could not recognise the transformed value when read back`;
    }
    if (refusal === null && typed !== undefined) refusal = typedRefusal(typed, flow.typedReads, flow.typedCopies);
    const facts: MaskFacts = { key: action === null ? '' : `${action.strategy}:${action.rule}`, derived: action,
      texts: flow.touches || flow.opaque || action !== null, refusal };
    hit = { facts, declares: flow.declares, fetches: flow.fetches, prepares: flow.prepares, executes: flow.executes };
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(text, hit);
    return hit;
  };

  const first = named[0] ?? content ?? typed;
  const unknownAction = first === undefined ? null
    : { strategy: forDerived(first.strategy), rule: first.rule };
  const unknown: MaskFacts = { key: unknownAction ? `${unknownAction.strategy}:${unknownAction.rule}` : '', derived: unknownAction,
    texts: true, refusal: null };

  const merge = (list: MaskFacts[]): MaskFacts => {
    const withAction = list.find((f) => f.derived !== null);
    return { key: withAction?.key ?? '', derived: withAction?.derived ?? null, texts: list.some((f) => f.texts),
      refusal: list.find((f) => f.refusal !== null)?.refusal ?? null };
  };
  const views = new Map<string, { columns: ReturnType<typeof viewColumns>; all: string[] }>();
  const viewColumn = (definition: string, attnum: number, nested: string[] = []): { strategy: Strategy; rule: string } | null => {
    let view = views.get(definition);
    if (view === undefined) {
      view = { columns: viewColumns(definition, isMasked), all: referencedMasked(definition, isMasked) };
      if (views.size >= CACHE_MAX) views.clear();
      views.set(definition, view);
    }
    let column = view.columns?.[attnum - 1] ?? { origins: view.all, plain: false };
    // A view over other views: what their columns compute is not in this definition; the stored columns read
    // through them are (from the catalog), and any masked one masks every column that has no origin of its own.
    const inherited = nested.filter((name) => isMasked(name.toLowerCase()));
    if (column.origins.length === 0 && inherited.length > 0) column = { origins: inherited.map((n) => n.toLowerCase()), plain: false };
    if (column.origins.length === 0) return typed === undefined ? null : typedViewColumn(definition, attnum);
    const items = matching(column.origins);
    if (items.length === 0) return typed === undefined ? null : typedViewColumn(definition, attnum);
    const { strategy, rule } = items[0];
    return { strategy: column.plain ? strategy : forDerived(strategy), rule };
  };
  // A view's column computed from any column, under a type rule: its type is not its source's, so it is masked whole
  // (the view is only known once its result arrives: too late to refuse).
  const typedViews = new Map<string, ReturnType<typeof viewColumns>>();
  const typedViewColumn = (definition: string, attnum: number): { strategy: Strategy; rule: string } | null => {
    let columns = typedViews.get(definition);
    if (columns === undefined) {
      columns = viewColumns(definition, () => true);
      if (typedViews.size >= CACHE_MAX) typedViews.clear();
      typedViews.set(definition, columns);
    }
    const column = columns?.[attnum - 1];
    if (column !== undefined && (column.origins.length === 0 || column.plain)) return null;
    return { strategy: forDerived(typed!.strategy), rule: typed!.rule };
  };
  const firstNamed = named[0];
  const freeTextAction = firstNamed === undefined ? null
    : { strategy: forDerived(firstNamed.strategy), rule: firstNamed.rule };
  return { analyze, merge, unknown, viewColumn, freeTextAction };
}

/** The refusal for a statement that reads or copies column values through expressions under a type-only rule. */
function typedRefusal(item: CompiledItem, reads: boolean, copies: boolean): string | null {
  if (!reads && !copies) return null;
  const what = `masking rule ${item.rule} masks values by column type (${(item.types ?? []).join(', ')}), and Warden cannot tell the ` +
    'type of the column a value comes from';
  return reads ? `a result computed from a column (a function, operator, cast or set operation over it) is refused: ${what}; ` +
    'select the column itself' : `copying a column's value elsewhere is refused: ${what} once it is stored in another column`;
}

export { NONE as NO_MASK_FACTS };
