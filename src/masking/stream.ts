/**
 * Content masking of a byte stream (PTY output, exec stdout/stderr, SFTP file data read as text): the masking rules'
 * detectors and operator patterns, applied across chunk boundaries, so a card number split over two packets is
 * still masked. Column and type rules do not apply to streams (a stream has no columns); detectors and patterns of
 * every rule do, scoped or not, as for free text.
 *
 * How it stays correct across splits: `push()` emits only text no later byte can change. It holds back
 * - the trailing run of characters a match can be made of (letters, digits and `._%+-@():/=~"'\` and blanks): every
 *   detector's match lies inside such a run, and a run that a non-member ends is decided (lookaheads read one or two
 *   characters, which the non-member settles);
 * - with operator patterns (which can match anything), the current line;
 * - a match that reaches the end of what arrived (a private key block whose END line has not come yet);
 * - an unfinished escape sequence or UTF-8 character.
 * Escape sequences are seen as stream-view.ts says (colours do not hide a card number). The last CONTEXT characters
 * already emitted are kept, unmasked and not re-emitted, so lookbehinds see them.
 *
 * The bound: at most `maxHold` characters (default DEFAULT_MAX_HOLD) are held. Past it the oldest are emitted; a
 * match they cut is replaced whole as far as it arrived, and the rest of it is dropped (a private key up to its END
 * line or closing quote, any other match up to the end of its run), so a secret recognised within the bound is never
 * emitted in part (a value whose detector needs more than the bound to recognise it, such as a JWT whose payload
 * alone is longer, is not protected). Only then can output differ from masking the whole stream at once. `flush()` (at idle, at the end)
 * emits everything held, masked as if the stream ended there: a value split by an idle gap longer than the engine's
 * idle timer is masked only if each part is a match. Replacements: redact '[REDACTED]', partial and hash as for SQL
 * (strategies.ts), null as '[REDACTED]'. Pure state machine: no I/O, no timers.
 */
import { scanDetector } from './detectors.js';
import { isEscaped } from './scan.js';
import { compileRules, type ContentAction, type MaskRules } from './rules.js';
import { buildView, type StreamView } from './stream-view.js';
import { hitReplacement, keptHits } from './text.js';

/** Default bound on held characters: longer than a JWT or an RSA-4096 PEM key block. */
export const DEFAULT_MAX_HOLD = 8192;
/** Characters kept before the emitted position as lookbehind context. */
export const CONTEXT = 128;

