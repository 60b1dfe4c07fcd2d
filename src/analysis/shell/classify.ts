/**
 * One command line as words (after the parser and quote removal) to draft units: resolves the program name (fail
 * closed on names known only at run time, quoted or escaped names, patterns, non-ASCII look-alikes and programs
 * outside the system directories), applies the program's rule or table entry, the path rules to what it writes,
 * and lists every argument that looks like a path. Wrappers come back here for the command they run. Pure.
 */
import { FILE_RULES, TARGET_VALUED } from './commands.js';
import { MAX_DEPTH, mergeInto, newDraft, parseOptions, unique, type Ctx, type Draft, type Effect } from './context.js';
import {
  escapes, harmlessDevice, normalizePath, pathOf, privilegePath, resolvePath, socketPath, systemPath,
} from './paths.js';
import { fileReader, programSpec } from './programs.js';
import { SERVICE_RULES } from './services.js';
import { WRAPPERS } from './wrappers.js';
import type { Word } from './words.js';

/** The most simple commands judged in one analysis; past it, unknown. */
export const MAX_UNITS = 500;

/** Directories whose programs are known by their base name (`/usr/bin/rm` is rm; `/tmp/x/rm` is not). */
const SYSTEM_BIN = new Set(['/bin', '/usr/bin', '/sbin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']);

