/**
 * Walks a tree-sitter-bash syntax tree and turns every simple command into draft units: lists, pipelines, `&`,
 * subshells, brace groups, function bodies, if/for/while/case, redirections, here-documents and here-strings,
 * command and process substitutions (each a unit of its own), variable assignments and declarations. Tracks the
 * working directory along a list (`cd /etc && > passwd` writes /etc/passwd), and what feeds each command's input
 * (a pipe into `sh` is unknown; a here-document into `sh` is parsed again). A node type it does not know is
 * unknown (fail closed). Pure; the tree is read, never kept.
 */
import { classifyArgv } from './classify.js';
import { MAX_DEPTH, newDraft, type Ctx, type Draft } from './context.js';
import { resolvePath, type Cwd } from './paths.js';
import type { SyntaxNode } from './parse.js';
import { applyRedirects as apply, stdinOf, type Walker } from './redirects.js';
import { dangerousVariable } from './variables.js';
import { evalWord, type Word } from './words.js';

/** Node types that hold no command of their own: walked only for the substitutions inside them. */
const EXPRESSIONS = new Set([
  'binary_expression', 'unary_expression', 'ternary_expression', 'postfix_expression', 'parenthesized_expression',
  'concatenation', 'string', 'raw_string', 'word', 'number', 'expansion', 'simple_expansion', 'ansi_c_string',
  'translated_string', 'arithmetic_expansion', 'brace_expression', 'array', 'subscript', 'variable_name',
  'special_variable_name', 'string_content', 'extglob_pattern', 'regex', 'test_operator', 'heredoc_body',
  'heredoc_content', 'heredoc_start', 'heredoc_end', 'file_descriptor', 'command_name',
]);

const SEQUENTIAL = new Set(['program', 'list']);
const COMPOUND = new Set(['compound_statement', 'do_group', 'else_clause', 'elif_clause', 'case_item', 'if_statement',
  'case_statement', 'negated_command']);
const LOOPS = new Set(['while_statement', 'for_statement', 'c_style_for_statement']);

/** Walks one statement node, appending its units to `out`. */
export function walk(node: SyntaxNode, ctx: Ctx, out: Draft[]): void {
  if (ctx.depth > MAX_DEPTH) {
    out.push(newDraft(node.text, ['unknown'], `nested deeper than ${MAX_DEPTH} levels`));
    return;
  }
  const deeper = (over: Partial<Ctx> = {}): Ctx => ({ ...ctx, depth: ctx.depth + 1, ...over });
  const type = node.type;
  if (SEQUENTIAL.has(type)) return children(node, ctx, out);
  if (COMPOUND.has(type)) {
    if (type === 'compound_statement' && node.child(0)?.type === '((') ctx.budget.arithmetic = true;
    return children(node, deeper(), out);
  }
  if (LOOPS.has(type)) {
    if (type === 'c_style_for_statement') ctx.budget.arithmetic = true;
    // A body that changes directory runs again from wherever the last pass left it.
    const moves = /\b(cd|pushd|popd)\b/.test(node.text);
    return children(node, deeper(moves ? { scope: { cwd: null } } : {}), out);
  }
  switch (type) {
    case 'subshell':
      return children(node, deeper({ scope: { cwd: ctx.scope.cwd } }), out);
    case 'pipeline': {
      const stages = node.namedChildren.filter((c): c is SyntaxNode => c !== null && c.type !== 'comment');
      stages.forEach((stage, i) =>
        walk(stage, deeper({ scope: { cwd: ctx.scope.cwd }, stdin: i === 0 ? ctx.stdin : 'pipe' }), out));
      return;
    }
    case 'redirected_statement':
      return redirected(node, ctx, out);
    case 'command':
      return command(node, [], node.text, ctx, out);
    case 'variable_assignment':
    case 'variable_assignments':
    case 'declaration_command':
      return declaration(node, ctx, out);
    case 'unset_command':
    case 'test_command': {
      if (type === 'test_command' && /\s-(eq|ne|lt|le|gt|ge)\s/.test(node.text)) ctx.budget.arithmetic = true;
      const draft = newDraft(node.text, ['read']);
      nested(node, ctx, out, draft);
      out.push(draft);
      return;
    }
    case 'function_definition': {
      const start = out.length;
      const body = node.childForFieldName('body');
      if (body) walk(body, deeper({ scope: { cwd: null }, stdin: 'caller' }), out);
      const redirects = node.childrenForFieldName('redirect').filter((r): r is SyntaxNode => r !== null);
      for (const draft of out.slice(start)) applyRedirects(draft, redirects, ctx, out);
      return;
    }
    case 'comment':
      return;
    case 'command_substitution':
    case 'process_substitution':
      return substitution(node, ctx, out);
    case 'file_redirect':
    case 'heredoc_redirect':
    case 'herestring_redirect': {
      const draft = newDraft(node.text);
      applyRedirects(draft, [node], ctx, out);
      if (draft.classes.size === 0) draft.classes.add('read');
      out.push(draft);
      return;
    }
  }
  if (EXPRESSIONS.has(type)) return nested(node, ctx, out, null);
  out.push(newDraft(node.text, ['unknown'], `shell syntax ${type} is not analysed`));
}

