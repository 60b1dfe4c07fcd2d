/**
 * The e-mail detector on ASCII bytes: the same matches as detectors-pii.ts' findEmails gives for the same text
 * when it is ASCII, found without decoding the value (the DataRow path's most common content match: a column with
 * an address in it). Each rule below restates one part of findEmails and its domain RegExp for ASCII, where
 * \p{L} is [A-Za-z] and \p{N} is [0-9]; a test compares both on random texts. Pure: no I/O, no allocation.
 */

const LOCAL = new Uint8Array(256);
const LABEL = new Uint8Array(256);
const LETTER = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9._%+-]/.test(ch)) LOCAL[c] = 1;
  if (/[A-Za-z0-9-]/.test(ch)) LABEL[c] = 1;
  if (/[A-Za-z]/.test(ch)) LETTER[c] = 1;
}
const AT = 0x40;
const DOT = 0x2e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

/**
 * Writes the e-mail addresses in the ASCII bytes[from, to) into `hits` from index `n` on, as flat triples (start,
 * end, source), in ascending order and without overlaps, exactly as findEmails finds them in the same text.
 * Returns the index after the last triple written.
 */
export function emailHitsAscii(bytes: Uint8Array, from: number, to: number, source: number, hits: number[], n: number): number {
  for (let at = from; at < to; at++) {
    if (bytes[at] !== AT) continue;
    const start = localStart(bytes, from, at);
    if (start < 0) continue;
    const end = domainEnd(bytes, at + 1, to);
    if (end < 0) continue;
    hits[n++] = start;
    hits[n++] = end;
    hits[n++] = source;
    at = end - 1;
  }
  return n;
}

/** Where the local part before the `@` at `at` starts, or -1 (none, or longer than 64 characters). */
function localStart(bytes: Uint8Array, from: number, at: number): number {
  let start = at;
  while (start > from && LOCAL[bytes[start - 1]] === 1) start--;
  // After an escaped newline in JSON text (`\nbob@...`) the `n` belongs to the escape, not to the address.
  if (start > from && bytes[start - 1] === BACKSLASH && isEscapeLetter(bytes[start]) && !escaped(bytes, from, start - 1)) start++;
  return start === at || at - start > 64 ? -1 : start;
}

function isEscapeLetter(c: number): boolean {
  return c === 0x6e || c === 0x72 || c === 0x74 || c === 0x62 || c === 0x66; // n r t b f
}

/** Whether bytes[index] is escaped: an odd number of backslashes right before it (within the value). */
function escaped(bytes: Uint8Array, from: number, index: number): boolean {
  let n = 0;
  for (let i = index - 1; i >= from && bytes[i] === BACKSLASH; i--) n++;
  return n % 2 === 1;
}

/**
 * The end of the domain starting at `p`, or -1: one or more labels (letters, digits, inner hyphens, at most 63
 * characters) each followed by a dot, then a top-level label of 2 to 63 letters that no letter, digit or hyphen
 * follows. Like the RegExp, the most labels that still leave a valid top-level label after them win.
 */
function domainEnd(bytes: Uint8Array, p: number, to: number): number {
  // Labels cannot hold a dot, so where each one ends is fixed: collect the starts of the parts after each dot.
  let labels = 0;
  let q = p;
  let lastStart = -1;
  for (;;) {
    let r = q;
    while (r < to && LABEL[bytes[r]] === 1) r++;
    if (r >= to || bytes[r] !== DOT || !validLabel(bytes, q, r)) break;
    labels++;
    q = r + 1;
    lastStart = q;
  }
  if (labels === 0) return -1;
  // Try the top-level label after the last dot first, then after each earlier one.
  for (let t = lastStart; t > p; t = previousDot(bytes, p, t - 1) + 1) {
    const end = tldEnd(bytes, t, to);
    if (end >= 0) return end;
  }
  return -1;
}

/** Index of the dot before position `dot` (exclusive start bound p - 1 when none). */
function previousDot(bytes: Uint8Array, p: number, dot: number): number {
  let i = dot - 1;
  while (i >= p && bytes[i] !== DOT) i--;
  return i < p ? p - 1 : i;
}

function validLabel(bytes: Uint8Array, from: number, to: number): boolean {
  const n = to - from;
  return n >= 1 && n <= 63 && bytes[from] !== DASH && bytes[to - 1] !== DASH;
}

/** The end of a top-level label at t: a maximal run of 2 to 63 letters followed by no letter, digit or hyphen. */
function tldEnd(bytes: Uint8Array, t: number, to: number): number {
  let r = t;
  while (r < to && LETTER[bytes[r]] === 1) r++;
  const n = r - t;
  if (n < 2 || n > 63) return -1;
  return r < to && LABEL[bytes[r]] === 1 ? -1 : r;
}
