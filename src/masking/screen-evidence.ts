/**
 * The full evidence pass of the byte screen (screen.ts), for the detectors without a targeted check: one pass over
 * a value's bytes that skips every byte the action's detectors do not look at, consumes digits a run at a time, and
 * collects per detector the evidence its match requires (phone digit runs, an IBAN's start, dots, colons, dash
 * runs, vendor prefixes, token runs). Every piece must be a necessary condition of its detector. Pure: no I/O, no
 * allocation per call.
 */
import type { DetectorName } from './detectors.js';
import { DETECTOR_BITS, NON_ASCII } from './screen-bits.js';
import type { ActionScreen } from './screen.js';

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
export function classTable(mask: number): Uint8Array {
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

const stopTables = new Map<number, Uint8Array>();

/** The bytes the screen stops at for a detector combination (see ActionScreen.stops), cached. */
export function stopTable(mask: number): Uint8Array {
  let stops = stopTables.get(mask);
  if (stops !== undefined) return stops;
  const classes = classTable(mask);
  stops = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    if (classes[c] & SPECIAL || (mask & DIGIT_DETECTORS && classes[c] & DIGIT)) stops[c] = 1;
  }
  stopTables.set(mask, stops);
  return stops;
}

const three = (s: string) => (s.charCodeAt(0) << 16) | (s.charCodeAt(1) << 8) | s.charCodeAt(2);
/** AWS key id prefixes without their last letter (all of them end in 'a'), lower-cased, as 24-bit numbers. */
export const AWS_PREFIXES = new Set(['aki', 'asi', 'agp', 'aid', 'aro', 'anp', 'anv', 'aip'].map(three));
// What comes before the '_' of a GitHub token: ghp_ gho_ ghu_ ghs_ ghr_, and github_pat_.
const GITHUB_PREFIXES = new Set(['ghp', 'gho', 'ghu', 'ghs', 'ghr', 'pat'].map(three));
// Google API keys start with AIza (compared lower-cased, like the others).
const AIZ = three('aiz');

/** The three bytes before `i`, lower-cased, as a 24-bit number (0 when fewer than three exist). */
export function lowerBefore(bytes: Uint8Array, start: number, i: number): number {
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
 * The full evidence pass (the detectors without a targeted loop): skips, in a tight inner loop, every byte the
 * action's detectors do not look at (most letters), and consumes digits a run at a time.
 */
export function evidence(bytes: Uint8Array, start: number, end: number, action: ActionScreen): number {
  seen.at = seen.colons = seen.dots = seen.dashes = seen.dashRun = seen.maxDashRun = 0;
  seen.lastDash = -2;
  seen.eyJ = seen.xox = seen.aws = seen.github = seen.nonAscii = seen.punct = seen.aiza = false;
  runs.card = runs.phone = 0;
  runs.iban = false;
  const { classes, stops } = action;
  let i = start;
  while (i < end) {
    // Most bytes stop nothing: skip them without looking further.
    while (i < end && stops[bytes[i]] === 0) i++;
    if (i >= end) break;
    const c = bytes[i];
    if (c >= 0x80) {
      seen.nonAscii = true;
      i++;
    } else if (classes[c] & DIGIT) i = digitRun(bytes, start, end, i, classes);
    else {
      special(bytes, start, i, c);
      i++;
    }
  }
  const maxToken = action.mask & TOKEN_DETECTORS && end - start >= 18 ? tokenRun(bytes, start, end, classes) : 0;
  return bitsOf(end - start, runs.card, runs.phone, runs.iban, maxToken);
}

/** The longest runs of digit groups seen by one screen pass (module-level, like `seen`). */
const runs = { card: 0, phone: 0, iban: false };

/**
 * Consumes one run of digit groups from bytes[i] (a digit) and returns the index after its last digit. Card digits
 * may be split by one space or dash, phone digits by up to two of ` .()-+`; the special characters between groups
 * are recorded as everywhere else (an IPv4 address is digits and dots). Only used when the action has a detector
 * that follows digits (card, phone, iban, ssn): otherwise digits are not stops.
 */
function digitRun(bytes: Uint8Array, start: number, end: number, i: number, classes: Uint8Array): number {
  // An IBAN starts with two letters and two digits.
  if (i - 2 >= start && i + 1 < end && classes[bytes[i + 1]] & DIGIT && classes[bytes[i - 1]] & LETTER &&
    classes[bytes[i - 2]] & LETTER) runs.iban = true;
  let card = 0;
  let phone = 0;
  for (;;) {
    while (i < end && classes[bytes[i]] & DIGIT) {
      card++;
      phone++;
      i++;
    }
    let gap = i;
    while (gap < end && gap - i < 2 && classes[bytes[gap]] & PHONE_SEP) gap++;
    if (gap === i || gap >= end || (classes[bytes[gap]] & DIGIT) === 0) break;
    if (gap - i !== 1 || (classes[bytes[i]] & SEP) === 0) {
      if (card > runs.card) runs.card = card;
      card = 0;
    }
    for (; i < gap; i++) if (classes[bytes[i]] & SPECIAL) special(bytes, start, i, bytes[i]);
  }
  if (card > runs.card) runs.card = card;
  if (phone > runs.phone) runs.phone = phone;
  return i;
}

/** The longest run of token characters (generic_api_key's evidence), stopping once it is long enough. */
function tokenRun(bytes: Uint8Array, start: number, end: number, classes: Uint8Array): number {
  let run = 0;
  for (let i = start; i < end; i++) {
    if (classes[bytes[i]] & TOKEN) {
      if (++run >= 18) return run;
    } else run = 0;
  }
  return run;
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