function children(node: SyntaxNode, ctx: Ctx, out: Draft[]): void {
  for (const child of node.namedChildren) if (child) walk(child, ctx, out);
}

/** Command and process substitutions: units of their own. Backquotes are unescaped and parsed again, as bash does. */
function substitution(node: SyntaxNode, ctx: Ctx, out: Draft[]): void {
  const inner: Ctx = {
    ...ctx,
    depth: ctx.depth + 1,
    scope: { cwd: ctx.scope.cwd },
    stdin: node.type === 'process_substitution' ? 'pipe' : ctx.stdin,
  };
  if (node.type === 'command_substitution' && node.text.startsWith('`')) {
    const text = node.text.slice(1, -1).replace(/\\([$`\\])/g, '$1');
    out.push(...inner.reparse(text, inner));
    return;
  }
  for (const child of node.namedChildren) if (child) walk(child, inner, out);
}

/**
 * Looks inside words, expressions and redirections for what runs or changes meaning: substitutions (walked as
 * units), prompt expansion `${x@P}` (runs substitutions in the variable's text: unknown), arithmetic contexts.
 */
function nested(node: SyntaxNode, ctx: Ctx, out: Draft[], draft: Draft | null): void {
  switch (node.type) {
    case 'command_substitution':
    case 'process_substitution':
      return substitution(node, ctx, out);
    case 'expansion':
      if (/@P\s*\}$/.test(node.text) && draft) {
        draft.classes.add('unknown');
        draft.reasons.push('prompt expansion ${...@P} runs commands held in a variable');
      }
      break;
    case 'arithmetic_expansion':
    case 'subscript':
      ctx.budget.arithmetic = true;
      break;
  }
  for (const child of node.children) if (child && child.childCount > 0) nested(child, ctx, out, draft);
}

/** `body > file`, `body <<EOF`, ...: the redirections apply to every unit the body runs. */
function redirected(node: SyntaxNode, ctx: Ctx, out: Draft[]): void {
  const body = node.childForFieldName('body');
  const redirects = node.namedChildren.filter(
    (c): c is SyntaxNode => c !== null && c.type.endsWith('_redirect'),
  );
  if (body?.type === 'command') return command(body, redirects, node.text, ctx, out);
  // tree-sitter-bash files `a && b > f` and `a | b > f` as a list or pipeline with a redirection; in bash the
  // redirection belongs to the last command only.
  if (body && (body.type === 'list' || body.type === 'pipeline')) {
    const parts = body.namedChildren.filter((c): c is SyntaxNode => c !== null && c.type !== 'comment');
    const piped = body.type === 'pipeline';
    parts.forEach((part, i) => {
      const stage = piped ? { ...ctx, depth: ctx.depth + 1, scope: { cwd: ctx.scope.cwd }, stdin: i === 0 ? ctx.stdin : 'pipe' as const } : ctx;
      if (i < parts.length - 1) return walk(part, stage, out);
      if (part.type === 'command') return command(part, redirects, `${part.text} ${redirects.map((r) => r.text).join(' ')}`, stage, out);
      redirectedBody(part, redirects, node.text, stage, out);
    });
    return;
  }
  redirectedBody(body, redirects, node.text, ctx, out);
}

/** A compound body with redirections: they apply to every unit it runs. */
function redirectedBody(body: SyntaxNode | null, redirects: SyntaxNode[], text: string, ctx: Ctx, out: Draft[]): void {
  const start = out.length;
  if (body) walk(body, { ...ctx, stdin: stdinOf(redirects, ctx) }, out);
  const produced = out.splice(start);
  if (produced.length === 0) produced.push(newDraft(text));
  for (const draft of produced) {
    applyRedirects(draft, redirects, ctx, out);
    if (draft.classes.size === 0) draft.classes.add('read');
  }
  out.push(...produced);
}

/**
 * A simple command: its words in order (tree-sitter files words after `>&2` under the redirection; they are
 * arguments), prefix assignments, substitutions, then the classification and the redirections.
 */
function command(node: SyntaxNode, outer: SyntaxNode[], text: string, ctx: Ctx, out: Draft[]): void {
  const words: SyntaxNode[] = [];
  const redirects: SyntaxNode[] = [...outer];
  const pre = newDraft(text);
  for (let i = 0; i < node.childCount; i++) {
    const child = node.child(i);
    if (!child) continue;
    const field = node.fieldNameForChild(i);
    if (child.type === 'variable_assignment') assignment(child, pre, ctx, out);
    else if (field === 'name' || field === 'argument') words.push(child);
    else if (child.type.endsWith('_redirect')) redirects.push(child);
    else if (child.isNamed && child.type !== 'comment') walk(child, ctx, out);
  }
  for (const r of redirects) {
    if (r.type === 'file_redirect') words.push(...r.childrenForFieldName('destination').slice(1).filter((d) => d !== null));
    if (r.type === 'heredoc_redirect') words.push(...r.childrenForFieldName('argument').filter((d) => d !== null));
  }
  words.sort((a, b) => a.startIndex - b.startIndex);
  for (const w of words) nested(w, ctx, out, pre);
  const argv = words.map((w) => noteWord(evalWord(w), w, pre, ctx));
  if (argv[0]?.value === 'let') ctx.budget.arithmetic = true;
  const drafts = classifyArgv(argv, { ...ctx, stdin: stdinOf(redirects, ctx) }, text);
  for (const draft of drafts) {
    for (const cls of pre.classes) draft.classes.add(cls);
    draft.reasons.push(...pre.reasons);
    applyRedirects(draft, redirects, ctx, out);
  }
  out.push(...drafts);
  const name = argv[0];
  if (name && !name.quoted && (name.value === 'cd' || name.value === 'pushd' || name.value === 'popd'))
    ctx.scope.cwd = changeDirectory(name.value, argv.slice(1), ctx.scope.cwd);
}

/** Marks on a word: history expansion (`!!`, `!-1`, `!rm` rerun earlier commands in an interactive shell). */
function noteWord(word: Word, node: SyntaxNode, draft: Draft, ctx: Ctx): Word {
  // Bash does not expand `!` before a blank, `=`, `(`, the end, or a closing double quote.
  if (node.type !== 'raw_string' && node.type !== 'ansi_c_string' && /!(?![\s=("]|$)/.test(node.text)) {
    draft.classes.add('unknown');
    draft.reasons.push('history expansion (!) reruns earlier commands');
  }
  if (word.quoted && word.value !== null && /\$\(|`/.test(word.value)) ctx.budget.inert = true;
  return word;
}

/** The working directory after `cd ARG`: known when ARG is literal, else unknown. */
function changeDirectory(name: string, args: Word[], cwd: Cwd): Cwd {
  const operands = args.filter((w) => w.value === null || !w.value.startsWith('-') || w.value === '-');
  if (name === 'popd' || operands.length > 1) return null;
  const target = operands[0];
  if (target === undefined) return '~';
  if (target.value === null || target.value === '-' || target.glob || target.brace) return null;
  return resolvePath(target.value, cwd);
}

/** A variable assignment (`X=1`, prefix `X=1 cmd`): unknown when it sets a variable that changes what runs. */
function assignment(node: SyntaxNode, draft: Draft, ctx: Ctx, out: Draft[]): void {
  const name = node.childForFieldName('name')?.text ?? '';
  if (dangerousVariable(name.replace(/\[.*$/, ''))) {
    draft.classes.add('unknown');
    draft.reasons.push(`sets ${name}, which changes what later commands run`);
  }
  nested(node, ctx, out, draft);
  const value = node.childForFieldName('value');
  if (value) noteWord(evalWord(value), value, draft, ctx);
}

/** Standalone assignments and `export`/`declare`/`local`/`readonly`/`typeset`: read, unless dangerous. */
function declaration(node: SyntaxNode, ctx: Ctx, out: Draft[]): void {
  const draft = newDraft(node.text);
  if (node.type === 'variable_assignment') assignment(node, draft, ctx, out);
  else {
    for (const child of node.namedChildren) {
      if (child?.type === 'variable_assignment') assignment(child, draft, ctx, out);
      else if (child) nested(child, ctx, out, draft);
    }
    if (/^\s*(declare|typeset|local)\s+-\w*i/.test(node.text)) ctx.budget.arithmetic = true;
    // A nameref (`declare -n r=PATH`) makes later assignments to r set whatever variable it names.
    if (/^\s*(declare|typeset|local)\s+(-\w+\s+)*-\w*n/.test(node.text)) {
      draft.classes.add('unknown');
      draft.reasons.push('a name reference makes later assignments set another variable');
    }
  }
  draft.classes.add('read');
  out.push(draft);
}

const WALKER: Walker = { walk, nested, expressions: EXPRESSIONS };

/** Applies redirections to a unit (redirects.ts), walking what they hold with this module's walker. */
function applyRedirects(draft: Draft, redirects: SyntaxNode[], ctx: Ctx, out: Draft[]): void {
  apply(draft, redirects, ctx, out, WALKER);
}
