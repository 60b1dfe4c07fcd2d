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
 * alone is longer, is not protected). Only then can output differ from masking the whole stream at once.
 *
 * Releasing early fails closed. `release()` (a terminal gone quiet: a prompt, the echo of a typed key) emits what is
 * held, but the held end that could be the beginning of a value (value-start.ts: a trailing digit, an e-mail past
 * its `@`, a token's prefix) is written as one `*` per character (blanks and escapes kept), and what continues it
 * (the characters of the run up to a blank or a non-member) is written as `*`s too when it comes. A match that began
 * in text released earlier and runs on into new text has its new part replaced. So a program that prints a card
 * number digit by digit, or pauses inside one, shows `*`s, never a digit. `flush()` (at the end) emits everything
 * held, masked as if the stream ended there. Replacements: redact '[REDACTED]', partial and hash as for SQL
 * (strategies.ts), null as '[REDACTED]'. Pure state machine: no I/O, no timers.
 */
import { contentHits } from './content-hits.js';
import { isEscaped } from './scan.js';
import { compileRules, type ContentAction, type MaskRules } from './rules.js';
import { buildView, type StreamView } from './stream-view.js';
import { hitReplacement, keptHits } from './text.js';
import { valueStart } from './value-start.js';

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

/**
 * What happens to the text that comes next: `pem` and `run` drop the rest of a match cut by the bound (to its END
 * line, to the end of its run); `mask` writes the rest of a run released early as `*`s.
 */
type Suppress = { kind: 'pem' } | { kind: 'run' } | { kind: 'mask' } | null;

/** How much process() may emit: what is decided (push), all with value starts masked (quiet), all (final). */
type Mode = 'push' | 'quiet' | 'final';

const STAR = Buffer.from('*');

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
    return this.process('push');
  }

  /**
   * Emits what is held because the stream went quiet, failing closed: the held end that could be the beginning of
   * a value is written as `*`s, and so is what continues it (see the module comment).
   */
  release(): Buffer {
    return this.process('quiet');
  }

  /** Emits everything held, masked as if the stream ended here (call at the end). */
  flush(): Buffer {
    return this.process('final');
  }

  private process(mode: Mode): Buffer {
    const final = mode === 'final';
    const view = buildView(this.raw, final);
    let start = view.unitAt(this.emitted);
    // Bytes already emitted end here; escapes between them and the first unit are not emitted yet.
    let rawPos = this.emitted;
    const out: Buffer[] = [];
    if (this.suppress?.kind === 'mask') {
      [start, rawPos] = this.maskContinuation(view, start, rawPos, final, out);
    } else if (this.suppress !== null) {
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
    let starFrom = n;
    if (mode === 'quiet' && hold < n) {
      starFrom = this.quietStars(text, hold, kept);
      hold = n;
    }
    for (let k = 0; k < kept.length; k += 3) {
      const [s, e, source] = [kept[k], kept[k + 1], kept[k + 2]];
      if (s >= hold || s >= starFrom) break;
      out.push(this.raw.subarray(rawPos, view.start(s)), this.replace(text.slice(s, e), source, view, s, e));
      rawPos = view.end(e - 1);
      starFrom = Math.max(starFrom, e);
      if (e > hold || (mode === 'quiet' && e >= n && this.sourceIsPrivateKey(source))) {
        // Past the bound, or a key block released unfinished: the rest of this match must never come out later.
        this.suppress = this.sourceIsPrivateKey(source) ? { kind: 'pem' } : { kind: 'run' };
        hold = Math.max(hold, e);
      }
    }
    if (starFrom < n) {
      out.push(this.raw.subarray(rawPos, view.start(starFrom)), this.stars(view, starFrom, n));
      rawPos = view.end(n - 1);
      // What continues the run (a next digit) is masked too; a blank or a non-member ends it.
      if (isMember(text, n - 1) && !isBlank(text, n - 1)) this.suppress = { kind: 'mask' };
    }
    const rawCut = Math.max(rawPos, hold < n ? view.start(hold) : final ? this.raw.length : view.complete);
    if (rawCut > rawPos) out.push(this.raw.subarray(rawPos, rawCut));
    this.keep(view, hold, rawCut);
    return Buffer.concat(out);
  }

  /**
   * Where a quiet release starts writing `*`s: the earliest held position that could begin a value, or that begins
   * a match reaching the end (which may not be complete yet); a key block reaching the end is replaced and cut
   * instead (its END line is dropped when it comes).
   */
  private quietStars(text: string, hold: number, kept: number[]): number {
    const n = text.length;
    let from = valueStart(this.action.detectors.map((d) => d.detector), text, hold);
    for (let k = 0; k < kept.length; k += 3) {
      if (kept[k + 1] < n) continue;
      if (this.sourceIsPrivateKey(kept[k + 2])) return n;
      from = Math.min(from, Math.max(hold, kept[k]));
    }
    return from;
  }

  /** One `*` per character of units [s, e), blanks and escape sequences between them kept as they are. */
  private stars(view: StreamView, s: number, e: number): Buffer {
    const parts: Buffer[] = [];
    const text = view.text;
    for (let u = s; u < e; u++) {
      const code = text.charCodeAt(u);
      // The second half of a surrogate pair: its character already got its star.
      if (code >= 0xdc00 && code <= 0xdfff && u > s) continue;
      parts.push(isBlank(text, u) || !isMember(text, u) ? this.raw.subarray(view.start(u), view.end(u)) : STAR);
      const next = code >= 0xd800 && code <= 0xdbff ? u + 2 : u + 1;
      if (next < e) {
        const gapFrom = view.end(u);
        const gapTo = view.start(next);
        if (gapTo > gapFrom) parts.push(this.raw.subarray(gapFrom, gapTo));
      }
    }
    return Buffer.concat(parts);
  }

  /**
   * After a quiet release that wrote `*`s: the characters that continue the run (members up to a blank) are written
   * as `*`s too. Returns the first unit to process normally and the raw position emitted up to.
   */
  private maskContinuation(view: StreamView, from: number, rawPos: number, final: boolean, out: Buffer[]): [number, number] {
    const text = view.text;
    let i = from;
    while (i < text.length && isMember(text, i) && !isBlank(text, i)) i++;
    if (i < text.length || final) this.suppress = null;
    if (i === from) return [from, rawPos];
    out.push(this.raw.subarray(rawPos, view.start(from)), this.stars(view, from, i));
    return [i, view.end(i - 1)];
  }

  /**
   * The kept hits (flat triples) that end after `start`, earliest then longest, not overlapping. A match that began
   * in text already emitted (possible only after an early release or a cut by the bound) counts from `start`: its
   * new part is replaced.
   */
  private decidedHits(text: string, start: number): number[] {
    const hits = contentHits(this.action, text, (_s, e) => e > start);
    for (let k = 0; k < hits.length; k += 3) hits[k] = Math.max(hits[k], start);
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

function isBlank(text: string, i: number): boolean {
  return text[i] === ' ' || text[i] === '\t';
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
