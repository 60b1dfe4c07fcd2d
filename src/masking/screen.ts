/**
 * The byte-level screen of content masking: one pass over a column value's raw bytes (before any UTF-8 decoding)
 * finds the cheap evidence every detector's match requires: a run of 13 card digits, an `@`, three dots, `eyJ`, an
 * AWS key prefix, `gh?_`, a long token run... A value that passes no screen of its action is never decoded, and a
 * value that passes some is scanned by those detectors only. In JS this pass costs less than the fixed price of
 * decoding a short value natively, which is why it exists. Every screen must be a necessary condition of its
 * detector (a screen that rejects a real match leaks it), so they stay deliberately loose.
 * Pure: no I/O, no allocation per call.
 */
import type { DetectorName } from './detectors.js';
import type { ContentAction } from './rules.js';

/** One bit per detector. */
export const DETECTOR_BITS: Record<DetectorName, number> = {
  card: 1 << 0, email: 1 << 1, phone: 1 << 2, iban: 1 << 3, ssn: 1 << 4, ipv4: 1 << 5, ipv6: 1 << 6, jwt: 1 << 7,
  private_key: 1 << 8, aws_access_key: 1 << 9, github_token: 1 << 10, slack_token: 1 << 11, generic_api_key: 1 << 12,
};
/** The value holds a byte >= 0x80: it needs UTF-8 decoding (else a latin1 slice of the row is exact). */
export const NON_ASCII = 1 << 20;
/** Set in an action's mask when it has operator patterns: those cannot be screened, so every value is decoded. */
export const PATTERNS = 1 << 21;

/** Detectors whose screens follow digits: card, phone, iban, ssn. */
const DIGIT_DETECTORS = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4);
/** The only screen that needs a run length per byte: generic_api_key's 18-character token run. */
const TOKEN_DETECTORS = 1 << 12;

// Character classes of a byte, as bits.
const DIGIT = 1;
const TOKEN = 2; // [A-Za-z0-9_+/.=~-]: secrets in assignments, vendor tokens
const SEP = 4; // space or dash between card digit groups
const SPECIAL = 8;
const PHONE_SEP = 16; // what may sit between a phone number's digits: space . ( ) - +
const LETTER = 32; // characters some detector's screen looks at (see SPECIALS), and every byte >= 0x80

/** The special characters each detector's screen looks at; bytes >= 0x80 are special for every action. */
const SPECIALS: Partial<Record<DetectorName, string>> = {
  email: '@', ipv4: '.', ipv6: ':', ssn: '-', private_key: '-', github_token: '_', jwt: 'J', aws_access_key: 'aA',
  slack_token: 'xX', generic_api_key: '_-=:aA',
};

const tables = new Map<number, Uint8Array>();

/**
 * The byte classes for an action's detectors: only the special characters its detectors look at are special, so
 * an e-mail-only action does not stop at every 'x' or 'a'. One table per detector combination, cached.
 */
function classTable(mask: number): Uint8Array {
  let table = tables.get(mask);
  if (table !== undefined) return table;
  table = new Uint8Array(256);
  let specials = '';
  for (const [name, chars] of Object.entries(SPECIALS)) if (mask & DETECTOR_BITS[name as DetectorName]) specials += chars;
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if (/[0-9]/.test(ch)) table[c] |= DIGIT;
    if (/[\w+/.=~-]/.test(ch)) table[c] |= TOKEN;
    if (ch === ' ' || ch === '-') table[c] |= SEP;
    if (' .()-+'.includes(ch)) table[c] |= PHONE_SEP;
    if (/[A-Za-z]/.test(ch)) table[c] |= LETTER;
    if (specials.includes(ch)) table[c] |= SPECIAL;
  }
  for (let c = 128; c < 256; c++) table[c] = SPECIAL;
  tables.set(mask, table);
  return table;
}

