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

import { isAscii, isUtf8 } from 'node:buffer';

/** Longest escape sequence parsed; a longer one is cut there (a hostile endless sequence cannot hold output). */
export const MAX_ESCAPE = 64;

/**
 * Visible text over raw bytes. The mapping is kept as segments, so ordinary output costs a few native calls: a run
 * of ASCII bytes (one unit per byte), a stretch of valid UTF-8 (decoded at once; a unit's bytes are found by walking
 * the stretch, which only happens for the few units a match or a cut points at), or a single character or separator
 * (all its units map to all its bytes).
 */
export class StreamView {
  /** Bytes covered by the view; raw[complete..] is an unfinished escape or character. */
  complete = 0;
  text = '';
  private readonly segVis: number[] = [];
  private readonly segRaw: number[] = [];
  private readonly segRawEnd: number[] = [];
  /** 1: ASCII run; 0: UTF-8 stretch; -1: one character or separator. */
  private readonly segKind: number[] = [];
  private readonly parts: string[] = [];
  private units = 0;

  constructor(private readonly raw: Buffer) {}

  /** Adds an ASCII run raw[from, to). */
  run(from: number, to: number): void {
    if (to > from) this.add(1, from, to, this.raw.toString('latin1', from, to));
  }

  /** Adds a stretch of valid UTF-8 raw[from, to). */
  utf8(from: number, to: number): void {
    if (to > from) this.add(0, from, to, this.raw.toString('utf8', from, to));
  }

  /** Adds one character (one or two UTF-16 units) made of raw[from, to). */
  char(text: string, from: number, to: number): void {
    this.add(-1, from, to, text);
  }

  private add(kind: number, from: number, to: number, text: string): void {
    this.segVis.push(this.units);
    this.segRaw.push(from);
    this.segRawEnd.push(to);
    this.segKind.push(kind);
    this.parts.push(text);
    this.units += text.length;
  }

  /** Joins the text once everything is added. */
  seal(complete: number): void {
    this.complete = complete;
    this.text = this.parts.join('');
    this.parts.length = 0;
  }

  /** The offset of the first byte of unit `u`. */
  start(u: number): number {
    const k = this.segment(u);
    const kind = this.segKind[k];
    if (kind === 1) return this.segRaw[k] + (u - this.segVis[k]);
    if (kind === -1) return this.segRaw[k];
    let p = this.segRaw[k];
    for (let c = this.segVis[k]; ;) {
      const len = charLength(this.raw[p]);
      const width = len === 4 ? 2 : 1;
      if (c + width > u) return p;
      c += width;
      p += len;
    }
  }

  /** The offset after the last byte of unit `u`. */
  end(u: number): number {
    const k = this.segment(u);
    const kind = this.segKind[k];
    if (kind === 1) return this.segRaw[k] + (u - this.segVis[k]) + 1;
    if (kind === -1) return this.segRawEnd[k];
    const p = this.start(u);
    return p + charLength(this.raw[p]);
  }

  /** The first unit whose bytes start at or after `offset` (text.length when none). */
  unitAt(offset: number): number {
    // The last segment starting at or before offset.
    let lo = -1;
    let hi = this.segRaw.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segRaw[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    if (lo >= 0 && offset < this.segRawEnd[lo] && (offset > this.segRaw[lo] || this.segKind[lo] !== -1)) {
      if (this.segKind[lo] === 1) return this.segVis[lo] + (offset - this.segRaw[lo]);
      if (this.segKind[lo] === 0) {
        let p = this.segRaw[lo];
        let c = this.segVis[lo];
        while (p < offset) {
          const len = charLength(this.raw[p]);
          c += len === 4 ? 2 : 1;
          p += len;
        }
        return c;
      }
    } else if (lo >= 0 && offset === this.segRaw[lo]) return this.segVis[lo];
    const next = lo + 1;
    return next < this.segVis.length ? this.segVis[next] : this.units;
  }

  private segment(u: number): number {
    let lo = 0;
    let hi = this.segVis.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segVis[mid] <= u) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Bytes of the UTF-8 character a (valid) lead byte starts. */
function charLength(lead: number): number {
  return lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

const ESC = 0x1b;

/** Builds the view of `raw`; with `final`, an unfinished sequence at the end is taken as it is (zero-width). */
export function buildView(raw: Buffer, final: boolean): StreamView {
  const view = new StreamView(raw);
  const n = raw.length;
  let i = 0;
  let runStart = 0;
  // Up to here the bytes were found to be neither ASCII nor valid UTF-8: read them one by one, without asking again.
  let slowUntil = 0;
  while (i < n) {
    if (i >= slowUntil && raw[i] !== ESC) {
      // Native scans first: up to the next ESC, a stretch that is all ASCII or valid UTF-8 is taken at once.
      let esc = raw.indexOf(ESC, i);
      if (esc < 0) esc = n;
      const stretch = raw.subarray(i, esc);
      if (isAscii(stretch)) {
        i = esc;
        continue;
      }
      if (isUtf8(stretch)) {
        view.run(runStart, i);
        view.utf8(i, esc);
        i = runStart = esc;
        continue;
      }
      slowUntil = esc;
    }
    const b = raw[i];
    if (b < 0x80 && b !== ESC) {
      i++;
      continue;
    }
    view.run(runStart, i);
    if (b === ESC) {
      const esc = escapeAt(raw, i);
      if (esc === null) {
        if (!final) {
          runStart = i;
          break;
        }
        i = n;
      } else {
        if (esc.separator) view.char('\n', i, i + esc.length);
        i += esc.length;
      }
    } else {
      const ch = utf8At(raw, i);
      if (ch === null) {
        if (!final) {
          runStart = i;
          break;
        }
        view.char('\ufffd', i, i + 1);
        i++;
      } else {
        view.char(String.fromCodePoint(ch.code), i, i + ch.length);
        i += ch.length;
      }
    }
    runStart = i;
  }
  if (i >= n) {
    view.run(runStart, n);
    runStart = n;
  }
  view.seal(runStart);
  return view;
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
