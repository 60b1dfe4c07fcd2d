/**
 * Byte-level helpers of the DataRow path: UTF-8 sizes and writes of short strings without a native call, and the
 * byte form of partial masking's e-mail rule (keep the domain), so a masked e-mail column is rewritten without
 * decoding the value. Each helper must give exactly what the string functions in strategies.ts give. Pure: no I/O.
 */

/** Below this many units a JS loop beats the native call's fixed cost (measured: rows are mostly short values). */
const SMALL = 128;

/** UTF-8 length of a value; a JS count for short strings (no native call), Buffer.byteLength otherwise. */
export function utf8Length(value: string): number {
  if (value.length > SMALL) return Buffer.byteLength(value, 'utf8');
  let n = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

/** Writes a value of `bytes` UTF-8 bytes at dst[at]; ASCII (bytes equal to UTF-16 units) is copied unit by unit. */
export function writeUtf8(dst: Buffer, at: number, value: string, bytes: number): number {
  if (bytes !== value.length || bytes > SMALL) return dst.write(value, at, 'utf8');
  for (let i = 0; i < bytes; i++) dst[at + i] = value.charCodeAt(i);
  return bytes;
}

const ALNUM = new Uint8Array(256);
const LETTER = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z]/.test(ch)) LETTER[c] = 1;
  if (/[A-Za-z0-9]/.test(ch)) ALNUM[c] = 1;
}

/**
 * Where the domain of an e-mail value in bytes[start, end) starts, when partial masking keeps it: after the last
 * `@` (with something before it), an ASCII domain of dot-separated labels (letters, digits, inner hyphens) ending
 * in a label of two or more letters. -1 otherwise, and for a non-ASCII domain, which the string path judges (the
 * same rule with Unicode letters). The byte form of strategies.ts' partial() for a column value.
 */
export function emailDomainStart(bytes: Uint8Array, start: number, end: number): number {
  let at = end - 1;
  while (at >= start && bytes[at] !== 0x40) at--;
  if (at <= start) return -1;
  let labelStart = at + 1;
  let labels = 0;
  for (let i = at + 1; i <= end; i++) {
    const c = i < end ? bytes[i] : 0x2e;
    if (c !== 0x2e) {
      if (c >= 0x80 || (ALNUM[c] === 0 && c !== 0x2d)) return -1;
      continue;
    }
    const last = i === end;
    if (!(last ? tld(bytes, labelStart, i) : label(bytes, labelStart, i))) return -1;
    labels++;
    labelStart = i + 1;
  }
  return labels >= 2 ? at + 1 : -1;
}

/** A non-final label: letters, digits and hyphens, starting and ending with a letter or digit. */
function label(bytes: Uint8Array, from: number, to: number): boolean {
  return to > from && ALNUM[bytes[from]] === 1 && ALNUM[bytes[to - 1]] === 1;
}

/** The final label: two or more letters. */
function tld(bytes: Uint8Array, from: number, to: number): boolean {
  if (to - from < 2) return false;
  for (let i = from; i < to; i++) if (LETTER[bytes[i]] === 0) return false;
  return true;
}
