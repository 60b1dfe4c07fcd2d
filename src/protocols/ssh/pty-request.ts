/**
 * What of a caller's `pty-req` (and `window-change`) Warden passes to the target. Two things a hostile caller sends
 * there would defeat Warden:
 * - **terminal modes** (RFC 4254 §8) set the host's line discipline: its erase, kill, word-erase and literal-next
 *   characters (readline binds the tty's own characters to the same editing functions), end-of-line characters, and
 *   whether CR is ignored or turned into LF. With `VKILL` set to `#`, `echo hi #rm -rf ~` is a harmless comment to
 *   Warden's line editor and `rm -rf ~` to the host. The line editor models the host's DEFAULT modes, so only modes
 *   that do not change how input bytes are read pass (echo and output flags, speeds, character size); every special
 *   character and input flag is dropped and the host keeps its defaults. The names dropped are reported (recorded).
 * - **sizes**: a terminal of 2^32-1 columns makes the recording's screen model allocate without bound (a thrown
 *   RangeError, or seconds of CPU that freeze every session). Sizes are clamped for the host and the recording alike,
 *   so the recording shows what the host drew.
 * Pure: no I/O.
 */
import type { PseudoTtyInfo, TerminalModes } from 'ssh2';

/** Largest terminal passed on (columns, rows). Real terminals stay far below. */
export const MAX_COLUMNS = 1000;
export const MAX_ROWS = 500;

/** Modes that do not change how the host reads input bytes: echo, output processing, speeds, character size. */
const KEPT_MODES = new Set(['ECHO', 'ECHOE', 'ECHOK', 'ECHONL', 'ECHOCTL', 'ECHOKE', 'OPOST', 'ONLCR', 'OCRNL',
  'ONOCR', 'ONLRET', 'CS7', 'CS8', 'PARENB', 'PARODD', 'IMAXBEL', 'TTY_OP_ISPEED', 'TTY_OP_OSPEED']);

/** The caller's terminal modes that may reach the host, and the names of those dropped. */
export function hostTerminalModes(modes: TerminalModes | undefined): { modes: TerminalModes; dropped: string[] } {
  const kept: Record<string, number> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(modes ?? {})) {
    if (KEPT_MODES.has(name) && typeof value === 'number') kept[name] = value;
    else dropped.push(name);
  }
  return { modes: kept as TerminalModes, dropped };
}

/** A terminal dimension clamped to [1, max]; 0 or nonsense (the caller did not say) becomes `fallback`. */
export function clampDimension(value: number, max: number, fallback: number): number {
  if (!Number.isFinite(value) || value < 1) return fallback;
  return Math.min(Math.floor(value), max);
}

/** A terminal size (columns, rows, pixels) within bounds; pixel sizes are only clamped to 32 bits' worth of sense. */
export function clampTerminal<T extends Pick<PseudoTtyInfo, 'cols' | 'rows' | 'width' | 'height'>>(info: T): T {
  return { ...info, cols: clampDimension(info.cols, MAX_COLUMNS, 80), rows: clampDimension(info.rows, MAX_ROWS, 24),
    width: clampDimension(info.width, 65_535, 0), height: clampDimension(info.height, 65_535, 0) };
}
