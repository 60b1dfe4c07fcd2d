/**
 * The screen a terminal recording shows at a moment: a headless xterm.js terminal fed with the (masked) output,
 * serialised with @xterm/addon-serialize into the escape sequences that redraw it on a fresh terminal. Keyframes of
 * asciicast recordings are these snapshots, so a player can start anywhere without replaying everything before.
 * Only the visible screen is kept (no scrollback: it would grow every keyframe). Owns the terminal emulator; it never
 * sees input and never writes to the store.
 */
import xtermHeadless from '@xterm/headless';
import xtermSerialize from '@xterm/addon-serialize';

// Both packages are CommonJS: their exports are on the default import.
const { Terminal } = xtermHeadless;
const { SerializeAddon } = xtermSerialize;

/** A terminal screen fed with output. */
export class ScreenModel {
  private readonly terminal: InstanceType<typeof Terminal>;
  private readonly serializer: InstanceType<typeof SerializeAddon>;

  constructor(cols: number, rows: number) {
    this.terminal = new Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
    this.serializer = new SerializeAddon();
    this.terminal.loadAddon(this.serializer);
  }

  /** Feeds output bytes (parsed asynchronously, in order). */
  write(bytes: Uint8Array): void {
    this.terminal.write(bytes);
  }

  /** Changes the size (as the caller's terminal did). */
  resize(cols: number, rows: number): void {
    this.terminal.resize(cols, rows);
  }

  /**
   * The screen after everything written so far, as escape sequences that redraw it on a reset terminal of the same
   * size (text, colours, cursor position, alternate screen and modes the serializer knows).
   */
  snapshot(): Promise<string> {
    return new Promise((resolve) => {
      this.terminal.write('', () => resolve(this.serializer.serialize({ scrollback: 0 })));
    });
  }

  /** Frees the emulator. */
  dispose(): void {
    this.terminal.dispose();
  }
}
