/**
 * The content detectors masking rules name (`detectors: [card, email, jwt]`): the public entry points that find
 * validated matches in a text, the registry of all detectors, and the credential detectors themselves (JSON Web
 * Tokens, PEM private keys, AWS access key ids, GitHub, Slack and other vendor tokens, `key=`/`token=` assignments
 * of long secrets). Credential formats carry their own evidence (fixed prefixes, a JWT header that decodes to JSON
 * with "alg"), so false positives stay rare without checksums; personal data lives in detectors-pii.ts.
 * This module owns the list of names and must stay in step with MASK_DETECTORS in the policy schema (a test checks
 * it). Pure: no I/O, no state beyond shared RegExps, which are always restarted from lastIndex 0.
 */
import { PII_DETECTORS, type Detector } from './detectors-pii.js';
import { NOT_AFTER_WORD, NO_RANGES, isEscaped, regexRanges, type Range } from './scan.js';

const JWT = new RegExp(
  String.raw`(?<!(?<!\\)[A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*`, 'g');

/** A JWT's header is base64url JSON naming its algorithm; anything else that happens to start with eyJ is not. */
function jwtHeaderValid(token: string): boolean {
  const header = token.slice(0, token.indexOf('.'));
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

const jwt: Detector = {
  pre: (text) => text.includes('eyJ'),
  find: (text) => regexRanges(JWT, text, (m) => jwtHeaderValid(m[0])),
};

const PEM_BEGIN = /-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----/gi;
const PEM_END = /-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----/gi;

/**
 * The end of an unterminated key block: the first unescaped double quote (the end of the JSON string holding it)
 * or the end of the text. A truncated key (left(key, 200)) is still key material and must not leak.
 */
function unterminatedEnd(text: string, from: number): number {
  for (let i = text.indexOf('"', from); i >= 0; i = text.indexOf('"', i + 1)) {
    if (!isEscaped(text, i)) return i;
  }
  return text.length;
}

const privateKey: Detector = {
  pre: (text) => text.includes('-----'),
  find(text) {
    let out: Range[] | undefined;
    PEM_BEGIN.lastIndex = 0;
    for (let m = PEM_BEGIN.exec(text); m !== null; m = PEM_BEGIN.exec(text)) {
      const bodyStart = m.index + m[0].length;
      PEM_END.lastIndex = bodyStart;
      const close = PEM_END.exec(text);
      const end = close === null ? unterminatedEnd(text, bodyStart) : close.index + close[0].length;
      (out ??= []).push([m.index, end]);
      PEM_BEGIN.lastIndex = end;
    }
    return out ?? NO_RANGES;
  },
};

// Case-insensitive so that lower(key) is still caught; a lower-cased match must hold a digit to count (real key
// ids almost always do, English words never do).
const AWS = /(?<!(?<!\\)[A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Za-z0-9])/gi;

const awsAccessKey: Detector = {
  pre: (text) => text.length >= 20,
  find: (text) =>
    regexRanges(AWS, text, (m) => {
      const key = m[0];
      if (key === key.toUpperCase()) return true;
      return key === key.toLowerCase() && /\d/.test(key);
    }),
};

const GITHUB = new RegExp(String.raw`${NOT_AFTER_WORD}(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`, 'gi');

const githubToken: Detector = {
  pre: (text) => text.length >= 33,
  find: (text) => regexRanges(GITHUB, text),
};

const SLACK = new RegExp(String.raw`${NOT_AFTER_WORD}xox[abposr]-[A-Za-z0-9-]{10,}`, 'gi');

const slackToken: Detector = {
  pre: (text) => text.length >= 15 && (text.includes('xox') || text.includes('XOX')),
  find: (text) => regexRanges(SLACK, text),
};

// Vendor prefixes: Stripe secret and restricted keys, Google API keys, GitLab and npm tokens.
const PREFIXED = new RegExp(
  String.raw`${NOT_AFTER_WORD}(?:[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}` +
    String.raw`|npm_[A-Za-z0-9]{36,})`, 'g');

// name = value assignments (also "name": "value" in JSON and name: value in YAML); only the value is masked, and only
// when it looks like a secret: 20+ characters holding both letters and digits.
const ASSIGNMENT = new RegExp(
  String.raw`(?<!(?<!\\)[A-Za-z0-9])(?:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|access[_-]?token|` +
    String.raw`auth[_-]?token|secret|token|password|passwd|key)["']?\s*[:=]\s*["']?([A-Za-z0-9_+/.=~-]{20,})`, 'gi');

function secretLike(value: string): boolean {
  return /[A-Za-z]/.test(value) && /\d/.test(value);
}

const genericApiKey: Detector = {
  pre: (text) => text.length >= 20,
  find(text) {
    const prefixed = regexRanges(PREFIXED, text);
    const assigned = regexRanges(ASSIGNMENT, text, (m) => {
      const value = m[1];
      const end = m.index + m[0].length;
      return secretLike(value) ? [end - value.length, end] : false;
    });
    if (assigned.length === 0) return prefixed;
    if (prefixed.length === 0) return assigned;
    return [...prefixed, ...assigned].sort((a, b) => a[0] - b[0]);
  },
};


/** The name of a content detector. */
export type DetectorName =
  | 'card' | 'email' | 'phone' | 'iban' | 'ssn' | 'ipv4' | 'ipv6' | 'jwt' | 'private_key' | 'aws_access_key'
  | 'github_token' | 'slack_token' | 'generic_api_key';

const DETECTORS: Record<DetectorName, Detector> = {
  ...PII_DETECTORS, jwt, private_key: privateKey, aws_access_key: awsAccessKey, github_token: githubToken,
  slack_token: slackToken, generic_api_key: genericApiKey,
};

/** True when `name` is a detector this module implements. */
export function isDetectorName(name: string): name is DetectorName {
  return Object.hasOwn(DETECTORS, name);
}

/**
 * The validated matches of one detector in `text`, as [start, end) UTF-16 offsets in ascending order. Each detector
 * runs a cheap pre-filter first (a card needs 13 digits, an e-mail an `@`, a JWT `eyJ`) and returns an empty list
 * without touching a RegExp when it fails. The returned array is the caller's to keep.
 */
export function findMatches(detector: DetectorName, text: string): Array<[number, number]> {
  const found = scanDetector(detector, text);
  // Every list but the shared empty one is fresh per call, so handing it out is safe.
  return found === NO_RANGES ? [] : (found as Range[]);
}

/** A detector's scan as a function (see scanDetector), looked up once by callers that run it for many values. */
export function detectorScan(detector: DetectorName): (text: string, screened: boolean) => readonly Range[] {
  const impl = DETECTORS[detector];
  return (text, screened) => (screened || impl.pre(text) ? impl.find(text) : NO_RANGES);
}

/**
 * The matches of one detector for internal callers: may return the shared empty list (never mutate it). This is
 * the hot path of content masking; it allocates nothing when the pre-filter fails. `screened` skips the string
 * pre-filter for values the byte screen already passed for this detector.
 */
export function scanDetector(detector: DetectorName, text: string, screened = false): readonly Range[] {
  const impl = DETECTORS[detector];
  // A value the byte screen (screen.ts) let through has passed an equivalent or stronger check already.
  return screened || impl.pre(text) ? impl.find(text) : NO_RANGES;
}
