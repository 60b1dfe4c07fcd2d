/**
 * What a masked value becomes: the four strategies a rule may name (redact, partial, hash, null). This module owns
 * the exact output formats, which callers and their tests rely on, and must never return (or log) any part of
 * the original value beyond what a strategy is defined to keep: partial keeps an e-mail's domain or the last four
 * letters and digits of a long enough value; hash keeps nothing but a keyed, truncated HMAC. Pure: no I/O.
 */
import { createHmac } from 'node:crypto';

/** How a masked value is rewritten. */
export type Strategy = 'redact' | 'partial' | 'hash' | 'null';

/** What redact (and null inside a larger text) puts in place of a value. */
export const REDACTED = '[REDACTED]';

/** What partial leaves when a value is too short to show any of it. */
const STARS = '****';

/**
 * Partial masking shows the last four letters and digits only when at least this many exist, so that at least half
 * of the value stays hidden: '****1111' for a card or an SSN, '****' for a 6-character PIN or a 5-letter name.
 */
const PARTIAL_MIN_ALNUM = 8;

// ASCII first: the common case, and a non-unicode RegExp is markedly cheaper per call.
const DOMAIN_ASCII = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$/;
const DOMAIN = /^(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+\p{L}{2,}$/u;

/**
 * The masked form of `value`. `kind` is the detector that found it, or 'column' when a whole column value is masked
 * (a column value that is an e-mail address keeps its domain under partial, like an `email` match does).
 * redact: '[REDACTED]'. partial: '***@example.com' for an e-mail, else '****' + the last four letters and digits
 * (nothing else kept) when the value holds at least 8 of them, else '****'. hash: 'h_' + the first 16 characters of
 * base64url(HMAC-SHA256(hashKey, value)): equal values give equal tokens under one key, so joins and GROUP BY on
 * masked output still work, and a different key gives unrelated tokens. null: null (SQL NULL); callers masking a
 * match inside a larger text use '[REDACTED]' instead.
 */
export function maskValue(strategy: Strategy, value: string, kind: string, hashKey: Buffer): string | null {
  switch (strategy) {
    case 'redact':
      return REDACTED;
    case 'null':
      return null;
    case 'hash':
      return hashToken(value, hashKey);
    case 'partial':
      return partial(value, kind);
  }
}

/** The deterministic token of `value` under `hashKey` (see maskValue). */
export function hashToken(value: string, hashKey: Buffer): string {
  return `h_${createHmac('sha256', hashKey).update(value, 'utf8').digest('base64url').slice(0, 16)}`;
}

function partial(value: string, kind: string): string {
  if (kind === 'email' || kind === 'column') {
    const at = value.lastIndexOf('@');
    if (at > 0) {
      const domain = value.slice(at + 1);
      // The email detector validated its match already; a column value may be anything.
      if (kind === 'email' || DOMAIN_ASCII.test(domain) || DOMAIN.test(domain)) return `***@${domain}`;
    }
  }
  return lastFour(value);
}

const ALNUM = /[\p{L}\p{N}]/u;

function isAlnumCode(code: number, char: string): boolean {
  if (code < 128) return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
  return ALNUM.test(char);
}

/** '****' + the last four letters or digits (by code point), or '****' when fewer than PARTIAL_MIN_ALNUM exist. */
function lastFour(value: string): string {
  let kept = '';
  let keptCount = 0;
  let total = 0;
  // From the end: the last four are found first; the rest of the walk only counts (and stops once enough).
  for (let i = value.length - 1; i >= 0; i--) {
    let code = value.charCodeAt(i);
    let char = value[i];
    if (code >= 0xdc00 && code <= 0xdfff && i > 0) {
      const high = value.charCodeAt(i - 1);
      if (high >= 0xd800 && high <= 0xdbff) {
        char = value.slice(i - 1, i + 1);
        code = char.codePointAt(0) ?? code;
        i--;
      }
    }
    if (!isAlnumCode(code, char)) continue;
    total++;
    if (keptCount < 4) {
      kept = char + kept;
      keptCount++;
    } else if (total >= PARTIAL_MIN_ALNUM) break;
  }
  return total >= PARTIAL_MIN_ALNUM ? STARS + kept : STARS;
}
