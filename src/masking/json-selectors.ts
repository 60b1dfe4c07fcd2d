/**
 * JSON field selectors of mask items (`fields: ['$.customers[*].email', '**.ssn']`): their syntax, and a matcher
 * that follows a JSON document's path one step at a time (a member name or an array index), as a streaming parser
 * walks it, without ever holding the path as a whole.
 *
 * Syntax. A selector starts at the root `$` or with `**` (any depth, the same as `$.**`). Then steps:
 * - `.name` a member whose name is `name` (letters, digits, `_`, `-`, `$`, `@` and any non-ASCII character);
 * - `['odd key']` or `["odd key"]` a member with any name (`\'`, `\"` and `\\` escape inside);
 * - `.*` or `[*]` any one member or array element;
 * - `[N]` the array element at index N (from 0);
 * - `.**` (or `**.` at the start) any number of steps, none included.
 * Member names match without regard to case (`**.email` also selects `Email`: fail closed), and against the name as
 * decoded (`"\u0065mail"` is `email`). A selector selects a value; a selected object or array has every value inside
 * it selected. Pure: no I/O.
 */

/** One step of a selector. */
export type SelectorStep =
  | { kind: 'key'; name: string }
  | { kind: 'any' }
  | { kind: 'index'; index: number }
  | { kind: 'deep' };

/** A selector that does not parse, with why. */
export class SelectorSyntaxError extends Error {}

const NAME_CHAR = /[A-Za-z0-9_\-$@\u0080-\uffff]/;

/** The steps of `text`; throws a SelectorSyntaxError naming the problem. */
export function parseSelector(text: string): SelectorStep[] {
  const steps: SelectorStep[] = [];
  let i: number;
  if (text.startsWith('$')) i = 1;
  else if (text.startsWith('**')) {
    steps.push({ kind: 'deep' });
    i = 2;
  } else throw new SelectorSyntaxError(`a field selector starts with $ or ** (as in $.customers[*].email or **.ssn), not "${text}"`);
  while (i < text.length) {
    const c = text[i];
    if (c === '.') i = dotStep(text, i + 1, steps);
    else if (c === '[') i = bracketStep(text, i + 1, steps);
    else throw new SelectorSyntaxError(`unexpected "${c}" at position ${i} of "${text}" (steps are .name, ['name'], [*], [N], .*, .**)`);
  }
  if (steps.length > 0 && steps[steps.length - 1].kind === 'deep') {
    throw new SelectorSyntaxError(`"${text}" ends with ** (name what it selects, as in **.ssn)`);
  }
  return steps;
}

/** The error message of `text` as a selector, or null when it parses. */
export function selectorError(text: string): string | null {
  try {
    parseSelector(text);
    return null;
  } catch (err) {
    if (err instanceof SelectorSyntaxError) return err.message;
    throw err;
  }
}

function dotStep(text: string, i: number, steps: SelectorStep[]): number {
  if (text.startsWith('**', i)) {
    steps.push({ kind: 'deep' });
    return i + 2;
  }
  if (text[i] === '*') {
    if (i + 1 < text.length && NAME_CHAR.test(text[i + 1])) {
      throw new SelectorSyntaxError(`"*" stands alone for any member in "${text}" (quote a name holding it: ['a*b'])`);
    }
    steps.push({ kind: 'any' });
    return i + 1;
  }
  let end = i;
  while (end < text.length && NAME_CHAR.test(text[end])) end++;
  if (end === i) throw new SelectorSyntaxError(`a member name is missing at position ${i} of "${text}" (quote odd names: ['odd key'])`);
  steps.push({ kind: 'key', name: text.slice(i, end).toLowerCase() });
  return end;
}

function bracketStep(text: string, i: number, steps: SelectorStep[]): number {
  const c = text[i];
  if (c === '*' && text[i + 1] === ']') {
    steps.push({ kind: 'any' });
    return i + 2;
  }
  if (c === "'" || c === '"') {
    let name = '';
    let j = i + 1;
    for (; j < text.length && text[j] !== c; j++) {
      if (text[j] === '\\' && j + 1 < text.length) j++;
      name += text[j];
    }
    if (j >= text.length || text[j + 1] !== ']') throw new SelectorSyntaxError(`an unterminated quoted name in "${text}"`);
    steps.push({ kind: 'key', name: name.toLowerCase() });
    return j + 2;
  }
  const m = /^(\d{1,9})\]/.exec(text.slice(i));
  if (m === null) throw new SelectorSyntaxError(`"[" takes *, an index or a quoted name in "${text}"`);
  steps.push({ kind: 'index', index: Number(m[1]) });
  return i + m[0].length;
}

