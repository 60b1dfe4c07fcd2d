/**
 * Static values of shell words: what bash would pass to a program after quote removal, when that is known without
 * running anything. Owns quote removal (backslashes, '...', "...", $'...' with its escapes) and the marks the
 * analyser needs: a word that used quoting (an obfuscated program name), a word that is a pattern (glob, brace
 * or extended glob: its value is only known when it runs), and a word whose value depends on an expansion or a
 * substitution (value null). Pure; never runs or expands anything.
 */
import type { SyntaxNode } from './parse.js';

/** One word of a command line. */
export interface Word {
  /** The word as written. */
  raw: string;
  /** After quote removal; null when it depends on an expansion or substitution (then nothing is known). */
  value: string | null;
  /** Quotes, backslashes or $'...' were used in it. */
  quoted: boolean;
  /** Unquoted *, ?, [...], extended glob or brace expansion: `value` is a pattern, not the word bash passes. */
  glob: boolean;
  /** Brace expansion ({a,b}, {1..3}): one word may become several, including `..` segments. */
  brace: boolean;
  /** Where the word starts in the text (for argument order). */
  start: number;
}

/** A word made up by the analyser (a find start path put in place of `{}`, an operand xargs will add). */
export function syntheticWord(value: string | null, raw = value ?? '$INPUT'): Word {
  return { raw, value, quoted: false, glob: false, brace: false, start: 0 };
}

/** The static value of a word node (word, string, raw_string, ansi_c_string, concatenation, ...). */
export function evalWord(node: SyntaxNode): Word {
  const word: Word = { raw: node.text, value: '', quoted: false, glob: false, brace: false, start: node.startIndex };
  append(word, node);
  return word;
}

function append(word: Word, node: SyntaxNode): void {
  if (word.value === null) return;
  switch (node.type) {
    case 'command_name':
    case 'translated_string':
      for (const child of node.namedChildren) if (child) append(word, child);
      if (node.type === 'translated_string') word.quoted = true;
      return;
    case 'word':
      return unquotedText(word, node.text);
    case 'number':
      if (node.namedChildCount > 0) word.value = null;
      else word.value += node.text;
      return;
    case 'raw_string':
      word.quoted = true;
      word.value += node.text.slice(1, -1);
      return;
    case 'ansi_c_string':
      word.quoted = true;
      word.value += decodeAnsiC(node.text.slice(2, -1));
      return;
    case 'string':
      word.quoted = true;
      return doubleQuoted(word, node);
    case 'concatenation':
      return pieces(word, node, (w, text) => unquotedText(w, text));
    case 'extglob_pattern':
    case 'brace_expression':
      word.glob = true;
      word.brace ||= node.type === 'brace_expression';
      word.value += node.text;
      return;
    default:
      // Expansions, substitutions, arrays, arithmetic: known only when the command runs.
      word.value = null;
  }
}

/** Children of a concatenation or string in order; text between children (not a node of its own) is literal. */
function pieces(word: Word, node: SyntaxNode, gap: (w: Word, text: string) => void): void {
  let at = node.startIndex;
  const source = node.text;
  for (const child of node.children) {
    if (!child) continue;
    if (child.startIndex > at) gap(word, source.slice(at - node.startIndex, child.startIndex - node.startIndex));
    if (child.isNamed) append(word, child);
    else gap(word, child.text);
    at = child.endIndex;
  }
  if (node.endIndex > at) gap(word, source.slice(at - node.startIndex));
}

function doubleQuoted(word: Word, node: SyntaxNode): void {
  // The opening and closing quote are unnamed children; everything else inside is content.
  let at = node.startIndex + 1;
  const end = node.endIndex - 1;
  const source = node.text;
  const text = (from: number, to: number): string => source.slice(from - node.startIndex, to - node.startIndex);
  for (const child of node.children) {
    if (!child || child.startIndex < at || child.endIndex > end) continue;
    if (child.startIndex > at) word.value += unescapeDouble(text(at, child.startIndex));
    if (child.type === 'string_content' || !child.isNamed) word.value += unescapeDouble(child.text);
    else append(word, child);
    if (word.value === null) return;
    at = child.endIndex;
  }
  if (end > at) word.value += unescapeDouble(text(at, end));
}

/** Inside "...", a backslash quotes only $ ` " \ and a newline (which it removes). */
function unescapeDouble(text: string): string {
  return text.replace(/\\([$`"\\\n])/g, (_, c: string) => (c === '\n' ? '' : c));
}

/** Unquoted text: backslash quotes the next character; notes glob and brace characters that are not quoted. */
function unquotedText(word: Word, text: string): void {
  if (word.value === null) return;
  let out = '';
  let braceOpen = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      word.quoted = true;
      if (i + 1 < text.length && text[i + 1] !== '\n') out += text[i + 1];
      i++;
      continue;
    }
    // A backquote inside a word is a nested substitution tree-sitter did not see (`echo \`id\``): unknown.
    if (c === '`') {
      word.value = null;
      return;
    }
    if (c === '*' || c === '?' || c === '[') word.glob = true;
    if (c === '{') braceOpen = true;
    if (braceOpen && (c === ',' || (c === '.' && text[i + 1] === '.'))) word.glob = word.brace = true;
    out += c;
  }
  word.value += out;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
  '\\': '\\', "'": "'", '"': '"', '?': '?',
};

/** The escapes of bash's $'...' quoting: \n, \xHH, \nnn (octal), \uHHHH, \UHHHHHHHH, \cX. */
export function decodeAnsiC(body: string): string {
  return body.replace(
    /\\(?:([abeEfnrtv\\'"?])|([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{1,4})|U([0-9a-fA-F]{1,8})|c(.))/gs,
    (all, simple?: string, oct?: string, hex?: string, u4?: string, u8?: string, ctl?: string) => {
      if (simple !== undefined) return SIMPLE_ESCAPES[simple];
      if (oct !== undefined) return String.fromCharCode(parseInt(oct, 8) & 0xff);
      if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
      if (ctl !== undefined) return String.fromCharCode(ctl.charCodeAt(0) & 0x1f);
      const code = parseInt((u4 ?? u8)!, 16);
      return code <= 0x10ffff ? String.fromCodePoint(code) : all;
    },
  );
}