const three = (s: string) => (s.charCodeAt(0) << 16) | (s.charCodeAt(1) << 8) | s.charCodeAt(2);
// AWS key id prefixes without their last letter (all of them end in 'a'), lower-cased.
const AWS_PREFIXES = new Set(['aki', 'asi', 'agp', 'aid', 'aro', 'anp', 'anv', 'aip'].map(three));
// What comes before the '_' of a GitHub token: ghp_ gho_ ghu_ ghs_ ghr_, and github_pat_.
const GITHUB_PREFIXES = new Set(['ghp', 'gho', 'ghu', 'ghs', 'ghr', 'pat'].map(three));
// Google API keys start with AIza (compared lower-cased, like the others).
const AIZ = three('aiz');

/** The three bytes before `i`, lower-cased, as a 24-bit number (0 when fewer than three exist). */
function lowerBefore(bytes: Uint8Array, start: number, i: number): number {
  if (i - 3 < start) return 0;
  return ((bytes[i - 3] | 0x20) << 16) | ((bytes[i - 2] | 0x20) << 8) | (bytes[i - 1] | 0x20);
}

/** Mutable scratch of one screen pass (module-level: screen() is synchronous and never re-entered). */
const seen = { at: 0, colons: 0, dots: 0, dashes: 0, dashRun: 0, maxDashRun: 0, lastDash: -2, eyJ: false, xox: false,
  aws: false, github: false, nonAscii: false, punct: false, aiza: false };

/** Records one special byte (see SPECIALS) at `i`; the final branch is 'x' or 'X', the only one left. */
function special(bytes: Uint8Array, start: number, i: number, c: number): void {
  if (c === 0x40) seen.at++;
  else if (c === 0x3a) {
    seen.colons++;
    seen.punct = true;
  }
  else if (c === 0x2e) seen.dots++;
  else if (c === 0x3d) seen.punct = true;
  else if (c === 0x2d) {
    seen.punct = true;
    seen.dashes++;
    seen.dashRun = i === seen.lastDash + 1 ? seen.dashRun + 1 : 1;
    seen.lastDash = i;
    if (seen.dashRun > seen.maxDashRun) seen.maxDashRun = seen.dashRun;
  } else if (c >= 0x80) seen.nonAscii = true;
  else if (c === 0x5f) {
    seen.punct = true;
    seen.github ||= GITHUB_PREFIXES.has(lowerBefore(bytes, start, i));
  } else if (c === 0x4a) seen.eyJ ||= i - 2 >= start && bytes[i - 2] === 0x65 && bytes[i - 1] === 0x79;
  else if (c === 0x61 || c === 0x41) {
    const before = lowerBefore(bytes, start, i);
    seen.aws ||= AWS_PREFIXES.has(before);
    seen.aiza ||= before === AIZ;
  } else seen.xox ||= i - 2 >= start && (bytes[i - 2] | 0x20) === 0x78 && (bytes[i - 1] | 0x20) === 0x6f;
}

/**
 * Screens `bytes[start, end)` for an action (see actionScreen): returns the DETECTOR_BITS of the detectors that
 * could match the value, plus NON_ASCII when a byte is >= 0x80. Not a match: only "not impossible". Bits of
 * detectors the action does not use may be missing (their evidence is not collected).
 */
