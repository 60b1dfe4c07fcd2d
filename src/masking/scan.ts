/**
 * Building blocks shared by the detectors: the match range type, a regex scanning loop with validation, cheap
 * character counts used as pre-filters, the boundary snippet detectors put before their patterns, and the
 * checksums that turn "looks like" into "is" (Luhn for cards, ISO 13616 mod-97 with per-country lengths for IBANs).
 * Pure string work and arithmetic: no I/O. Must never keep state between calls other than a RegExp's lastIndex,
 * which every loop here resets before use (the detectors' RegExps are shared module constants).
 */
/** A match as [start, end) UTF-16 offsets into the scanned text. */
export type Range = [number, number];

/**
 * The result of a detector whose pre-filter failed or that found nothing. Shared so that the common case (nothing
 * to mask) allocates nothing; internal callers never mutate it, public entry points copy.
 */
export const NO_RANGES: Range[] = [];

/**
 * "No word character right before", where a letter that is itself preceded by a backslash does not count: in JSON
 * text (row_to_json, json_agg) a value after a newline reads `\nalice@...`, and the `n` must not hide it.
 */
export const NOT_AFTER_WORD = String.raw`(?<!(?<!\\)[A-Za-z0-9_])`;

/**
 * Runs a global regex over `text` and returns the ranges that `accept` keeps. `accept` may return false (skip),
 * true (the whole match) or a range of its own (part of the match, or a longer one it computed). After a rejected
 * match the scan resumes one character later, so a valid candidate that starts inside a rejected one is still seen.
 */
export function regexRanges(
  re: RegExp,
  text: string,
  accept?: (m: RegExpExecArray, text: string) => boolean | Range,
): Range[] {
  let out: Range[] | undefined;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index;
    if (m[0].length === 0) {
      re.lastIndex = start + 1;
      continue;
    }
    const verdict = accept === undefined ? true : accept(m, text);
    if (verdict === false) {
      re.lastIndex = start + 1;
      continue;
    }
    const range: Range = verdict === true ? [start, start + m[0].length] : verdict;
    (out ??= []).push(range);
    re.lastIndex = Math.max(range[1], start + 1);
  }
  return out ?? NO_RANGES;
}

/** Counts ASCII digits, stopping early once `enough` are seen (pre-filters only need "at least"). */
export function hasDigits(text: string, enough: number): boolean {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++n >= enough) return true;
  }
  return false;
}

/** Counts occurrences of one character, stopping early once `enough` are seen. */
export function hasChars(text: string, ch: string, enough: number): boolean {
  let n = 0;
  for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) {
    if (++n >= enough) return true;
  }
  return false;
}

/** The number of ASCII digits in `text`. */
export function digitCount(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/** True when the backslashes right before `index` are odd in number, i.e. text[index] is an escaped character. */
export function isEscaped(text: string, index: number): boolean {
  let n = 0;
  for (let i = index - 1; i >= 0 && text.charCodeAt(i) === 92; i--) n++;
  return n % 2 === 1;
}

/** True when the ASCII digits in `digits` (nothing else) pass the Luhn check. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/**
 * IBAN length per country (SWIFT IBAN registry). A candidate from a listed country must have exactly this length;
 * that one check removes most false positives the mod-97 test alone would let through (1 in 97).
 */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/** Shortest and longest IBAN any country uses. */
export const IBAN_MIN = 15;
export const IBAN_MAX = 34;

/**
 * True when `iban` (upper-case letters and digits only, no spaces) passes ISO 13616: the first four characters move
 * to the end, letters become 10..35, and the resulting number mod 97 is 1. Computed digit by digit so no BigInt.
 */
export function ibanChecksumValid(iban: string): boolean {
  if (iban.length < 5) return false;
  let rest = 0;
  for (let k = 0; k < iban.length; k++) {
    const c = iban.charCodeAt((k + 4) % iban.length);
    if (c >= 48 && c <= 57) rest = (rest * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rest = (rest * 100 + (c - 55)) % 97;
    else return false;
  }
  return rest === 1;
}
