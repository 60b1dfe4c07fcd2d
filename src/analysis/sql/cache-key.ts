/**
 * The cache key of a statement text: the text with its numeric literals replaced by `?`. Parsing costs tens of
 * microseconds, and clients such as pgbench send the same statement with a different number each time; keyed by
 * exact text the cache would miss on every one. Only numbers are replaced: string literals, quoted identifiers,
 * dollar-quoted bodies, comments and parameter references (`$1`) are kept exactly, because classification can
 * depend on them (`set_config('role', ...)`, a DO body, `$1 = $1`). The analysis is written so that no class
 * depends on a numeric value (a comparison of constants counts as always true whatever the numbers), which is what
 * makes sharing one analysis between texts that differ only in numbers safe. Pure.
 *
 * This scanner only groups texts that may share an analysis; it is not trusted to be right. A template is made
 * only when the spans it replaced are exactly the numeric constants the parser's own lexer found (reuse.ts), so a
 * mis-scan here costs a cache miss, never a wrong analysis.
 */

const isDigit = (c: number) => c >= 48 && c <= 57;
const isIdentChar = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c > 127;

/** The text with numeric literals replaced by `?`; everything else byte for byte. */
export function cacheKey(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 39 /* ' */ || c === 34 /* " */) i = skipQuoted(text, i, c);
    else if (c === 45 /* - */ && text.charCodeAt(i + 1) === 45) i = skipLineComment(text, i);
    else if (c === 47 /* / */ && text.charCodeAt(i + 1) === 42) i = skipBlockComment(text, i);
    else if (c === 36 /* $ */) i = skipDollar(text, i);
    else if (isIdentChar(c) && !isDigit(c)) {
      while (i < n && isIdentChar(text.charCodeAt(i))) i++;
    } else if (isDigit(c) || (c === 46 /* . */ && isDigit(text.charCodeAt(i + 1)))) {
      const end = numberEnd(text, i);
      out += text.slice(copied, i) + '?';
      copied = end;
      i = end;
    } else i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** End of a numeric literal: digits, `_` separators, one `.`, an exponent, or a 0x/0o/0b prefix. */
function numberEnd(text: string, i: number): number {
  let j = i;
  const n = text.length;
  if (text[j] === '0' && /[xXoObB]/.test(text[j + 1] ?? '')) j += 2;
  while (j < n && (isIdentChar(text.charCodeAt(j)) || text[j] === '.')) {
    // An exponent sign belongs to the number: 1e-5.
    if ((text[j] === 'e' || text[j] === 'E') && (text[j + 1] === '-' || text[j + 1] === '+')) j++;
    j++;
  }
  return j;
}

/** Skips '...' or "..." (a doubled quote is an escaped quote; E'' strings' backslash escapes are honoured). */
function skipQuoted(text: string, i: number, quote: number): number {
  // E'...' only when the E is a token of its own: in WHERE'\' the E ends a keyword and the string is a plain one.
  const escapes = quote === 39 && i > 0 && (text[i - 1] === 'E' || text[i - 1] === 'e') && !(i > 1 && isIdentChar(text.charCodeAt(i - 2)));
  let j = i + 1;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (escapes && c === 92 /* \ */) j += 2;
    else if (c === quote) {
      if (text.charCodeAt(j + 1) === quote) j += 2;
      else return j + 1;
    } else j++;
  }
  return j;
}

function skipLineComment(text: string, i: number): number {
  const end = text.indexOf('\n', i);
  return end < 0 ? text.length : end + 1;
}

/** Block comments nest in PostgreSQL. */
function skipBlockComment(text: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < text.length) {
    if (text[j] === '/' && text[j + 1] === '*') { depth++; j += 2; }
    else if (text[j] === '*' && text[j + 1] === '/') { depth--; j += 2; if (depth === 0) return j; }
    else j++;
  }
  return j;
}

/** `$1` parameter references and `$tag$...$tag$` bodies are kept whole. */
function skipDollar(text: string, i: number): number {
  let j = i + 1;
  if (isDigit(text.charCodeAt(j))) {
    while (isDigit(text.charCodeAt(j))) j++;
    return j;
  }
  while (j < text.length && isIdentChar(text.charCodeAt(j)) && text[j] !== '$') j++;
  if (text[j] !== '$') return j;
  const tag = text.slice(i, j + 1);
  const close = text.indexOf(tag, j + 1);
  return close < 0 ? text.length : close + tag.length;
}
