/**
 * Content masking that keeps every byte where it is: for payloads inside length-prefixed frames (SFTP READ replies)
 * where changing a length would break the protocol or the file's offsets. Matches are overwritten byte for byte:
 * redact, hash and null write '*' over each byte of the match (a hash token cannot keep the length, so it degrades
 * to redact); partial keeps the last four ASCII letters and digits in place (when the match holds at least eight,
 * as strategies.ts' partial does) and, for an e-mail, the `@` and domain, writing '*' over the rest.
 * Detectors read the bytes as latin1 (one character per byte, so offsets are byte offsets): ASCII values are found
 * exactly as in text; a value with non-ASCII letters (an internationalised e-mail) may be found in part.
 * The caller gives context (bytes before, already emitted: never rewritten) and lookahead (bytes after, emitted
 * later: rewritten when their own turn comes), so a value across two frames is found in both. Pure: no I/O.
 */
import { contentHits } from './content-hits.js';
import { compileRules, type ContentAction, type MaskRules } from './rules.js';
import { isEscaped } from './scan.js';
import { keptHits } from './text.js';

const STAR = 0x2a;

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Same-length masking with one set of rules. */
export class SameLengthMasker {
  /** Matches overwritten so far, by rule. */
  readonly hits = new Map<string, number>();

  /** The masker for a session's rules, or null when no rule scans content. */
  static forRules(rules: MaskRules): SameLengthMasker | null {
    const action = compileRules(rules).freeText;
    return action === null ? null : new SameLengthMasker(action);
  }

  constructor(private readonly action: ContentAction) {}

  /**
   * Overwrites the matches that touch bytes[start, end) (in place), seeing `context` before and `lookahead` after
   * them. Returns how many matches were overwritten.
   */
  mask(bytes: Buffer, start: number, end: number, context: Buffer = Buffer.alloc(0), lookahead: Buffer = Buffer.alloc(0)): number {
    const text = context.toString('latin1') + bytes.toString('latin1', start, end) + lookahead.toString('latin1');
    const from = context.length;
    const to = from + (end - start);
    const hits = contentHits(this.action, text, (s, e) => e > from && s < to);
    const { detectors, patterns } = this.action;
    if (hits.length === 0) return 0;
    let count = 0;
    for (const i of keptHits(hits, (at) => isEscaped(text, at))) {
      const [s, e, source] = [hits[3 * i], hits[3 * i + 1], hits[3 * i + 2]];
      const item = source < detectors.length ? detectors[source] : patterns[source - detectors.length];
      const keep = item.strategy === 'partial' ? keptPositions(text, s, e, source < detectors.length ? detectors[source].detector : 'pattern') : null;
      for (let k = Math.max(s, from); k < Math.min(e, to); k++) {
        if (keep === null || !keep(k)) bytes[start + k - from] = STAR;
      }
      this.hits.set(item.rule, (this.hits.get(item.rule) ?? 0) + 1);
      count++;
    }
    return count;
  }
}

/** Which positions of a match partial masking keeps: an e-mail's `@domain`, else the last four letters and digits. */
function keptPositions(text: string, s: number, e: number, kind: string): (k: number) => boolean {
  if (kind === 'email') {
    const at = text.lastIndexOf('@', e - 1);
    if (at >= s) return (k) => k >= at;
  }
  const alnum: number[] = [];
  for (let k = s; k < e; k++) if (isAlnum(text.charCodeAt(k))) alnum.push(k);
  if (alnum.length < 8) return () => false;
  const last = new Set(alnum.slice(-4));
  return (k) => last.has(k);
}