const MEMBER = /[\p{L}\p{N}._%+\-@():/=~"'\\ \t]/u;
const PEM_END = /-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----/gi;

/** Options of a StreamMasker. */
export interface StreamMaskerOptions {
  /** Most characters held back (default DEFAULT_MAX_HOLD, at least 256). */
  maxHold?: number;
}

type Suppress = { kind: 'pem' } | { kind: 'run' } | null;

/** Masks one stream (one direction of one channel); not shared between streams. */
export class StreamMasker {
  /** Matches replaced so far, by rule ("policy/rule"), for the recording. */
  readonly hits = new Map<string, number>();
  private raw: Buffer = Buffer.alloc(0);
  /** raw[0..emitted) was emitted already (kept as context). */
  private emitted = 0;
  private suppress: Suppress = null;
  private readonly maxHold: number;
  private readonly patterns: boolean;

  /** The masker for a session's rules, or null when no rule scans content (then pass bytes through untouched). */
  static forRules(rules: MaskRules, hashKey: Buffer, options: StreamMaskerOptions = {}): StreamMasker | null {
    const action = compileRules(rules).freeText;
    return action === null ? null : new StreamMasker(action, hashKey, options);
  }

  constructor(private readonly action: ContentAction, private readonly hashKey: Buffer, options: StreamMaskerOptions = {}) {
    this.maxHold = Math.max(256, options.maxHold ?? DEFAULT_MAX_HOLD);
    this.patterns = action.patterns.length > 0;
  }

  /** Bytes held back now. */
  get pending(): number {
    return this.raw.length - this.emitted;
  }

  /** Takes a chunk; returns the bytes that are safe to emit now (possibly none). */
  push(chunk: Uint8Array): Buffer {
    this.raw = this.raw.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.raw, chunk]);
    return this.process(false);
  }

  /** Emits everything held, masked as if the stream ended here (call at idle and at the end). */
  flush(): Buffer {
    return this.process(true);
  }

  private process(final: boolean): Buffer {
    const view = buildView(this.raw, final);
    let start = view.unitAt(this.emitted);
    // Bytes already emitted end here; escapes between them and the first unit are not emitted yet.
    let rawPos = this.emitted;
    if (this.suppress !== null) {
      start = this.skipSuppressed(view, start, final);
      if (start < 0) return Buffer.alloc(0);
      rawPos = start < view.text.length ? view.start(start) : view.complete;
    }
    const text = view.text;
    const n = text.length;
    const kept = this.decidedHits(text, start);
    let hold = final ? n : settle(kept, this.trailingRun(text, start), n);
    // The bound: emit the oldest held characters; a match cut by it is handled below.
    if (n - hold > this.maxHold) hold = n - this.maxHold;
    const out: Buffer[] = [];
    for (let k = 0; k < kept.length; k += 3) {
      const [s, e, source] = [kept[k], kept[k + 1], kept[k + 2]];
      if (s >= hold) break;
      out.push(this.raw.subarray(rawPos, view.start(s)), this.replace(text.slice(s, e), source, view, s, e));
      rawPos = view.end(e - 1);
      if (e > hold) {
        // Only past the bound: the rest of this match must never come out later.
        this.suppress = this.sourceIsPrivateKey(source) ? { kind: 'pem' } : { kind: 'run' };
        hold = e;
      }
    }
    const rawCut = Math.max(rawPos, hold < n ? view.start(hold) : final ? this.raw.length : view.complete);
    if (rawCut > rawPos) out.push(this.raw.subarray(rawPos, rawCut));
    this.keep(view, hold, rawCut);
    return Buffer.concat(out);
  }

  /** The kept hits (flat triples) that start at or after `start`, earliest then longest, not overlapping. */
  private decidedHits(text: string, start: number): number[] {
    const hits: number[] = [];
    const { detectors, patterns } = this.action;
    for (let d = 0; d < detectors.length; d++) {
      for (const [s, e] of scanDetector(detectors[d].detector, text)) if (s >= start) hits.push(s, e, d);
    }
    for (let p = 0; p < patterns.length; p++) {
      const re = patterns[p].regex;
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex = m.index + 1;
          continue;
        }
        if (m.index >= start) hits.push(m.index, m.index + m[0].length, detectors.length + p);
      }
    }
    const order = keptHits(hits, (i) => isEscaped(text, i));
    return order.flatMap((i) => [hits[3 * i], hits[3 * i + 1], hits[3 * i + 2]]);
  }

  /** Where the trailing text that a later byte could still change starts (see the module comment). */
  private trailingRun(text: string, start: number): number {
    let i = text.length;
    let blanks = true;
    while (i > start && isMember(text, i - 1)) {
      blanks &&= text[i - 1] === ' ' || text[i - 1] === '\t';
      i--;
    }
    // No detector's match starts with a blank: trailing blanks alone (a prompt's "$ ") can go out now.
    if (blanks) i = text.length;
    if (this.patterns) {
      const line = text.lastIndexOf('\n') + 1;
      if (line > start && line < i) i = line;
      else if (line <= start) i = start;
    }
    return i;
  }

  private replace(match: string, source: number, view: StreamView, s: number, e: number): Buffer {
    const rule = source < this.action.detectors.length ? this.action.detectors[source].rule
      : this.action.patterns[source - this.action.detectors.length].rule;
    this.hits.set(rule, (this.hits.get(rule) ?? 0) + 1);
    const parts: Buffer[] = [Buffer.from(hitReplacement(match, source, this.action, this.hashKey), 'utf8')];
    // Escape sequences inside the match are kept after the replacement, so colours and modes stay as the host set them.
    for (let u = s; u + 1 < e; u++) {
      const gapFrom = view.end(u);
      const gapTo = view.start(u + 1);
      if (gapTo > gapFrom) parts.push(this.raw.subarray(gapFrom, gapTo));
    }
    return Buffer.concat(parts);
  }

  private sourceIsPrivateKey(source: number): boolean {
    return source < this.action.detectors.length && this.action.detectors[source].detector === 'private_key';
  }

  /**
   * After a forced cut through a match: drops the rest of it (a key block to its END line or closing quote, another
   * match to the end of its run). Returns the first unit to process normally, or -1 when everything was dropped.
   */
  private skipSuppressed(view: StreamView, from: number, final: boolean): number {
    const text = view.text;
    let end = -1;
    if (this.suppress?.kind === 'pem') {
      PEM_END.lastIndex = from;
      const m = PEM_END.exec(text);
      let quote = text.indexOf('"', from);
      while (quote >= 0 && isEscaped(text, quote)) quote = text.indexOf('"', quote + 1);
      if (m !== null) end = m.index + m[0].length;
      // Like the detector: an unescaped quote before the END line ends the block (a key inside a JSON string).
      if (quote >= 0 && (m === null || quote < m.index)) end = quote;
    } else {
      let i = from;
      while (i < text.length && isMember(text, i) && text[i] !== ' ' && text[i] !== '\t') i++;
      if (i < text.length) end = i;
    }
    if (end < 0 && final) end = text.length;
    if (end < 0) {
      // Keep a tail that could be the start of the END line; drop the rest.
      const keepFrom = this.suppress?.kind === 'pem' ? Math.max(from, text.length - 40) : text.length;
      const cut = keepFrom < text.length ? view.start(keepFrom) : view.complete;
      this.raw = this.raw.subarray(cut);
      this.emitted = 0;
      return -1;
    }
    this.suppress = null;
    return end;
  }

  /** Keeps what is not emitted yet plus up to CONTEXT emitted characters before it. */
  private keep(view: StreamView, hold: number, rawCut: number): void {
    const ctxUnit = Math.max(0, hold - CONTEXT);
    const keepFrom = ctxUnit < view.text.length ? Math.min(view.start(ctxUnit), rawCut) : rawCut;
    this.raw = this.raw.subarray(keepFrom);
    this.emitted = rawCut - keepFrom;
  }
}

function isMember(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0x80) return MEMBER.test(text[i]);
  if (c >= 0xdc00 && c <= 0xdfff && i > 0) return MEMBER.test(text.slice(i - 1, i + 1));
  if (c >= 0xd800 && c <= 0xdbff) return MEMBER.test(text.slice(i, i + 2));
  return MEMBER.test(text[i]);
}

/** The hold, moved back to the start of any hit that reaches the end or crosses it (hits are in text order). */
function settle(kept: number[], hold: number, n: number): number {
  for (let k = kept.length - 3; k >= 0; k -= 3) {
    const s = kept[k];
    const e = kept[k + 1];
    if (s < hold && (e >= n || e > hold)) hold = s;
  }
  return hold;
}