/** Interned state sets and cached transitions are bounded: member names can be unbounded (maps keyed by ids). */
const MAX_INTERNED = 4096;
const MAX_CACHED_KEYS = 256;

/**
 * Where a set of selectors stands at one node of a document: the selector positions reached. Immutable and shared;
 * transitions are cached. `selected` is the smallest selector tag that matches the node itself (-1: none).
 */
export class MatchState {
  readonly selected: number;
  /** No selector can match here or below: nothing to compute for children. */
  readonly empty: boolean;
  /** A child's state depends on its member name (some position expects a named member). */
  readonly keyDependent: boolean;
  private readonly indexDependent: boolean;
  private readonly keyed = new Map<string, MatchState>();
  private anyKey: MatchState | undefined;
  private anyElement: MatchState | undefined;

  constructor(private readonly matcher: SelectorMatcher, readonly positions: readonly number[]) {
    let selected = -1;
    let keyDependent = false;
    let indexDependent = false;
    for (const code of positions) {
      const [s, p] = matcher.decode(code);
      const steps = matcher.steps[s];
      if (p === steps.length) {
        if (selected === -1 || matcher.tags[s] < selected) selected = matcher.tags[s];
      } else if (steps[p].kind === 'key') keyDependent = true;
      else if (steps[p].kind === 'index') indexDependent = true;
    }
    this.selected = selected;
    this.empty = positions.length === 0;
    this.keyDependent = keyDependent;
    this.indexDependent = indexDependent;
  }

  /** The state of the member named `name` (already lower-cased; ignored when not keyDependent). */
  member(name: string): MatchState {
    if (this.empty) return this;
    if (!this.keyDependent) return (this.anyKey ??= this.matcher.step(this.positions, name, -1));
    let next = this.keyed.get(name);
    if (next === undefined) {
      next = this.matcher.step(this.positions, name, -1);
      if (this.keyed.size < MAX_CACHED_KEYS) this.keyed.set(name, next);
    }
    return next;
  }

  /** The state of the array element at `index`. */
  element(index: number): MatchState {
    if (this.empty) return this;
    if (!this.indexDependent) return (this.anyElement ??= this.matcher.step(this.positions, null, index));
    return this.matcher.step(this.positions, null, index);
  }
}

/** Selectors, each with a tag (the mask item it belongs to; the smallest tag wins where several select a node). */
export class SelectorMatcher {
  readonly steps: SelectorStep[][] = [];
  readonly tags: number[] = [];
  readonly root: MatchState;
  private readonly interned = new Map<string, MatchState>();
  private readonly stride: number;

  constructor(selectors: ReadonlyArray<{ steps: SelectorStep[]; tag: number }>) {
    for (const s of selectors) {
      this.steps.push(s.steps);
      this.tags.push(s.tag);
    }
    this.stride = Math.max(1, ...this.steps.map((s) => s.length + 1));
    const start: number[] = [];
    for (let s = 0; s < this.steps.length; s++) this.close(s, 0, start);
    this.root = this.intern(start);
  }

  /** The selector number and position of a position code. */
  decode(code: number): [number, number] {
    return [Math.floor(code / this.stride), code % this.stride];
  }

  /** Adds position p of selector s, and the positions after each `**` it stands on (zero steps), to `out`. */
  private close(s: number, p: number, out: number[]): void {
    const steps = this.steps[s];
    for (;;) {
      const code = s * this.stride + p;
      if (!out.includes(code)) out.push(code);
      if (p < steps.length && steps[p].kind === 'deep') p++;
      else return;
    }
  }

  /** The state after one step: a member `name` (index -1) or an element `index` (name null). */
  step(positions: readonly number[], name: string | null, index: number): MatchState {
    const out: number[] = [];
    for (const code of positions) {
      const [s, p] = this.decode(code);
      const steps = this.steps[s];
      if (p === steps.length) continue;
      const step = steps[p];
      if (step.kind === 'deep') this.close(s, p, out);
      else if (step.kind === 'any' || (step.kind === 'key' && name === step.name) || (step.kind === 'index' && index === step.index)) {
        this.close(s, p + 1, out);
      }
    }
    return this.intern(out);
  }

  private intern(positions: number[]): MatchState {
    positions.sort((a, b) => a - b);
    const id = positions.join(',');
    let state = this.interned.get(id);
    if (state === undefined) {
      state = new MatchState(this, positions);
      if (this.interned.size < MAX_INTERNED) this.interned.set(id, state);
    }
    return state;
  }
}
