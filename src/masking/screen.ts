/**
 * The byte-level screen of content masking: passes over a column value's raw bytes (before any UTF-8 decoding)
 * find the cheap evidence every detector's match requires: a run of 13 card digits, an `@`, three dots, `eyJ`, an
 * AWS key prefix, `gh?_`, a long token run... A value that passes no screen of its action is never decoded, and a
 * value that passes some is scanned by those detectors only. In two steps: a branch-free pass collects which kinds
 * of bytes occur and how many digits, which rules most values out; only the detectors still possible then get
 * their own evidence, in short targeted loops (card, AWS, JWT) or the full evidence pass (the rest). In JS this
 * costs less than the fixed price of decoding a short value natively, which is why it exists. Every screen must be
 * a necessary condition of its detector (a screen that rejects a real match leaks it), so they stay deliberately
 * loose. Pure: no I/O, no allocation per call.
 */
import type { ContentAction } from './rules.js';
import {
  AWS, CARD, DETECTOR_BITS, EMAIL, GENERIC, GITHUB, IBAN, IPV4, IPV6, JWT, NON_ASCII, PATTERNS, PHONE, PRIVATE_KEY, SLACK, SSN,
} from './screen-bits.js';
import { AWS_PREFIXES, classTable, evidence, lowerBefore, stopTable } from './screen-evidence.js';

export { DETECTOR_BITS, NON_ASCII, PATTERNS } from './screen-bits.js';

// Kinds of bytes for the first pass; bit 0 is the digit bit, so that adding it counts digits.
const K_DIGIT = 1;
const K_AT = 2;
const K_DOT = 4;
const K_COLON = 8;
const K_DASH = 16;
const K_UNDERSCORE = 32;
const K_EQUALS = 64;
const K_J = 128;
const K_A = 256;
const K_X = 512;
const K_LETTER = 1024;
const K_HIGH = 2048;
const K_ALNUM = 1 << 31;
/** A digit or what may sit between a phone number's digits (space . ( ) - +): a stretch of these holds every card, phone and SSN. */
const K_NUMBERISH = 1 << 30;
const KINDS = (() => {
  const kinds = new Int32Array(256);
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if (/[0-9]/.test(ch)) kinds[c] |= K_DIGIT;
    if (/[A-Za-z]/.test(ch)) kinds[c] |= K_LETTER;
    if (/[A-Za-z0-9]/.test(ch)) kinds[c] |= K_ALNUM;
    if (/[0-9 .()+-]/.test(ch)) kinds[c] |= K_NUMBERISH;
  }
  const marks: Array<[string, number]> = [['@', K_AT], ['.', K_DOT], [':', K_COLON], ['-', K_DASH], ['_', K_UNDERSCORE],
    ['=', K_EQUALS], ['J', K_J], ['a', K_A], ['A', K_A], ['x', K_X], ['X', K_X]];
  for (const [ch, kind] of marks) kinds[ch.charCodeAt(0)] |= kind;
  for (let c = 128; c < 256; c++) kinds[c] = K_HIGH;
  return kinds;
})();


/** The run lengths (bits of `alnumRuns`) an AWS key id can end: 20, or 21 after an escape letter. */
const AWS_RUNS = (1 << 20) | (1 << 21);
/** Detectors whose first-pass evidence is all their screen has: nothing to refine. */
const UNREFINED = EMAIL;
/** Detectors refined by the full evidence pass rather than a targeted loop. */
const FULL_PASS = PHONE | IBAN | SSN | IPV4 | IPV6 | PRIVATE_KEY | GITHUB | SLACK | GENERIC;

/**
 * The detectors a value may match, judged only by which kinds of bytes it holds, how many digits one stretch of
 * digits and separators reached (bit t of `numbers` set: some stretch held at least t digits, t < 32), the lengths
 * its runs of letters and digits end with (bit n%32 of `alnumRuns` for a run of n), and its length.
 */
function candidates(kinds: number, numbers: number, alnumRuns: number, length: number): number {
  let c = 0;
  if (numbers & (1 << 13)) c |= CARD;
  if (kinds & K_AT) c |= EMAIL;
  if (numbers & (1 << 10)) c |= PHONE;
  // An IBAN's check digits follow each other; an IPv4 address is four numbers joined by dots.
  if (length >= 15 && numbers & (1 << 2) && kinds & K_LETTER) c |= IBAN;
  if (numbers & (1 << 9) && kinds & K_DASH) c |= SSN;
  if (numbers & (1 << 4) && kinds & K_DOT) c |= IPV4;
  if (kinds & K_COLON) c |= IPV6;
  if (kinds & K_J) c |= JWT;
  if (kinds & K_DASH) c |= PRIVATE_KEY;
  // An AWS key id is a whole run of 20 letters and digits (21 after the letter of an escape such as \n).
  if (alnumRuns & AWS_RUNS && kinds & K_A) c |= AWS;
  if (length >= 33 && kinds & K_UNDERSCORE) c |= GITHUB;
  if (length >= 15 && kinds & K_X) c |= SLACK;
  if (length >= 18 && kinds & (K_UNDERSCORE | K_DASH | K_EQUALS | K_COLON | K_A)) c |= GENERIC;
  return c;
}