/** Program names Warden reads: ASCII letters, digits and `_ . + - [`; anything else (homoglyphs) is unknown. */
const NAME = /^[A-Za-z0-9_.+\-[]+$/;

/** Classifies one command line; returns one draft, or one per command a wrapper runs. */
export function classifyArgv(argv: Word[], ctx: Ctx, text: string): Draft[] {
  if (ctx.depth > MAX_DEPTH) return [newDraft(text, ['unknown'], `nested deeper than ${MAX_DEPTH} levels`)];
  if (++ctx.budget.units > MAX_UNITS) return [newDraft(text, ['unknown'], `more than ${MAX_UNITS} commands`)];
  const draft = newDraft(text);
  const [nameWord, ...args] = argv;
  if (nameWord === undefined) {
    draft.classes.add('read');
    return [draft];
  }
  const name = programName(nameWord, draft);
  if (name === null) {
    argumentPaths(draft, args, ctx);
    return [draft];
  }
  const rule = ruleFor(name);
  const effect: Effect = rule ? rule(args, ctx, name) : tableEffect(name, args);
  const consumed = new Set(effect.consumed ?? []);
  argumentPaths(draft, args.filter((w) => !consumed.has(w)), ctx);
  for (const cls of effect.classes) draft.classes.add(cls);
  if (effect.reason) draft.reasons.push(effect.reason);
  for (const word of effect.writes ?? []) applyWrite(draft, word, ctx, 'write');
  for (const word of effect.removes ?? []) applyWrite(draft, word, ctx, 'remove');
  for (const word of effect.metaWrites ?? []) applyWrite(draft, word, ctx, 'meta');
  for (const word of effect.reads ?? []) readPath(draft, word, ctx);
  if (effect.inner && effect.inner.length > 0) return effect.inner.map((inner) => mergeInto(draft, inner));
  if (draft.classes.size === 0) draft.classes.add('unknown');
  return [draft];
}

/** grep given its pattern by -e or -f (then every operand is a file). */
function hasPattern(parsed: ReturnType<typeof parseOptions>): boolean {
  return parsed.options.has('-e') || parsed.options.has('-f') || parsed.options.has('--regexp') || parsed.options.has('--file');
}

function ruleFor(name: string) {
  if (Object.hasOwn(WRAPPERS, name)) return WRAPPERS[name];
  if (Object.hasOwn(FILE_RULES, name)) return FILE_RULES[name];
  if (Object.hasOwn(SERVICE_RULES, name)) return SERVICE_RULES[name];
  return undefined;
}

/** A program from the table: its classes, and the operands it writes. */
function tableEffect(name: string, args: Word[]): Effect {
  const spec = programSpec(name);
  if (spec === undefined) return { classes: ['unknown'], reason: `program ${name} is not known` };
  const readsFiles = fileReader(name);
  if (spec.writes === undefined) {
    if (!readsFiles) return { classes: spec.classes };
    const parsed = parseOptions(args, readsFiles);
    return { classes: spec.classes, reads: /^[ef]?grep$/.test(name) && !hasPattern(parsed) ? parsed.operands.slice(1) : parsed.operands };
  }
  const parsed = parseOptions(args, TARGET_VALUED);
  const target = parsed.options.get('-t') ?? parsed.options.get('--target-directory');
  const reads = spec.writes === 'last' ? parsed.operands : [];
  if (target !== undefined && target !== true) return { classes: spec.classes, writes: [target], reads };
  const last = parsed.operands[parsed.operands.length - 1];
  const writes = spec.writes === 'operands' ? parsed.operands : last ? [last] : [];
  return { classes: spec.classes, writes, reads: reads.slice(0, -1) };
}

/**
 * The program's name as Warden judges it, or null when it cannot be judged (the draft is then unknown, with the
 * reason). A name written with quotes or escapes is judged as what it spells and is also unknown (obfuscation).
 */
function programName(word: Word, draft: Draft): string | null {
  const unknown = (reason: string): null => {
    draft.classes.add('unknown');
    draft.reasons.push(reason);
    return null;
  };
  // Listed as written (match.ts: `$X` may be any program for a deny rule and none for an allow rule).
  if (word.value === null) {
    draft.programs.push(word.raw);
    return unknown(`program name ${word.raw} is known only when it runs`);
  }
  if (word.glob || word.brace) {
    draft.programs.push(word.value);
    return unknown(`program name ${word.raw} is a pattern`);
  }
  let name = word.value;
  if (name.includes('/')) {
    // As written, normalised: a deny rule on `rm` catches `/bin/rm`; an allow rule on `rm` does not allow it.
    const absolute = name.startsWith('/');
    const path = absolute ? normalizePath(name) : name;
    draft.programs.push(path);
    if (!absolute) return unknown(`program ${word.raw} is named by a relative path`);
    const slash = path.lastIndexOf('/');
    if (!SYSTEM_BIN.has(path.slice(0, slash) || '/')) return unknown(`program ${path} is outside the system directories`);
    name = path.slice(slash + 1);
  } else draft.programs.push(name);
  if (!NAME.test(name)) return unknown(`program name ${JSON.stringify(name)} has characters Warden does not read`);
  if (word.quoted) {
    draft.classes.add('unknown');
    draft.reasons.push(`program name ${word.raw} is written with quotes or escapes`);
  }
  return name;
}

/**
 * An argument known only when it runs (expansion, substitution, pattern) may be any path: it is listed as written
 * (match.ts treats `$`, backquotes and wildcards as "may be anything": deny rules on paths hold, allow rules do not)
 * and the unit is flagged `opaquePaths`. What xargs adds is `$INPUT`.
 */
function opaquePath(draft: Draft, word: Word): void {
  draft.opaque = true;
  const shown = word.value === null ? word.raw : normalizePath(word.value);
  if (!/[*?[$`]/.test(shown)) return;
  draft.paths = unique([...draft.paths, shown]);
}

/** Lists the arguments that look like paths; an argument known only when it runs makes the paths opaque. */
function argumentPaths(draft: Draft, args: Word[], ctx: Ctx): void {
  for (const word of args) {
    if (word.value === null || word.glob || word.brace) opaquePath(draft, word);
    if (word.value === null) continue;
    const path = pathOf(word.value);
    if (path !== null) draft.paths = unique([...draft.paths, resolvePath(path, ctx.scope.cwd) ?? normalizePath(path)]);
  }
}

/**
 * A write to `word` (or a removal, or a metadata change): adds write; under a system path destructive (privilege
 * for metadata changes); a privilege path privilege (not for removals); a place not known statically (expansion, brace pattern, relative to an unknown directory, above
 * the start directory) unknown. Harmless devices (/dev/null) are no write.
 */
export function applyWrite(draft: Draft, word: Word, ctx: Ctx, mode: 'write' | 'remove' | 'meta'): void {
  const unknown = (reason: string): void => {
    draft.classes.add('write');
    draft.classes.add('unknown');
    draft.opaque = true;
    draft.reasons.push(reason);
  };
  if (word.value === null || word.brace) {
    opaquePath(draft, word);
    return unknown(`writes to ${word.raw}, known only when it runs`);
  }
  const path = resolvePath(word.value, ctx.scope.cwd);
  if (path === null || escapes(path)) {
    draft.paths = unique([...draft.paths, normalizePath(word.value)]);
    return unknown(`writes to ${word.raw} relative to a directory Warden does not know`);
  }
  if (harmlessDevice(path)) return;
  if (socketPath(path)) {
    draft.classes.add('network');
    draft.paths = unique([...draft.paths, path]);
    return;
  }
  draft.classes.add('write');
  draft.paths = unique([...draft.paths, path]);
  if (word.glob) draft.opaque = true;
  if (systemPath(path, word.glob)) draft.classes.add(mode === 'meta' ? 'privilege' : 'destructive');
  if (mode !== 'remove' && privilegePath(path, word.glob)) draft.classes.add('privilege');
}

/** An operand the program reads: listed as a path (normalised), or opaque when known only at run time. */
export function readPath(draft: Draft, word: Word, ctx: Ctx): void {
  if (word.value === null || word.glob || word.brace) opaquePath(draft, word);
  if (word.value === null || word.value === '-') return;
  const path = resolvePath(word.value, ctx.scope.cwd) ?? normalizePath(word.value);
  if (socketPath(path)) draft.classes.add('network');
  draft.paths = unique([...draft.paths, path]);
}
