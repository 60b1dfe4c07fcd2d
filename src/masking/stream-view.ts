/**
 * The text content detectors see in a terminal byte stream: the visible characters, with escape sequences taken
 * out, and for each character the bytes it came from, so a match found in the text can be replaced in the bytes.
 *
 * How escapes are seen (decided here, relied on by stream.ts):
 * - CSI sequences (colours, cursor moves: `ESC [ ... final`), character-set and other short escapes (`ESC ( B`,
 *   `ESC 7`) are zero-width: a card number that `grep --color` highlights (`4111\e[01;31m1111\e[m...`) is one run of
 *   digits to the detectors. Merging text across a cursor move can only mask more, never less.
 * - String sequences (OSC window titles `ESC ]`, DCS `ESC P`, APC, PM, SOS) and their terminator (`ESC \`) become a
 *   separator (a virtual newline): their payload is text a detector sees, but never glued to the screen text
 *   around it. BEL and other C0 controls stay in the text as they are (they separate too).
 * - Bytes that are not valid UTF-8 are one U+FFFD each (a separator), so the output stays byte-exact.
 * - A sequence or UTF-8 character cut at the end is "incomplete": not part of the view until more bytes arrive.
 * Full-screen programs can draw a value's characters in any order with cursor moves; the view follows the byte
 * order, not the screen (a known limit). Pure: no I/O, no state.
 */

/** Longest escape sequence parsed; a longer one is cut there (a hostile endless sequence cannot hold output). */
export const MAX_ESCAPE = 64;

/** Visible text over raw bytes. */
export interface StreamView {
  text: string;
  /** For each UTF-16 unit of `text`, the offset of its first byte (both units of a surrogate pair share it). */
  starts: Int32Array;
  /** For each unit, the offset after its last byte. */
  ends: Int32Array;
  /** Bytes covered by the view; raw[complete..] is an unfinished escape or character. */
  complete: number;
}

const ESC = 0x1b;
const SEPARATOR = 0x0a;

/** Builds the view of `raw`; with `final`, an unfinished sequence at the end is taken as it is (zero-width). */
export function buildView(raw: Uint8Array, final: boolean): StreamView {
  const n = raw.length;
  const codes = new Uint16Array(n + 1);
  const starts = new Int32Array(n + 1);
  const ends = new Int32Array(n + 1);
  let units = 0;
  let i = 0;
  const push = (code: number, start: number, end: number) => {
    codes[units] = code;
    starts[units] = start;
    ends[units] = end;
    units++;
  };
  while (i < n) {
    const b = raw[i];
    if (b < 0x80 && b !== ESC) {
      push(b, i, i + 1);
      i++;
      continue;
    }
    if (b === ESC) {
      const esc = escapeAt(raw, i);
      if (esc === null) {
        if (!final) break;
        i = n;
        continue;
      }
      if (esc.separator) push(SEPARATOR, i, i + esc.length);
      i += esc.length;
      continue;
    }
    const ch = utf8At(raw, i);
    if (ch === null) {
      if (!final) break;
      push(0xfffd, i, i + 1);
      i++;
      continue;
    }
    if (ch.code > 0xffff) {
      const c = ch.code - 0x10000;
      push(0xd800 + (c >> 10), i, i + ch.length);
      push(0xdc00 + (c & 0x3ff), i, i + ch.length);
    } else push(ch.code, i, i + ch.length);
    i += ch.length;
  }
  return { text: decodeUnits(codes, units), starts: starts.subarray(0, units), ends: ends.subarray(0, units), complete: i };
}

function decodeUnits(codes: Uint16Array, units: number): string {
  let text = '';
  for (let at = 0; at < units; at += 8192) {
    text += String.fromCharCode.apply(null, Array.from(codes.subarray(at, Math.min(units, at + 8192))));
  }
  return text;
}

/** The escape sequence at raw[i] (an ESC): its length and whether it separates text; null when cut short. */
function escapeAt(raw: Uint8Array, i: number): { length: number; separator: boolean } | null {
  const n = raw.length;
  if (i + 1 >= n) return null;
  const second = raw[i + 1];
  if (second === 0x5b) {
    let j = i + 2;
    while (j < n && j - i < MAX_ESCAPE && raw[j] >= 0x20 && raw[j] <= 0x3f) j++;
    if (j - i >= MAX_ESCAPE) return { length: j - i, separator: false };
    if (j >= n) return null;
    // A final byte ends it; anything else ends it before that byte (which is read as text).
    return { length: raw[j] >= 0x40 && raw[j] <= 0x7e ? j - i + 1 : j - i, separator: false };
  }
  // OSC, DCS, SOS, PM, APC open a string; ST (ESC \) closes one.
  if (second === 0x5d || second === 0x50 || second === 0x58 || second === 0x5e || second === 0x5f || second === 0x5c) {
    return { length: 2, separator: true };
  }
  if (second >= 0x20 && second <= 0x2f) {
    let j = i + 1;
    while (j < n && j - i < MAX_ESCAPE && raw[j] >= 0x20 && raw[j] <= 0x2f) j++;
    if (j - i >= MAX_ESCAPE) return { length: j - i, separator: false };
    if (j >= n) return null;
    return { length: raw[j] >= 0x30 && raw[j] <= 0x7e ? j - i + 1 : j - i, separator: false };
  }
  if (second === ESC || second < 0x20) return { length: 1, separator: false };
  return { length: 2, separator: false };
}

/** The UTF-8 character at raw[i] (a byte >= 0x80): code point and length; invalid: U+FFFD over one byte; null: cut short. */
function utf8At(raw: Uint8Array, i: number): { code: number; length: number } | null {
  const b = raw[i];
  let want: number;
  let code: number;
  let min: number;
  if (b >= 0xc2 && b <= 0xdf) [want, code, min] = [2, b & 0x1f, 0x80];
  else if (b >= 0xe0 && b <= 0xef) [want, code, min] = [3, b & 0x0f, 0x800];
  else if (b >= 0xf0 && b <= 0xf4) [want, code, min] = [4, b & 0x07, 0x10000];
  else return { code: 0xfffd, length: 1 };
  for (let k = 1; k < want; k++) {
    if (i + k >= raw.length) return null;
    const c = raw[i + k];
    if ((c & 0xc0) !== 0x80) return { code: 0xfffd, length: 1 };
    code = (code << 6) | (c & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return { code: 0xfffd, length: 1 };
  return { code, length: want };
}
