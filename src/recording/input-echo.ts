/**
 * Which caller input a terminal recording may keep. What a caller types at a password prompt (sudo, ssh onwards, a
 * database client) is a secret, and the host shows it by not echoing it; so input is kept only when the host echoed
 * it: per line, every printable character typed (escape sequences and controls aside) must appear, in order, in the
 * output that came after the line's first key and before the host's newline answering its Enter. A line that fails
 * is withheld: only its Enter is kept, so the timeline still shows a line was submitted, and the count of withheld
 * bytes is reported. Masked output also fails the check for what it masked (a card number typed and echoed as
 * [REDACTED] is withheld too). Best effort: output that happens to contain the same characters in order while echo
 * is off (a busy background job) would let a line through; a host that echoes something else (stars) withholds it.
 * Pure: no I/O, no timers; times are the caller's.
 */

/** Keys that end a line: Enter (CR, LF), Ctrl-C, Ctrl-D. */
const LINE_END = /[\r\n\x03\x04]/;
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|O.|[^[\]O])/g;
const CONTROLS = /[\x00-\x1f\x7f]/g;
/** Output kept per undecided line, and printables per line, before it is decided anyway. */
const MAX_WINDOW = 16 * 1024;
const MAX_LINE = 4096;

interface Line {
  events: Array<[number, string]>;
  printables: string;
  window: string;
  /** The Enter (or Ctrl-C/D) was typed: output now counts only up to the host's next newline. */
  closed: boolean;
  decided: boolean;
  keep: boolean;
}

/** Printable characters of a text, escape sequences and controls removed. */
export function printable(text: string): string {
  return text.replace(ESCAPES, '').replace(CONTROLS, '');
}

function isSubsequence(needle: string, hay: string): boolean {
  let at = 0;
  for (const ch of needle) {
    at = hay.indexOf(ch, at);
    if (at < 0) return false;
    at += ch.length;
  }
  return true;
}

/** Decides, line by line, which input a recording keeps. */
export class EchoGate {
  /** Input bytes (UTF-16 units) withheld so far. */
  withheld = 0;
  private lines: Line[] = [];

  private newLine(): Line {
    const line: Line = { events: [], printables: '', window: '', closed: false, decided: false, keep: false };
    this.lines.push(line);
    return line;
  }

  private open(): Line {
    const last = this.lines[this.lines.length - 1];
    return last && !last.closed ? last : this.newLine();
  }

  /** Caller input (decoded text) at `time` (seconds). */
  input(text: string, time: number): void {
    let rest = text;
    while (rest.length > 0) {
      const end = rest.search(LINE_END);
      const part = end < 0 ? rest : rest.slice(0, end + 1);
      rest = end < 0 ? '' : rest.slice(end + 1);
      const line = this.open();
      line.events.push([time, part]);
      line.printables += printable(end < 0 ? part : part.slice(0, -1));
      if (end >= 0) {
        line.closed = true;
        if (line.printables.length === 0) this.decide(line, true);
      } else if (line.printables.length > MAX_LINE) this.decide(line, isSubsequence(line.printables, line.window));
    }
  }

  /** Host output (decoded text, as the caller saw it). */
  output(text: string): void {
    if (this.lines.length === 0) return;
    const visible = printableKeepNewlines(text);
    for (const line of this.lines) {
      if (line.decided) continue;
      if (line.closed) {
        const nl = visible.indexOf('\n');
        line.window += nl < 0 ? visible : visible.slice(0, nl);
        if (nl >= 0 || line.window.length > MAX_WINDOW) this.decide(line, isSubsequence(line.printables, line.window));
      } else {
        line.window = (line.window + visible).slice(-MAX_WINDOW);
        // An open line that is already echoed in full can be kept now (its later keys are judged with it).
      }
    }
  }

  /** Input events that may be recorded now, in order; undecided lines (and lines after them) wait. */
  take(): Array<[number, string]> {
    const out: Array<[number, string]> = [];
    while (this.lines.length > 0 && this.lines[0].decided) {
      const line = this.lines.shift()!;
      if (line.keep) out.push(...line.events);
      else {
        const last = line.events[line.events.length - 1];
        this.withheld += line.events.reduce((n, [, d]) => n + d.length, 0);
        // Only the key that ended the line is kept (never a printable character).
        if (last && line.closed) {
          out.push([last[0], last[1].slice(-1)]);
          this.withheld -= 1;
        }
      }
    }
    return out;
  }

  /** Decides every line still open (at the end of the recording) and returns what may be recorded. */
  finish(): Array<[number, string]> {
    for (const line of this.lines) if (!line.decided) this.decide(line, line.printables.length === 0 || isSubsequence(line.printables, line.window));
    return this.take();
  }

  private decide(line: Line, keep: boolean): void {
    line.decided = true;
    line.keep = keep;
  }
}

/** Printable characters plus newlines (which end a closed line's echo window). */
function printableKeepNewlines(text: string): string {
  return text.replace(ESCAPES, '').replace(/[\x00-\x09\x0b-\x1f\x7f]/g, '');
}
