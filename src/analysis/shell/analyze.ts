/**
 * Shell command analysis for the SSH engine: `analyzeShell(text)` judges an exec command or a line typed in an
 * interactive shell, synchronously and without I/O, into one unit per simple command with its classes (read,
 * write, destructive, privilege, network, unknown) and the match keys `programs` and `paths`.
 *
 * Owns the entry points, the guards applied before parsing and the conversion to the shared Analysis shape. It must
 * never run, expand or look anything up: everything is judged from the text, and what the text alone cannot
 * settle is `unknown` (fail closed). Guards: text longer than MAX_SHELL_TEXT, control characters tree-sitter reads
 * differently from bash (CR, NUL, ...), parse errors, nesting deeper than MAX_DEPTH, more than MAX_UNITS commands,
 * and re-parsing more than MAX_PARSED characters in all are unknown. See docs/shell-analysis.md.
 *
 * Parser: tree-sitter-bash through web-tree-sitter (parse.ts explains the choice).
 */
import { MAX_UNITS } from './classify.js';
import { MAX_DEPTH, newDraft, type Budget, type Ctx, type Draft } from './context.js';
import { loadShellParser, shellParserReady, withShellTree, type SyntaxNode } from './parse.js';
import type { AnalysedUnit, Analysis } from './types.js';
import { classifyArgv } from './classify.js';
import { walk } from './walk.js';

export { loadShellParser } from './parse.js';
export type { AnalysedUnit, Analysis } from './types.js';

/** The longest text analysed (about 16 KiB): parse time grows with length; longer text is unknown. */
export const MAX_SHELL_TEXT = 16_384;

/** The most characters parsed in one analysis, counting strings parsed again (`sh -c`, `ssh host CMD`). */
export const MAX_PARSED = 65_536;

/** Characters bash reads as part of a word that tree-sitter-bash may read as blanks, and NUL (a C string ends). */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;


/**
 * Judges one shell command line. Synchronous and pure; never throws. Before loadShellParser() has finished, and
 * for text it cannot judge, the answer is one unit of class `unknown` with `parseError` saying why.
 */
export function analyzeShell(text: string): Analysis {
  const analysis = analyzeText(text);
  // Bash removes backslash-newline before it splits words (`r\<newline>m` is `rm`); tree-sitter-bash splits there.
  // Outside single quotes and quoted here-documents only, so the text is judged both as written and joined.
  if (!text.includes('\\\n')) return analysis;
  const joined = analyzeText(text.replaceAll('\\\n', ''));
  const units = [...analysis.units, ...joined.units];
  return { ...analysis, units, classes: [...new Set(units.flatMap((u) => u.classes))].sort() };
}

function analyzeText(text: string): Analysis {
  const refuse = (why: string): Analysis => ({
    units: [toUnit(newDraft(text, ['unknown'], why))],
    classes: ['unknown'],
    parseError: why,
  });
  if (!shellParserReady()) return refuse('shell parser not loaded: await loadShellParser() first');
  if (text.length > MAX_SHELL_TEXT) return refuse(`command longer than ${MAX_SHELL_TEXT} characters`);
  if (CONTROL.test(text)) return refuse('command contains control characters');
  const budget: Budget = { parsedChars: 0, units: 0, arithmetic: false, inert: false };
  const ctx: Ctx = { depth: 0, scope: { cwd: '' }, stdin: 'caller', budget, classify: classifyArgv, reparse };
  let drafts: Draft[];
  try {
    const parsed = parseAndWalk(text, ctx);
    if (parsed.error !== undefined) return refuse(parsed.error);
    drafts = parsed.drafts;
  } catch (err) {
    return refuse(`shell analysis failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (budget.arithmetic && budget.inert)
    drafts.push(newDraft(text, ['unknown'], 'a quoted $(...) where bash evaluates text as arithmetic may run it'));
  if (drafts.length === 0) drafts.push(newDraft(text, ['read']));
  const units = drafts.map(toUnit);
  const classes = [...new Set(units.flatMap((u) => u.classes))].sort();
  return { units, classes };
}

/**
 * Whether an interactive shell may still be reading `text` as an unfinished command (an open quote, here-document,
 * compound command, trailing `|`, `&&` or backslash), so that it joins the next line to it. Every text that does not
 * parse counts, and so does everything before the parser is loaded: over-approximating only makes Warden judge the
 * next line both alone and joined.
 */
export function shellTextUnfinished(text: string): boolean {
  return analyzeShell(text).parseError !== undefined;
}

/** Parses text (the command or a string parsed again) and walks it. */
function parseAndWalk(text: string, ctx: Ctx): { drafts: Draft[]; error?: string } {
  ctx.budget.parsedChars += text.length;
  if (ctx.budget.parsedChars > MAX_PARSED) return { drafts: [], error: `more than ${MAX_PARSED} characters to parse` };
  if (CONTROL.test(text)) return { drafts: [], error: 'command contains control characters' };
  return withShellTree(text, (root) => {
    const bad = firstError(root);
    if (bad !== null) return { drafts: [], error: bad };
    const out: Draft[] = [];
    walk(root, ctx, out);
    return { drafts: out };
  });
}

/** Parses a string a wrapper runs (`sh -c`, a here-document fed to a shell): its units, or one unknown unit. */
function reparse(text: string, ctx: Ctx): Draft[] {
  if (ctx.depth > MAX_DEPTH) return [newDraft(text, ['unknown'], `nested deeper than ${MAX_DEPTH} levels`)];
  const parsed = parseAndWalk(text, ctx);
  if (parsed.error !== undefined) return [newDraft(text, ['unknown'], parsed.error)];
  return parsed.drafts.length ? parsed.drafts : [newDraft(text, ['read'])];
}

/** The first ERROR or MISSING node, described, or null when the tree is whole. */
function firstError(root: SyntaxNode): string | null {
  if (!root.hasError) return null;
  const stack: SyntaxNode[] = [root];
  while (stack.length) {
    const node = stack.pop()!;
    if (node.isMissing) return `syntax error: missing ${node.type} at offset ${node.startIndex}`;
    if (node.isError) return `syntax error at offset ${node.startIndex}`;
    for (const child of node.children) if (child?.hasError || child?.isMissing) stack.push(child);
  }
  return 'syntax error';
}

function toUnit(draft: Draft): AnalysedUnit {
  const classes = [...draft.classes].sort();
  const unit: AnalysedUnit = {
    text: draft.text,
    classes: classes.length ? classes : ['unknown'],
    attributes: { programs: [...new Set(draft.programs)], paths: [...new Set(draft.paths)] },
  };
  if (draft.opaque) unit.flags = { opaquePaths: true };
  if (draft.reasons.length) unit.detail = { reasons: [...new Set(draft.reasons)] };
  return unit;
}

/** Limits, for tests and documentation. */
export const SHELL_LIMITS = { MAX_SHELL_TEXT, MAX_PARSED, MAX_DEPTH, MAX_UNITS };
