/**
 * Detectors for personal data: payment cards, e-mail addresses, phone numbers, IBANs, US social security numbers,
 * IPv4 and IPv6 addresses. Each one is a cheap pre-filter plus a scan that validates its candidates (Luhn, mod-97,
 * SSN area rules, octet ranges, node:net's IPv6 parser), because masking a random digit run in someone's result is
 * a bug too. Pure: no I/O; the module's RegExps are shared and always restarted from lastIndex 0.
 */
import { isIPv6 } from 'node:net';
import {
  IBAN_LENGTHS, IBAN_MAX, IBAN_MIN, NOT_AFTER_WORD, NO_RANGES, digitCount, hasChars, hasDigits, ibanChecksumValid,
  isEscaped, luhnValid, regexRanges, type Range,
} from './scan.js';

/** A detector: `pre` must be cheap and never miss what `find` would find. */
export interface Detector {
  pre(text: string): boolean;
  find(text: string): Range[];
}

// A run of digit groups (3+ digits each, single space or dash between): where cards live. Not inside a word, not
// the fraction of a decimal ("0.4111111111111111" from random() is not a card), not followed by more of a number.
const CARD_RUN = new RegExp(
  String.raw`(?<![0-9])(?<!\d\.)(?<!(?<!\\)[A-Za-z_])\d{3,}(?:[ -]\d{3,})*(?![0-9A-Za-z_])(?!\.\d)`, 'g');

/**
 * Cards in one digit-group run: windows of whole groups holding 13-19 digits that pass Luhn, earliest first and
 * then longest, so "4111 1111 1111 1111 2024" still yields the card and two cards in one run yield two matches.
 */
function cardsInRun(text: string, start: number, end: number, out: Range[]): void {
  const bounds: number[] = [];
  let groupStart = start;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 32;
    if (c === 32 || c === 45) {
      bounds.push(groupStart, i);
      groupStart = i + 1;
    }
  }
  const groups = bounds.length / 2;
  for (let i = 0; i < groups; ) {
    let best = -1;
    let digits = '';
    for (let j = i; j < groups; j++) {
      digits += text.slice(bounds[2 * j], bounds[2 * j + 1]);
      if (digits.length > 19) break;
      if (digits.length >= 13 && luhnValid(digits)) best = j;
    }
    if (best < 0) {
      i++;
      continue;
    }
    out.push([bounds[2 * i], bounds[2 * best + 1]]);
    i = best + 1;
  }
}

const card: Detector = {
  pre: (text) => hasDigits(text, 13),
  find(text) {
    const out: Range[] = [];
    CARD_RUN.lastIndex = 0;
    for (let m = CARD_RUN.exec(text); m !== null; m = CARD_RUN.exec(text)) {
      cardsInRun(text, m.index, m.index + m[0].length, out);
    }
    return out.length > 0 ? out : NO_RANGES;
  },
};

// E-mail addresses are found from each '@' outwards: the local part by walking back over its characters, the
// domain by a sticky RegExp anchored right after the '@'. A whole-text RegExp would try every start position
// (and go quadratic on a long run of local characters); this is linear and mostly native indexOf.
// Letters and digits of any script count: internationalised addresses (RFC 6531) are personal data too.
const EMAIL_DOMAIN = /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}(?![\p{L}\p{N}-])/uy;
const UNICODE_ALNUM = /^[\p{L}\p{N}]$/u;
const LOCAL_ASCII = new Uint8Array(128);
for (const ch of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-') LOCAL_ASCII[ch.charCodeAt(0)] = 1;

/** The width (0, 1 or 2 UTF-16 units) of the local-part character that ends right before `i`. */
function localCharBefore(text: string, i: number): number {
  const c = text.charCodeAt(i - 1);
  if (c < 128) return LOCAL_ASCII[c];
  if (c >= 0xdc00 && c <= 0xdfff && i >= 2) return UNICODE_ALNUM.test(text.slice(i - 2, i)) ? 2 : 0;
  return UNICODE_ALNUM.test(text[i - 1]) ? 1 : 0;
}

/** The start of the local part ending at `at`, or -1 when there is none (or it is longer than 64 characters). */
function localStart(text: string, at: number): number {
  let start = at;
  for (let width = start > 0 ? localCharBefore(text, start) : 0; width > 0; width = start > 0 ? localCharBefore(text, start) : 0) {
    start -= width;
  }
  // After an escaped newline in JSON text (`\nbob@...`) the `n` belongs to the escape, not to the address.
  if (start >= 1 && text.charCodeAt(start - 1) === 92 && 'nrtbf'.includes(text[start]) && !isEscaped(text, start - 1)) start++;
  return start === at || at - start > 64 ? -1 : start;
}

function findEmails(text: string): Range[] {
  let out: Range[] | undefined;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    const start = localStart(text, at);
    if (start < 0) continue;
    // test() and lastIndex rather than exec(): no match array to allocate, on the hottest detector.
    EMAIL_DOMAIN.lastIndex = at + 1;
    if (!EMAIL_DOMAIN.test(text)) continue;
    const end = EMAIL_DOMAIN.lastIndex;
    (out ??= []).push([start, end]);
    at = end - 1;
  }
  return out ?? NO_RANGES;
}

