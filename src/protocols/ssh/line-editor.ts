/**
 * Reconstructs the line a caller types into an interactive shell from the raw input bytes, so that Warden can judge
 * it before the Enter reaches the host. The editor mirrors readline's default emacs bindings (bash; zsh's zle
 * agrees on these keys): printable UTF-8, Backspace/DEL/Ctrl-H, Ctrl-U, Ctrl-W, Ctrl-K, Ctrl-A/Ctrl-E, Ctrl-B/
 * Ctrl-F, arrows left/right, Home/End, Delete, Alt-b/Alt-f/Alt-d/Alt-Backspace, Ctrl-V (quoted insert), Ctrl-C
 * (the line is discarded), Ctrl-D (EOF on an empty line, else delete), bracketed paste, and CR, LF or CRLF as Enter.
 * Where zsh's zle would edit differently (Ctrl-U mid-line, word keys over punctuation) the line is uncertain.
 *
 * `feed()` stops at the first key that submits a line and hands it over with the bytes before it (`forward`, safe to
 * send now: nothing before the Enter executes), the submitting bytes themselves (`submit.enter`, to send only when
 * the line is allowed) and the unread bytes (`rest`, to feed after the decision). Keys that submit: Enter, Ctrl-O
 * (operate-and-get-next) and every key whose effect is not modelled (unknown escape sequences, Ctrl-X prefixes,
 * unbound Alt keys), because readline can bind a key to run a command with no Enter (Ctrl-X Ctrl-E, Alt-#,
 * `bind -x`): such a key is judged with the line so far, uncertain.
 *
 * Best effort, stated plainly (the README says exec-only policies are the strict choice). `certain: false` marks a
 * line Warden cannot know: history (up/down, Ctrl-P/N, PgUp/PgDn, Ctrl-R/S), completion (Tab), the kill ring
 * (Ctrl-Y), undo, transposition, numeric arguments, invalid UTF-8, history expansion (`!word`, `^old^new`), an
 * unknown key, a line past MAX_LINE characters, and every line after a switch to vi mode (Alt-Ctrl-J). Beyond what
 * the bytes show: a user's inputrc or `bind` can rebind any key; the shell may be in a continuation prompt (an open
 * quote) so a line is only part of a command; a program other than the shell may be reading (`cat`, a password
 * prompt, a REPL); typed-ahead keys reach whatever reads next. The host's output helps (observeOutput): the
 * alternate screen (vim, less, top) gives `context: 'fullscreen'`; bracketed paste switched on by bash 5.1+/zsh
 * while they read a prompt gives `context: 'prompt'`; otherwise 'unknown'. Context is a hint, never permission.
 *
 * Two facts the bytes alone do not give are tracked from what the engine allowed (accepted()): an unfinished command
 * the host's shell still holds (an open quote, here-document, `if`...), carried into the next submission as
 * `continues`, and a line that changed how the host reads keys (`stty`, `bind`, `set -o vi`, `exec`: see
 * reconfiguresInput), after which every line is uncertain. The engine pins the host's terminal modes to their defaults
 * (pty-request.ts), which is what the key model assumes.
 *
 * After a refused line the engine sends CANCEL_LINE instead of the Enter (and calls refused()): Ctrl-E then Ctrl-U
 * empties readline's line wherever the cursor was (the text goes to the kill ring, so a later Ctrl-Y is uncertain).
 * Pure state machine: no I/O, no timers.
 */
import { LineBuffer } from './line-buffer.js';
import { readKey, readUtf8, type Key } from './line-keys.js';
import { TerminalModes } from './terminal-modes.js';

/** Characters kept per line; a longer line is judged uncertain (the rest is not kept). */
export const MAX_LINE = 64 * 1024;

/** What the engine sends instead of a refused Enter: Ctrl-E, Ctrl-U (empties the host's line). */
export const CANCEL_LINE: Buffer = Buffer.from([0x05, 0x15]);

/** Who is probably reading the keys, from the host's output (see the module comment). */
export type InputContext = 'prompt' | 'fullscreen' | 'unknown';

/** A line handed over for judgment. */
export interface LineSubmission {
  /** The reconstructed text; holds '\n' when a bracketed paste brought several lines (the shell runs each). */
  line: string;
  /**
   * Earlier allowed lines the host's shell still holds because they left a quote, here-document or compound command
   * open (see accepted()): the shell runs `continues + '\n' + line` as one command. Absent when nothing is open.
   */
  continues?: string;
  /** False when the line could differ from what the host has (see `reasons`). */
  certain: boolean;
  /** Why the line is uncertain, in words, once each. */
  reasons: string[];
  /** The bytes that submit: CR, LF, CRLF, Ctrl-O, or the unknown key. Forward them only when the line is allowed. */
  enter: Buffer;
  /** 'enter' for CR/LF/Ctrl-O, 'key' for a key that may act on the line in ways not modelled. */
  trigger: 'enter' | 'key';
  context: InputContext;
}

