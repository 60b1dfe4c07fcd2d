/**
 * Human durations for token lifetimes and similar settings: `90s`, `15m`, `1h`, `2d`, `1h30m`. Units go from
 * largest to smallest and appear at most once, so a typo like `30m1h` is rejected instead of guessed at.
 * Pure functions only; this module must never read the clock or the environment.
 */
import { WardenError } from '../errors.js';

const PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const UNITS: ReadonlyArray<readonly [string, number]> = [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]];

/** Parses a duration into whole seconds; throws WARDEN_ERR_BAD_REQUEST on junk, zero or negative input. */
export function parseDuration(text: string): number {
  const input = typeof text === 'string' ? text.trim() : '';
  const match = PATTERN.exec(input);
  let seconds = 0;
  if (match !== null) {
    UNITS.forEach(([, size], i) => {
      const amount = match[i + 1];
      if (amount !== undefined) seconds += Number(amount) * size;
    });
  }
  if (match === null || seconds <= 0 || !Number.isSafeInteger(seconds)) {
    const shown = String(text).slice(0, 40);
    throw new WardenError(
      'WARDEN_ERR_BAD_REQUEST',
      `invalid duration "${shown}": use a positive amount like 90s, 15m, 1h, 2d or 1h30m`,
    );
  }
  return seconds;
}

/** Formats whole seconds the way parseDuration reads them (`5400` -> `1h30m`, `0` -> `0s`). */
export function formatDuration(seconds: number): string {
  let rest = Math.max(0, Math.floor(seconds));
  if (rest === 0) return '0s';
  let out = '';
  for (const [unit, size] of UNITS) {
    const amount = Math.floor(rest / size);
    if (amount > 0) out += `${amount}${unit}`;
    rest %= size;
  }
  return out;
}
