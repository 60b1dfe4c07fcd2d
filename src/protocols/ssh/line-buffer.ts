/**
 * The model of one line being edited at an interactive shell prompt: its characters (Unicode code points, as
 * readline moves by characters, not bytes) and the cursor, with the edits of readline's default emacs bindings
 * that the line editor (line-editor.ts) maps keys to. Owns only this text arithmetic; it never sees bytes or
 * decides anything. Pure.
 *
 * Word rules follow readline: Alt-b/Alt-f/Alt-d/Alt-Backspace use "words" of letters and digits; Ctrl-W
 * (unix-word-rubout) uses whitespace-delimited words. A grapheme made of several code points (an accent combined
 * with its letter) counts as several characters here; readline may move over it at once in some locales, and
 * such a line is best effort (the caller sees the same text; only the cursor model could differ).
 */

/** Whether a code point belongs to a readline word (letters and digits of any script). */
function isWordChar(ch: string): boolean {
  return /^[\p{L}\p{N}]$/u.test(ch);
}

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t';
}

/** A line of code points and a cursor between 0 and its length. */
export class LineBuffer {
  private chars: string[] = [];
  private cursor = 0;

  /** The text of the line. */
  text(): string {
    return this.chars.join('');
  }

  /** The number of characters (code points). */
  get length(): number {
    return this.chars.length;
  }

  /** The cursor position, in characters from the start. */
  get point(): number {
    return this.cursor;
  }

  /** Empties the line. */
  clear(): void {
    this.chars = [];
    this.cursor = 0;
  }

  /** Inserts text (one or more code points) at the cursor and moves the cursor after it. */
  insert(text: string): void {
    const add = Array.from(text);
    this.chars.splice(this.cursor, 0, ...add);
    this.cursor += add.length;
  }

  /** Backspace: deletes the character before the cursor. */
  backspace(): void {
    if (this.cursor === 0) return;
    this.chars.splice(this.cursor - 1, 1);
    this.cursor--;
  }

  /** Delete (and Ctrl-D on a non-empty line): deletes the character under the cursor. */
  deleteForward(): void {
    if (this.cursor < this.chars.length) this.chars.splice(this.cursor, 1);
  }

  /** Ctrl-U: deletes from the start of the line to the cursor. */
  killToStart(): void {
    this.chars.splice(0, this.cursor);
    this.cursor = 0;
  }

  /** Ctrl-K: deletes from the cursor to the end of the line. */
  killToEnd(): void {
    this.chars.length = this.cursor;
  }

  /** Ctrl-W: deletes the whitespace-delimited word before the cursor (and the spaces after it). */
  unixWordRubout(): void {
    let start = this.cursor;
    while (start > 0 && isSpace(this.chars[start - 1])) start--;
    while (start > 0 && !isSpace(this.chars[start - 1])) start--;
    this.chars.splice(start, this.cursor - start);
    this.cursor = start;
  }

  /** Alt-Backspace: deletes back to the start of the current or previous word (letters and digits). */
  backwardKillWord(): void {
    const start = this.wordStartBefore(this.cursor);
    this.chars.splice(start, this.cursor - start);
    this.cursor = start;
  }

  /** Alt-d: deletes forward to the end of the current or next word. */
  killWord(): void {
    const end = this.wordEndAfter(this.cursor);
    this.chars.splice(this.cursor, end - this.cursor);
  }

  /** Moves the cursor by `delta` characters, within the line. */
  move(delta: number): void {
    this.cursor = Math.max(0, Math.min(this.chars.length, this.cursor + delta));
  }

  /** Ctrl-A / Home. */
  home(): void {
    this.cursor = 0;
  }

  /** Ctrl-E / End. */
  end(): void {
    this.cursor = this.chars.length;
  }

  /** Alt-b: to the start of the current or previous word. */
  wordBack(): void {
    this.cursor = this.wordStartBefore(this.cursor);
  }

  /** Alt-f: to the end of the current or next word. */
  wordForward(): void {
    this.cursor = this.wordEndAfter(this.cursor);
  }

  private wordStartBefore(from: number): number {
    let i = from;
    while (i > 0 && !isWordChar(this.chars[i - 1])) i--;
    while (i > 0 && isWordChar(this.chars[i - 1])) i--;
    return i;
  }

  private wordEndAfter(from: number): number {
    let i = from;
    while (i < this.chars.length && !isWordChar(this.chars[i])) i++;
    while (i < this.chars.length && isWordChar(this.chars[i])) i++;
    return i;
  }
}