/** The result of feeding input bytes. */
export interface FeedResult {
  /** Bytes that may go to the host now (everything before the submitting key). */
  forward: Buffer;
  /** A line to judge before `submit.enter` goes to the host. */
  submit?: LineSubmission;
  /** Bytes after the submitting key, not read yet: feed them after the decision. */
  rest: Buffer;
  /** Ctrl-D arrived on an empty line: the shell will read end of input (and usually exit). */
  eof?: boolean;
}

const PASTE_END = Buffer.from('\x1b[201~');
const EMPTY = Buffer.alloc(0);

/** Reconstructs submitted lines from a shell session's input stream. One per interactive channel. */
export class LineEditor {
  /** The host's terminal modes, updated by observeOutput(). */
  readonly modes = new TerminalModes();
  private readonly line = new LineBuffer();
  private readonly reasons = new Set<string>();
  private held: Buffer = EMPTY;
  private paste: number[] | null = null;
  private quoted = false;
  private absorbLf = false;
  private viMode = false;
  private undo: { viMode: boolean } | null = null;
  /** Allowed lines of a command the host's shell has not finished reading (see accepted()). */
  private continued = '';
  private continuedUncertain = false;
  /** An allowed line changed the host's line editing (stty, bind, set -o vi, ...): the model no longer holds. */
  private reconfigured = false;

  /** Reads host output (for the alternate screen and bracketed paste modes). */
  observeOutput(chunk: Uint8Array): void {
    this.modes.observe(chunk);
  }

  /** The line typed so far (for tests and diagnostics). */
  current(): string {
    return this.line.text();
  }

  /**
   * The engine refused the last submission and sent CANCEL_LINE instead of its bytes: the host's line is empty and
   * the key never ran, so nothing it would have changed (vi mode) applies.
   */
  refused(): void {
    if (this.undo) this.viMode = this.undo.viMode;
    this.undo = null;
    this.newLine();
  }

  /**
   * The engine allowed `submission` and sent its Enter. `open` says whether the shell text so far (continues + line)
   * is unfinished (an open quote, here-document, `if`, trailing `|` or backslash...): then the host's shell reads the
   * next line as part of the same command, and the next submission carries it in `continues`. A line that changes
   * how the host edits input (see reconfiguresInput) makes every later line uncertain.
   */
  accepted(submission: LineSubmission, open: boolean): void {
    const full = submission.continues === undefined ? submission.line : `${submission.continues}\n${submission.line}`;
    if (reconfiguresInput(full)) this.reconfigured = true;
    if (submission.trigger !== 'enter') return;
    if (!open) {
      this.continued = '';
      this.continuedUncertain = false;
      return;
    }
    this.continuedUncertain ||= !submission.certain || full.length > MAX_LINE;
    this.continued = full.length > MAX_LINE ? full.slice(-MAX_LINE) : full;
  }

  /** Reads input bytes up to the first submitting key. */
  feed(bytes: Uint8Array): FeedResult {
    const data = this.held.length > 0 ? Buffer.concat([this.held, bytes]) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    this.held = EMPTY;
    let i = 0;
    let eof = false;
    if (this.absorbLf && data.length > 0) {
      this.absorbLf = false;
      // The LF of a CRLF Enter split from its CR: the host reads an empty line, harmless; the model is unchanged.
      if (data[0] === 0x0a) i = 1;
    }
    while (i < data.length) {
      if (this.paste !== null) {
        const used = this.pasteStep(data, i);
        if (used < 0) break;
        i += used;
        continue;
      }
      const read = this.quoted ? readUtf8(data, i) : readKey(data, i);
      if (read === null) break;
      const start = i;
      i += read.length;
      const outcome = this.apply(read.key);
      if (outcome === 'eof') eof = true;
      if (outcome === 'enter' || outcome === 'key') {
        let end = i;
        if (outcome === 'enter' && data[start] === 0x0d) {
          if (end < data.length && data[end] === 0x0a) end++;
          else if (end === data.length) this.absorbLf = true;
        }
        const submit = this.submit(Buffer.from(data.subarray(start, end)), outcome);
        return { forward: Buffer.from(data.subarray(0, start)), submit, rest: Buffer.from(data.subarray(end)), ...(eof ? { eof } : {}) };
      }
    }
    this.held = Buffer.from(data.subarray(i));
    return { forward: Buffer.from(data.subarray(0, i)), rest: EMPTY, ...(eof ? { eof } : {}) };
  }

