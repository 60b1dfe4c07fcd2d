/**
 * The analyser's working types: a draft unit being built, the context a command is judged in (nesting depth, the
 * working directory tracked so far, what feeds its standard input, the budget), what a program rule returns, and
 * the option parser the rules share. Pure helpers only.
 */
import type { Cwd } from './paths.js';
import type { ShellClass } from './types.js';
import type { Word } from './words.js';

/** A unit being built. */
export interface Draft {
  text: string;
  classes: Set<ShellClass>;
  programs: string[];
  paths: string[];
  /** Some argument is only known when it runs (expansion, substitution, pattern): `paths` may be incomplete. */
  opaque: boolean;
  /** Why the unit is `unknown`, for messages and tests. */
  reasons: string[];
}

/** What feeds a command's standard input: the caller, a pipe, a file, or text written in the command (here-doc). */
export type Stdin = 'caller' | 'pipe' | 'file' | { text: string | null };

/**
 * Shared across one analyzeShell call: bounds on work (so hostile input fails closed instead of running long), and
 * two marks that only together make text unknown: an arithmetic context (where bash evaluates a variable's text,
 * running any `$(...)` in it) and a quoted literal holding substitution syntax.
 */
export interface Budget {
  parsedChars: number;
  units: number;
  arithmetic: boolean;
  inert: boolean;
}

/** Where a command is judged. */
export interface Ctx {
  /** Nesting: substitutions, compound commands, wrappers, re-parsed strings. Past the limit: unknown. */
  depth: number;
  /** The working directory; shared along a list, copied into subshells. */
  scope: { cwd: Cwd };
  stdin: Stdin;
  budget: Budget;
  /** Classifies a command line given as words (wrappers use it for the command they run). */
  classify(argv: Word[], ctx: Ctx, text: string): Draft[];
  /** Parses and analyses shell text (`sh -c STRING`, here-documents fed to a shell, `ssh host CMD`). */
  reparse(text: string, ctx: Ctx): Draft[];
}

/** What a program rule says about one command. */
export interface Effect {
  classes: ShellClass[];
  /** Operands the command writes: the path rules (paths.ts) add destructive, privilege or unknown. */
  writes?: Word[];
  /** Operands it removes: like writes, but removing a privilege path grants nothing (destructive rules apply). */
  removes?: Word[];
  /** Operands it reads (listed as paths even when they do not look like one, such as `cat key.pem`). */
  reads?: Word[];
  /** Operands whose metadata it changes (chmod, chown): on a system or privilege path that is privilege. */
  metaWrites?: Word[];
  /** Commands it runs (wrappers): each becomes a unit carrying this command's classes and programs as well. */
  inner?: Draft[];
  /** Arguments that are command text or a script (`sh -c STRING`, a sed script), not paths. */
  consumed?: Word[];
  /** Why it is unknown. */
  reason?: string;
}

/** A program rule: the command's arguments (without the program name) to its effect. */
export type Rule = (args: Word[], ctx: Ctx, name: string) => Effect;

/** The deepest nesting judged; deeper text is unknown. */
export const MAX_DEPTH = 24;

/** A fresh draft. */
export function newDraft(text: string, classes: ShellClass[] = [], reason?: string): Draft {
  return { text, classes: new Set(classes), programs: [], paths: [], opaque: false, reasons: reason ? [reason] : [] };
}

/** An unknown draft with its reason. */
export function unknownDraft(text: string, reason: string): Draft {
  return newDraft(text, ['unknown'], reason);
}

/** `inner` carrying `outer`'s classes, programs, paths and marks as well (a wrapper and what it runs). */
export function mergeInto(outer: Draft, inner: Draft): Draft {
  return {
    text: inner.text,
    classes: new Set([...outer.classes, ...inner.classes]),
    programs: unique([...outer.programs, ...inner.programs]),
    paths: unique([...outer.paths, ...inner.paths]),
    opaque: outer.opaque || inner.opaque,
    reasons: [...outer.reasons, ...inner.reasons],
  };
}

/** Order-keeping de-duplication. */
export function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

/** A command line split into options and operands. */
export interface Parsed {
  /** Options by name (`-u`, `--user`): their value, or true for a flag. Repeated options keep the last. */
  options: Map<string, Word | true>;
  /** Non-option words, in order. */
  operands: Word[];
  /** Index in `args` of the first operand (for wrappers: where the wrapped command starts). */
  firstOperand: number;
}

/**
 * Splits `args` into options and operands the getopt way. `valued` lists the options that take a value (`-u`,
 * `--user`); short flags may be clustered (`-iu root`, `-uroot`), long ones written `--user=root`. With
 * `stopAtOperand` (wrappers), parsing stops at the first operand: the rest is the wrapped command. A word whose
 * value is not known is taken as an operand (so a wrapped command named by a variable is judged unknown).
 */
export function parseOptions(args: Word[], valued: readonly string[] = [], stopAtOperand = false): Parsed {
  const options = new Map<string, Word | true>();
  const operands: Word[] = [];
  let firstOperand = args.length;
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    const v = word.value;
    if (v === null || v === '-' || !v.startsWith('-') || v === '--') {
      if (v === '--') {
        i++;
      }
      if (firstOperand === args.length) firstOperand = i;
      if (v === '--' || stopAtOperand) {
        operands.push(...args.slice(i));
        break;
      }
      operands.push(word);
      continue;
    }
    if (v.startsWith('--')) {
      const eq = v.indexOf('=');
      const name = eq < 0 ? v : v.slice(0, eq);
      if (eq >= 0) options.set(name, { ...word, value: v.slice(eq + 1) });
      else if (valued.includes(name) && i + 1 < args.length) options.set(name, args[++i]);
      else options.set(name, true);
      continue;
    }
    for (let j = 1; j < v.length; j++) {
      const name = '-' + v[j];
      if (!valued.includes(name)) {
        options.set(name, true);
        continue;
      }
      if (j + 1 < v.length) options.set(name, { ...word, value: v.slice(j + 1) });
      else if (i + 1 < args.length) options.set(name, args[++i]);
      else options.set(name, true);
      break;
    }
  }
  return { options, operands, firstOperand: Math.min(firstOperand, args.length) };
}

/** Whether any of `names` was given. */
export function has(parsed: Parsed, ...names: string[]): boolean {
  return names.some((name) => parsed.options.has(name));
}

/** The value of the first of `names` that was given with a value. */
export function valueOf(parsed: Parsed, ...names: string[]): Word | undefined {
  for (const name of names) {
    const value = parsed.options.get(name);
    if (value !== undefined && value !== true) return value;
  }
  return undefined;
}