/**
 * Screens `bytes[start, end)` for an action (see actionScreen): returns the DETECTOR_BITS of the detectors that
 * could match the value, plus NON_ASCII when a byte is >= 0x80. Not a match: only "not impossible". Bits of
 * detectors the action does not use are missing.
 */
export function screen(bytes: Uint8Array, start: number, end: number, action: ActionScreen): number {
  let kinds = 0;
  let alnum = 0;
  let alnumRuns = 0;
  let number = 0;
  let numbers = 0;
  for (let i = start; i < end; i++) {
    const k = KINDS[bytes[i]];
    kinds |= k;
    // Branch-free runs: each goes on while the byte is of its kind, and drops to 0 otherwise. A letter-and-digit
    // run that ends marks its length modulo 32 (a false mark only lets a value through to the exact check); the
    // digit count of a number stretch marks every count it passes (one at a time), so bit t means "reached t".
    // The sign bit is K_ALNUM, the next one K_NUMBERISH: an arithmetic shift turns each into a mask of 0 or -1.
    const inRun = k >> 31;
    alnumRuns |= (1 << alnum) & ~inRun;
    alnum = (alnum + 1) & inRun;
    number = (number + (k & K_DIGIT)) & ((k << 1) >> 31);
    numbers |= 1 << number;
  }
  alnumRuns |= 1 << alnum;
  const nonAscii = kinds & K_HIGH ? NON_ASCII : 0;
  let bits = action.mask & candidates(kinds, numbers, alnumRuns, end - start);
  if ((bits & ~UNREFINED) === 0) return bits | nonAscii;
  if (bits & CARD && !cardRun(bytes, start, end)) bits &= ~CARD;
  if (bits & AWS && !awsPrefix(bytes, start, end)) bits &= ~AWS;
  if (bits & JWT && !jwtHeader(bytes, start, end)) bits &= ~JWT;
  if (bits & FULL_PASS) bits &= evidence(bytes, start, end, action) | ~FULL_PASS;
  return bits | nonAscii;
}

/** Whether 13 digits follow each other, a single space or dash allowed between two (the card screen). */
function cardRun(bytes: Uint8Array, start: number, end: number): boolean {
  let run = 0;
  let afterSep = false;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c >= 0x30 && c <= 0x39) {
      if (++run >= 13) return true;
      afterSep = false;
    } else if ((c === 0x20 || c === 0x2d) && run > 0 && !afterSep) afterSep = true;
    else {
      run = 0;
      afterSep = false;
    }
  }
  return false;
}

/** Whether an `a` (either case) follows the first three letters of an AWS key id prefix. */
function awsPrefix(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start + 3; i < end; i++) {
    if ((bytes[i] | 0x20) === 0x61 && AWS_PREFIXES.has(lowerBefore(bytes, start, i))) return true;
  }
  return false;
}

/** Whether `eyJ` (a base64url JSON object's start) occurs. */
function jwtHeader(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start + 2; i < end; i++) {
    if (bytes[i] === 0x4a && bytes[i - 1] === 0x79 && bytes[i - 2] === 0x65) return true;
  }
  return false;
}

/** What screening needs to know about an action, computed once per action. */
export interface ActionScreen {
  /** Its detectors' DETECTOR_BITS, plus PATTERNS when it has operator patterns. */
  mask: number;
  classes: Uint8Array;
  /** 1 for the bytes the screen must look at: its detectors' special characters, digits when a detector follows them, >= 0x80. */
  stops: Uint8Array;
}

const screens = new WeakMap<ContentAction, ActionScreen>();

/** The screening data of an action (its mask and byte classes), cached per action object. */
export function actionScreen(action: ContentAction): ActionScreen {
  let found = screens.get(action);
  if (found === undefined) {
    let mask = action.patterns.length > 0 ? PATTERNS : 0;
    for (const d of action.detectors) mask |= DETECTOR_BITS[d.detector];
    found = { mask, classes: classTable(mask), stops: stopTable(mask) };
    screens.set(action, found);
  }
  return found;
}