  /** One step inside a bracketed paste: bytes up to the end marker are text (CR read as LF, as readline does). */
  private pasteStep(data: Buffer, i: number): number {
    if (data[i] === 0x1b) {
      const have = Math.min(PASTE_END.length, data.length - i);
      if (data.subarray(i, i + have).equals(PASTE_END.subarray(0, have))) {
        if (have < PASTE_END.length) return -1;
        this.endPaste();
        return PASTE_END.length;
      }
    }
    if (this.paste!.length < MAX_LINE * 4) this.paste!.push(data[i] === 0x0d ? 0x0a : data[i]);
    else this.reasons.add('line too long');
    return 1;
  }

  private endPaste(): void {
    const bytes = Uint8Array.from(this.paste!);
    this.paste = null;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      text = new TextDecoder('utf-8').decode(bytes);
      this.reasons.add('invalid UTF-8');
    }
    this.insert(text);
  }

  private insert(text: string): void {
    if (this.line.length + text.length > MAX_LINE) {
      this.reasons.add('line too long');
      return;
    }
    this.line.insert(text);
  }

  private submit(enter: Buffer, trigger: 'enter' | 'key'): LineSubmission {
    const line = this.line.text();
    if (this.viMode) this.reasons.add('vi editing mode');
    if (this.reconfigured) this.reasons.add('an earlier line changed how the host edits input (stty, bind, set -o)');
    if (this.continued !== '' && this.continuedUncertain) this.reasons.add('it continues an uncertain line');
    if (historyExpansion(line)) this.reasons.add('history expansion');
    const reasons = [...this.reasons];
    const context: InputContext = this.modes.fullScreen ? 'fullscreen' : this.modes.bracketedPaste === true ? 'prompt' : 'unknown';
    const undo = { viMode: this.viMode };
    // Alt-Ctrl-J (and Alt-Ctrl-M) switch readline to vi mode, where every key means something else.
    if (trigger === 'key' && enter.length === 2 && enter[0] === 0x1b && (enter[1] === 0x0a || enter[1] === 0x0d)) this.viMode = true;
    this.newLine();
    // Ctrl-O loads the next history line, and an unknown key leaves the host's line unknown: the next line is too.
    if (trigger === 'key') this.reasons.add('an unknown key acted on the previous line');
    else if (enter[0] === 0x0f) this.reasons.add('the line came from history (Ctrl-O)');
    this.undo = undo;
    const continues = this.continued !== '' ? { continues: this.continued } : {};
    return { line, ...continues, certain: reasons.length === 0, reasons, enter, trigger, context };
  }

  private newLine(): void {
    this.line.clear();
    this.reasons.clear();
    this.quoted = false;
  }

  /** Applies one key; says when it submits, and when it is EOF. */
  private apply(key: Key): 'enter' | 'key' | 'eof' | undefined {
    if (this.quoted) {
      this.quoted = false;
      if (key.kind === 'char' && !key.valid) this.reasons.add('invalid UTF-8');
      if (key.kind === 'char') this.insert(key.text);
      return undefined;
    }
    switch (key.kind) {
      case 'char':
        if (!key.valid) this.reasons.add('invalid UTF-8');
        this.insert(key.text);
        return undefined;
      case 'ctrl':
        return this.control(key.code);
      case 'meta':
        return this.meta(key.code);
      case 'csi':
        return this.csi(key.params, key.final);
      case 'ss3':
        return this.cursorKey('', key.final);
    }
  }


  private control(code: number): 'enter' | 'key' | 'eof' | undefined {
    const l = this.line;
    switch (code) {
      case 0x0d: case 0x0a: case 0x0f: return 'enter';
      case 0x7f: case 0x08: l.backspace(); return undefined;
      case 0x15: this.shellsAgree('ctrl-u'); l.killToStart(); return undefined;
      case 0x17: this.shellsAgree('ctrl-w'); l.unixWordRubout(); return undefined;
      case 0x0b: l.killToEnd(); return undefined;
      case 0x01: l.home(); return undefined;
      case 0x05: l.end(); return undefined;
      case 0x02: l.move(-1); return undefined;
      case 0x06: l.move(1); return undefined;
      case 0x16: this.quoted = true; return undefined;
      case 0x03: this.newLine(); this.dropContinued(); return undefined; // Ctrl-C: the shell discards the command
      case 0x04:
        if (l.length === 0) {
          this.dropContinued(); // EOF inside an unfinished command: the shell reports it and discards the command
          return 'eof';
        }
        l.deleteForward();
        return undefined;
      case 0x0c: case 0x07: case 0x1a: case 0x1c: case 0x00: return undefined; // clear screen, bell, signals, mark
      case 0x09: this.reasons.add('completion (Tab)'); return undefined;
      case 0x10: case 0x0e: this.reasons.add('history'); return undefined;
      case 0x12: case 0x13: this.reasons.add('history search'); return undefined;
      case 0x19: this.reasons.add('yank (Ctrl-Y)'); return undefined;
      case 0x14: case 0x1f: case 0x1d: this.reasons.add('an editing key Warden does not model'); return undefined;
      default: return this.unknown();
    }
  }

  private dropContinued(): void {
    this.continued = '';
    this.continuedUncertain = false;
  }

  /** Marks the line uncertain when bash's readline and zsh's zle would edit it differently (the host's shell is unknown). */
  private shellsAgree(key: Parameters<LineBuffer['zshAgrees']>[0]): void {
    if (!this.line.zshAgrees(key)) this.reasons.add('bash and zsh edit this differently');
  }

  private unknown(): 'key' {
    this.reasons.add('unknown key');
    return 'key';
  }

  /** Alt-key (ESC then the key). */
  private meta(code: number): 'key' | undefined {
    const l = this.line;
    switch (code) {
      case 0x62: this.shellsAgree('alt-b'); l.wordBack(); return undefined; // b
      case 0x66: this.shellsAgree('alt-f'); l.wordForward(); return undefined; // f
      case 0x64: this.shellsAgree('alt-d'); l.killWord(); return undefined; // d
      case 0x7f: case 0x08: this.shellsAgree('alt-backspace'); l.backwardKillWord(); return undefined;
      default:
        break;
    }
    // Alt-. and Alt-_ (last argument), digits and '-' (numeric argument), case changes, transposition, revert,
    // history and completion keys: they change the line in ways not modelled, but run nothing.
    if ('._0123456789-ulctr<>pny\\ \t\x1b?*/~$@!{'.includes(String.fromCharCode(code))) {
      this.reasons.add('an editing key Warden does not model');
      return undefined;
    }
    return this.unknown();
  }

  private csi(params: string, final: string): 'key' | undefined {
    if (final === '~') {
      switch (params) {
        case '1': case '7': this.line.home(); return undefined;
        case '4': case '8': this.line.end(); return undefined;
        case '3': this.line.deleteForward(); return undefined;
        case '5': case '6': this.reasons.add('history'); return undefined;
        case '200':
          if (this.modes.bracketedPaste === true) {
            this.paste = [];
            return undefined;
          }
          return this.unknown(); // the host did not ask for pastes: its newlines would be Enters there
        default: return this.unknown();
      }
    }
    if (final === 'Z') {
      this.reasons.add('completion (Tab)');
      return undefined;
    }
    return this.cursorKey(params, final);
  }

  /** Arrows, Home and End (CSI or SS3 forms); with modifiers (Ctrl-Right...) they are rebound too often to model. */
  private cursorKey(params: string, final: string): 'key' | undefined {
    if (!'ABCDHF'.includes(final) || final === '') return this.unknown();
    if (params !== '' && params !== '1') {
      this.reasons.add('an editing key Warden does not model');
      return undefined;
    }
    switch (final) {
      case 'A': case 'B': this.reasons.add('history'); return undefined;
      case 'C': this.line.move(1); return undefined;
      case 'D': this.line.move(-1); return undefined;
      case 'H': this.line.home(); return undefined;
      default: this.line.end(); return undefined;
    }
  }
}

