/**
 * What the host's output says about who reads the caller's keys: DEC private modes set and reset with
 * `ESC [ ? Pm h` / `ESC [ ? Pm l` in the OUTPUT stream. Two matter to the line editor:
 * - the alternate screen (1049, 1047, 47): full-screen programs (vim, less, top) switch to it, so lines typed
 *   there are not shell lines;
 * - bracketed paste (2004): bash 5.1+ and zsh turn it on while their line editor reads a prompt and off before
 *   they run a command, so "on" is good evidence that readline (or zle) is the reader of the next keys.
 * Escape sequences may be cut anywhere by the transport; an unfinished one is carried to the next chunk (bounded).
 * A full reset (`ESC c`) clears both modes. Best effort by nature: a program may draw full-screen without the
 * alternate screen, or never announce bracketed paste; callers treat these as hints, never as permission.
 * Pure state machine: no I/O.
 */

/** Longest CSI sequence kept across chunks; longer ones are not mode changes we track and are skipped. */
const MAX_CSI = 64;

const ESC = 0x1b;

/** The tracked modes of the host's terminal, updated from its output. */
export class TerminalModes {
  /** The alternate screen is active: a full-screen program owns the terminal. */
  fullScreen = false;
  /** Bracketed paste: true when enabled, false when disabled, null before the host said either. */
  bracketedPaste: boolean | null = null;
  private state: 'ground' | 'esc' | 'csi' = 'ground';
  private csi = '';

  /** Reads a chunk of host output (any split). */
  observe(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (this.state === 'ground') {
        if (c === ESC) this.state = 'esc';
      } else if (this.state === 'esc') {
        if (c === 0x5b) {
          this.state = 'csi';
          this.csi = '';
        } else {
          if (c === 0x63) this.reset(); // ESC c: full reset
          this.state = c === ESC ? 'esc' : 'ground';
        }
      } else if (c >= 0x40 && c <= 0x7e) {
        this.finish(c);
        this.state = 'ground';
      } else if (c === ESC) {
        this.state = 'esc'; // an interrupted sequence: a new one starts
      } else if (this.csi.length < MAX_CSI) {
        this.csi += String.fromCharCode(c);
      }
    }
  }

  private reset(): void {
    this.fullScreen = false;
    this.bracketedPaste = false;
  }

  private finish(final: number): void {
    if ((final !== 0x68 && final !== 0x6c) || !this.csi.startsWith('?') || this.csi.length >= MAX_CSI) return;
    const on = final === 0x68;
    for (const param of this.csi.slice(1).split(';')) {
      if (param === '1049' || param === '1047' || param === '47') this.fullScreen = on;
      else if (param === '2004') this.bracketedPaste = on;
    }
  }
}