export function screen(bytes: Uint8Array, start: number, end: number, action: ActionScreen): number {
  seen.at = seen.colons = seen.dots = seen.dashes = seen.dashRun = seen.maxDashRun = 0;
  seen.lastDash = -2;
  seen.eyJ = seen.xox = seen.aws = seen.github = seen.nonAscii = seen.punct = seen.aiza = false;
  let digitRun = 0, maxDigitRun = 0, afterSep = false, token = 0, maxToken = 0;
  let phoneRun = 0, maxPhoneRun = 0, gap = 0, ibanStart = false;
  const { mask, classes } = action;
  const numeric = (mask & DIGIT_DETECTORS) !== 0;
  const tokens = (mask & TOKEN_DETECTORS) !== 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    const k = classes[c];
    if (numeric) {
      // Phone digits may have up to two separators between them (") " in "(555) 123"); anything else ends them.
      if (k & DIGIT) {
        phoneRun++;
        gap = 0;
      } else if (phoneRun > 0 && ((k & PHONE_SEP) === 0 || ++gap > 2)) {
        if (phoneRun > maxPhoneRun) maxPhoneRun = phoneRun;
        phoneRun = 0;
      }
      if (k & DIGIT) {
        digitRun++;
        afterSep = false;
        // An IBAN starts with two letters and two digits.
        ibanStart ||= i - 3 >= start && (classes[bytes[i - 1]] & DIGIT) !== 0 && (classes[bytes[i - 2]] & LETTER) !== 0 &&
          (classes[bytes[i - 3]] & LETTER) !== 0;
      } else if (digitRun > 0) {
        // One space or dash may sit between card digit groups; anything else ends the run.
        if (k & SEP && !afterSep) afterSep = true;
        else {
          if (digitRun > maxDigitRun) maxDigitRun = digitRun;
          digitRun = 0;
          afterSep = false;
        }
      }
    }
    if (tokens) {
      if (k & TOKEN) token++;
      else if (token > 0) (maxToken = token > maxToken ? token : maxToken), (token = 0);
    }
    if (k & SPECIAL) special(bytes, start, i, c);
  }
  if (digitRun > maxDigitRun) maxDigitRun = digitRun;
  if (phoneRun > maxPhoneRun) maxPhoneRun = phoneRun;
  if (token > maxToken) maxToken = token;
  return bitsOf(end - start, maxDigitRun, maxPhoneRun, ibanStart, maxToken);
}

function bitsOf(length: number, maxDigitRun: number, maxPhoneRun: number, ibanStart: boolean, maxToken: number): number {
  let bits = seen.nonAscii ? NON_ASCII : 0;
  if (maxDigitRun >= 13) bits |= DETECTOR_BITS.card;
  if (seen.at > 0) bits |= DETECTOR_BITS.email;
  if (maxPhoneRun >= 10) bits |= DETECTOR_BITS.phone;
  if (length >= 15 && ibanStart) bits |= DETECTOR_BITS.iban;
  if (maxPhoneRun >= 9 && seen.dashes > 0) bits |= DETECTOR_BITS.ssn;
  if (seen.dots >= 3) bits |= DETECTOR_BITS.ipv4;
  if (seen.colons >= 2) bits |= DETECTOR_BITS.ipv6;
  if (seen.eyJ) bits |= DETECTOR_BITS.jwt;
  if (seen.maxDashRun >= 5) bits |= DETECTOR_BITS.private_key;
  if (seen.aws && length >= 20) bits |= DETECTOR_BITS.aws_access_key;
  if (seen.github && length >= 33) bits |= DETECTOR_BITS.github_token;
  if (seen.xox && length >= 15) bits |= DETECTOR_BITS.slack_token;
  // Every generic pattern holds one of _ - = : (sk_live_, glpat-, npm_, key=, "token":) or starts with AIza.
  if (maxToken >= 18 && (seen.punct || seen.aiza)) bits |= DETECTOR_BITS.generic_api_key;
  return bits;
}

/** What screening needs to know about an action, computed once per action. */
export interface ActionScreen {
  /** Its detectors' DETECTOR_BITS, plus PATTERNS when it has operator patterns. */
  mask: number;
  classes: Uint8Array;
}

const screens = new WeakMap<ContentAction, ActionScreen>();

/** The screening data of an action (its mask and byte classes), cached per action object. */
export function actionScreen(action: ContentAction): ActionScreen {
  let found = screens.get(action);
  if (found === undefined) {
    let mask = action.patterns.length > 0 ? PATTERNS : 0;
    for (const d of action.detectors) mask |= DETECTOR_BITS[d.detector];
    found = { mask, classes: classTable(mask) };
    screens.set(action, found);
  }
  return found;
}