/**
 * Whether bash would run history expansion on the line: a `!` not followed by a blank, `=`, `(` or the end (and
 * not `$!` or `${!`), or a leading `^` (quick substitution). Quoting is ignored on purpose: a false "uncertain" on
 * `echo 'hi!x'` is the safe error.
 */
export function historyExpansion(line: string): boolean {
  if (line.trimStart().startsWith('^')) return true;
  for (let i = line.indexOf('!'); i >= 0; i = line.indexOf('!', i + 1)) {
    const next = line[i + 1];
    if (next === undefined || next === ' ' || next === '\t' || next === '\n' || next === '=' || next === '(') continue;
    if (line[i - 1] === '$' || (line[i - 1] === '{' && line[i - 2] === '$')) continue;
    return true;
  }
  return false;
}

/**
 * Whether shell text may change how the host's terminal or line editor reads keys, so that the editor's model
 * (readline's default emacs keys over a tty with default special characters) no longer holds: `stty`, `tset`,
 * `bind`, `set -o vi|emacs`, zsh's `bindkey`/`zle`/`setopt`, `INPUTRC`, and `exec` (another program, maybe another
 * shell, takes the terminal). Matched on the text, over-approximating on purpose: a false match only makes later
 * lines uncertain.
 */
export function reconfiguresInput(text: string): boolean {
  return /(^|[\s;&|(){}`])(stty|tset|bind|bindkey|zle|setopt|unsetopt|exec)(?=$|[\s;&|()<>])/.test(text)
    || /(^|[\s;&|(){}`])set\s[^;&|\n]*\b(vi|emacs)\b/.test(text)
    || /INPUTRC/.test(text);
}
