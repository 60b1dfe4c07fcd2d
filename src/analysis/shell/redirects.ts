/**
 * Redirections of one command: what they write (through the path rules), read (listed paths) and feed the command's
 * input (a here-document's or here-string's text when it is literal, so a shell fed one is parsed again). Also walks
 * what tree-sitter-bash files under a here-document (`cat <<EOF | sh`). Pure.
 */
import { applyWrite, readPath } from './classify.js';
import type { Ctx, Draft, Stdin } from './context.js';
import type { SyntaxNode } from './parse.js';
import { evalWord } from './words.js';

/** The walker's entry points, passed in (walk.ts calls this module; this module walks statements through them). */
export interface Walker {
  walk(node: SyntaxNode, ctx: Ctx, out: Draft[]): void;
  nested(node: SyntaxNode, ctx: Ctx, out: Draft[], draft: Draft | null): void;
  /** Node types that hold no statement (words, expressions). */
  expressions: ReadonlySet<string>;
}

const WRITE_OPS = new Set(['>', '>>', '&>', '&>>', '>|', '<>', '>&', '&>|']);

/** What feeds the command's input: the last input redirection (a here-document's text when it is literal). */
export function stdinOf(redirects: SyntaxNode[], ctx: Ctx): Stdin {
  let stdin: Stdin = ctx.stdin;
  for (const r of redirects) {
    const op = r.children.find((c) => c && !c.isNamed)?.text ?? '';
    if (r.type === 'herestring_redirect') {
      const value = r.namedChildren.find((c) => c && c.type !== 'file_descriptor');
      const word = value ? evalWord(value) : null;
      stdin = { text: word?.value == null ? null : word.value + '\n' };
    } else if (r.type === 'heredoc_redirect') stdin = { text: heredocText(r) };
    else if (r.type === 'file_redirect' && (op === '<' || op === '<>')) stdin = 'file';
  }
  return stdin;
}

/** A here-document's text as the reading program sees it, or null when expansions make it unknown. */
function heredocText(node: SyntaxNode): string | null {
  const start = node.namedChildren.find((c) => c?.type === 'heredoc_start')?.text ?? '';
  const body = node.namedChildren.find((c) => c?.type === 'heredoc_body');
  if (!body) return '';
  if (/['"\\]/.test(start)) return body.text;
  if (body.namedChildren.some((c) => c?.type !== 'heredoc_content')) return null;
  return body.text.replace(/\\([$`\\])/g, '$1').replace(/\\\n/g, '');
}

/** Applies redirections to a unit: writes through the path rules, reads listed; statements after a here-doc walked. */
export function applyRedirects(draft: Draft, redirects: SyntaxNode[], ctx: Ctx, out: Draft[], walker: Walker): void {
  for (const r of redirects) {
    walker.nested(r, ctx, out, draft);
    if (r.type === 'heredoc_redirect') {
      // `cat <<EOF | sh` and `cat <<EOF && rm x`: tree-sitter files what follows the start under the redirect.
      for (const child of r.namedChildren) {
        if (!child || walker.expressions.has(child.type) || child.type.endsWith('_redirect')) continue;
        walker.walk(child, { ...ctx, depth: ctx.depth + 1, stdin: 'pipe', scope: { cwd: ctx.scope.cwd } }, out);
      }
      applyRedirects(draft, r.childrenForFieldName('redirect').filter((c) => c !== null), ctx, out, walker);
      continue;
    }
    if (r.type !== 'file_redirect') continue;
    const op = r.children.find((c) => c && !c.isNamed)?.text ?? '';
    const target = r.childrenForFieldName('destination')[0];
    if (!target) continue;
    const word = evalWord(target);
    if ((op === '>&' || op === '<&' || op === '>&-' || op === '<&-') && (target.type === 'number' || word.value === '-'))
      continue;
    if (WRITE_OPS.has(op)) applyWrite(draft, word, ctx, 'write');
    else readPath(draft, word, ctx);
  }
}
