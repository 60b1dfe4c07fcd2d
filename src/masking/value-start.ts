/**
 * Where, at the end of a text, a value a detector masks could be starting: what a terminal's quiet release must
 * not show in clear (stream.ts). A program that prints a card number digit by digit, or pauses inside a value,
 * leaves the start of the value held when the terminal goes quiet; the part of it these patterns recognise is
 * written as `*`s instead of released, and what continues it stays masked.
 *
 * Each detector has a pattern anchored at the end of the text for the beginning of its values, as generous as the
 * value's shape allows without catching ordinary prompts and words: any trailing digit (card, phone, SSN, IPv4: a
 * value may begin with one digit), an e-mail once its `@` has arrived, two letters and a digit (IBAN), the fixed
 * prefixes of tokens and keys (`eyJ`, `AKIA`, `ghp_`, `xox?-`, `sk_live_`, `-----`), the value after `token=`.
 * What is not recognised is released: the local part of an e-mail before its `@`, the first letters of a token
 * prefix (`ey`, `AK`), and anything an operator pattern might match (a regular expression cannot say where its
 * matches could begin). Pure: no I/O; the RegExps are not global, so they keep no state.
 */
import type { DetectorName } from './detectors.js';

const VALUE_START: Record<DetectorName, RegExp> = {
  card: /\d(?:[ -]?\d)*[ -]?$/,
  phone: /[+\d][\d ().-]*$|\(\d[\d ().-]*$/,
  ssn: /\d[\d-]*$/,
  ipv4: /\d[\d.]*$/,
  ipv6: /[0-9A-Fa-f]*\d[0-9A-Fa-f]*:[0-9A-Fa-f:.]*$|::[0-9A-Fa-f:.]*$/,
  iban: /[A-Za-z]{2}\d[ A-Za-z0-9]*$/,
  email: /[\p{L}\p{N}._%+-]*@[\p{L}\p{N}.-]*$/u,
  jwt: /eyJ[A-Za-z0-9_.-]*$/,
  private_key: /-----[A-Za-z0-9 -]*$/,
  aws_access_key: /(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Za-z0-9]*$/i,
  github_token: /(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]*$/i,
  slack_token: /xox[abposr]-[A-Za-z0-9-]*$/i,
  generic_api_key: /(?:[sr]k_(?:live|test)_|AIza|glpat-|npm_)[A-Za-z0-9_-]*$|(?<=(?:key|token|secret|password|passwd)["']?\s*[:=]\s*["']?)[A-Za-z0-9_+/.=~-]+$/i,
};

/** How far back the patterns look; a value start found at the very edge may reach further, so everything is masked. */
const WINDOW = 512;

/**
 * The first index at or after `from` where the end of `text` could be the beginning of a value of one of
 * `detectors`; `text.length` when none could. A beginning found before `from` (in text already decided) counts
 * from `from`.
 */
export function valueStart(detectors: readonly DetectorName[], text: string, from: number): number {
  const lo = Math.max(0, text.length - WINDOW);
  const tail = text.slice(lo);
  let start = text.length;
  for (const detector of detectors) {
    const m = VALUE_START[detector].exec(tail);
    if (m === null || m[0].length === 0) continue;
    // At the window's edge the value may have begun earlier: mask all that is held.
    const at = m.index === 0 && lo > 0 ? from : lo + m.index;
    start = Math.min(start, Math.max(from, at));
  }
  return start;
}