const email: Detector = { pre: (text) => text.includes('@'), find: findEmails };

// Phones need a phone's shape: a leading +, the 00 international prefix, a NANP layout or a 0-prefixed national
// number, always with separators unless the + is there. A bare run of digits is an id, not a phone. Never right
// after "digit separator": that is the inside of a card or an IBAN, not the start of a phone number.
const PHONE = new RegExp(
  [
    String.raw`(?<![\w+])\+\d(?:[ .()-]{0,2}\d){9,14}(?!\d)`,
    String.raw`(?<![\w+.-])(?<!\d[ -])(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])`,
    String.raw`(?<![\w+.-])(?<!\d[ -])00[1-9]\d{0,2}(?:[ .-]\d{1,5}){2,6}(?![\w-])`,
    String.raw`(?<![\w+.:-])(?<!\d[ -])0\d{1,4}(?:[ -]\d{2,4}){2,4}(?![\w:-])`,
  ].join('|'),
  'g',
);

const phone: Detector = {
  pre: (text) => hasDigits(text, 10),
  find: (text) =>
    regexRanges(PHONE, text, (m) => {
      const n = digitCount(m[0]);
      return n >= 10 && n <= 15;
    }),
};

const IBAN = new RegExp(String.raw`${NOT_AFTER_WORD}[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}`, 'g');

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Cuts an IBAN candidate to its country's length and checks mod-97; lower case only for known countries. */
function acceptIban(m: RegExpExecArray, text: string): boolean | Range {
  const candidate = m[0];
  const country = candidate.slice(0, 2);
  const want = IBAN_LENGTHS[country.toUpperCase()];
  let compact = '';
  let end = candidate.length;
  for (let i = 0; i < candidate.length; i++) {
    if (candidate.charCodeAt(i) === 32) continue;
    compact += candidate[i];
    if (compact.length === want) {
      end = i + 1;
      break;
    }
  }
  if (want === undefined) {
    if (compact !== compact.toUpperCase() || compact.length < IBAN_MIN || compact.length > IBAN_MAX) return false;
  } else if (compact.length !== want) return false;
  // The IBAN must end where the text's token ends: "GB82WEST12345698765432XYZ" is something else.
  if (m.index + end < text.length && isAlnum(text.charCodeAt(m.index + end))) return false;
  return ibanChecksumValid(compact.toUpperCase()) ? [m.index, m.index + end] : false;
}

const iban: Detector = {
  pre: (text) => text.length >= IBAN_MIN && hasDigits(text, 2),
  find: (text) => regexRanges(IBAN, text, acceptIban),
};

const SSN = /(?<!\d|\d-)(\d{3})-(\d{2})-(\d{4})(?!\d|-\d)/g;

const ssn: Detector = {
  pre: (text) => hasDigits(text, 9) && text.includes('-'),
  find: (text) =>
    regexRanges(SSN, text, (m) => {
      const [, area, group, serial] = m;
      return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
    }),
};

const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)/g;

const ipv4: Detector = {
  pre: (text) => hasChars(text, '.', 3),
  find: (text) => regexRanges(IPV4, text, (m) => m[0].split('.').every((octet) => Number(octet) <= 255)),
};

// Candidates: hex and colons with at least two colons, optionally an embedded IPv4 tail; node:net decides.
// "std::vector" is not a candidate (a word runs into it), "12:34:56" is one and node:net rejects it.
const IPV6 = new RegExp(
  String.raw`${NOT_AFTER_WORD}(?<![:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}` +
    String.raw`(?:\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)`, 'g');

const ipv6: Detector = {
  pre: (text) => hasChars(text, ':', 2),
  find: (text) => regexRanges(IPV6, text, (m) => /[0-9A-Fa-f]/.test(m[0]) && isIPv6(m[0])),
};

/** The personal-data detectors by name. */
export const PII_DETECTORS = { card, email, phone, iban, ssn, ipv4, ipv6 } as const;
