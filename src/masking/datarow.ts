/**
 * Rewriting of PostgreSQL DataRow messages under a masking plan (the extended and simple query protocols alike).
 * Values are read where they lie in the message; only the columns a plan acts on are looked at, content values are
 * screened on their bytes before any decoding, and the common whole-value strategies (null, redact, partial of an
 * e-mail) work on bytes without decoding at all. In an ASCII value, e-mail addresses are found on the bytes too,
 * and every match is replaced in place (the value is never rebuilt as a string). A row without sensitive data is
 * forwarded as the original bytes; a changed row is written straight into the relay's output buffer (no Buffer per
 * row). Pure: no I/O, no sockets; never reads caller input. Must never change the number of columns of a row.
 */
import { isUtf8 } from 'node:buffer';
import { WardenError } from '../errors.js';
import { maskOne } from './copy.js';
import type { ColumnAction, MaskPlan } from './plan.js';
import { REDACTED } from './strategies.js';
import { NON_ASCII, PATTERNS, actionScreen, screen, type ActionScreen } from './screen.js';
import { ByteSink } from './sink.js';
import { emailHitsAscii } from './email-bytes.js';
import { hitReplacement, keptHits, maskPrepared, prepareContent, type PreparedContent } from './text.js';
import { emailDomainStart, utf8Length, writeUtf8 } from './bytes.js';

export { maskCopyLine } from './copy.js';

const JSON_REDACTED = JSON.stringify(REDACTED);
/** What partial leaves of an e-mail address: the domain, after this. */
const PARTIAL_EMAIL = '***@';

function malformed(detail: string): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'the database server sent a malformed data row', { detail });
}

// What edit() does with a column, prepared once per plan so that a row costs no lookups.
const SKIP = 0;
const TO_NULL = 1;
const REDACT = 2;
const PARTIAL = 3;
const STRATEGY = 4;
const CONTENT = 5;
/** keepFrom values at or below this mark splice edits (see RowRewriter.keepFrom). */
const SPLICE = -2;

/** A plan prepared for the row loop: per column an operation, and what it needs. */
interface Prepared {
  plan: MaskPlan;
  ops: Uint8Array;
  /** Per column: the redaction text (a JSON string in a json column), the column action, the content screening. */
  redacted: string[];
  actions: Array<ColumnAction | null>;
  screens: Array<ActionScreen | undefined>;
  contents: Array<PreparedContent | undefined>;
}

function prepare(plan: MaskPlan): Prepared {
  const n = plan.columns.length;
  const prepared: Prepared = { plan, ops: new Uint8Array(n), redacted: [], actions: plan.columns, screens: [], contents: [] };
  for (let i = 0; i < n; i++) {
    const action = plan.columns[i];
    prepared.redacted.push(action?.kind === 'column' && action.json === true ? JSON_REDACTED : REDACTED);
    prepared.screens.push(action?.kind === 'content' ? actionScreen(action) : undefined);
    prepared.contents.push(action?.kind === 'content' ? prepareContent(action) : undefined);
    if (action === null) prepared.ops[i] = SKIP;
    else if (action.kind === 'content') prepared.ops[i] = CONTENT;
    else if (action.strategy === 'null') prepared.ops[i] = TO_NULL;
    else if (action.strategy === 'redact') prepared.ops[i] = REDACT;
    else if (action.strategy === 'partial' && action.json !== true) prepared.ops[i] = PARTIAL;
    else prepared.ops[i] = STRATEGY;
  }
  return prepared;
}

/**
 * Rewrites DataRow bodies (int16 column count, then per column an int32 length, -1 for NULL, and the bytes). One
 * instance per session: edit() finds what changes in a row, write() emits the rewritten message. The edits live in
 * the instance's scratch arrays until the next edit(), so a row costs no allocation beyond the new values' strings.
 * Values are read as UTF-8 (the session's client_encoding must be UTF8).
 */
export class RowRewriter {
  private body: Buffer = Buffer.alloc(0);
  private prepared: Prepared = prepare({ columns: [], empty: true });
  /** The new body's size, when the last edit() returned true. */
  private size = 0;
  private count = 0;
  /** Per edit: where the column's length word starts, where its value ends, the new value and its UTF-8 size. */
  private readonly lengthAt: number[] = [];
  private readonly end: number[] = [];
  private readonly value: Array<string | null> = [];
  private readonly bytes: number[] = [];
  /**
   * Per edit: -1; or where in the body the kept tail of the value starts (written after `value`); or, for an ASCII
   * value whose matches are replaced in place, SPLICE - (its first splice): the value's bytes with each splice's
   * range replaced by its text (`value` is then unused).
   */
  private readonly keepFrom: number[] = [];
  /** Splices of the row's in-place edits, in order: the replaced ranges of the body and their texts. */
  private readonly spliceStart: number[] = [];
  private readonly spliceEnd: number[] = [];
  private readonly spliceText: string[] = [];
  private splices = 0;
  /** Scratch of content matches (flat triples start, end, source). */
  private readonly hits: number[] = [];
  /** The row decoded as latin1, once some ASCII value needed it (one native decode per row). */
  private latin1: string | undefined;
  /** Whether the value last decoded was ASCII. */
  private ascii = false;

  constructor(private readonly hashKey: Buffer) {}

  /**
   * Masks one DataRow body under `plan`: true when some value changed (write() then emits the new message), false
   * when the original bytes may go out. A column whose action yields null becomes SQL NULL (length -1). Throws
   * WardenError WARDEN_ERR_UPSTREAM_PROTOCOL on a malformed row or one whose column count differs from the plan's.
   */
  edit(body: Buffer, plan: MaskPlan): boolean {
    const length = body.length;
    if (length < 2) throw malformed(`DataRow body of ${length} bytes`);
    const count = (body[0] << 8) | body[1];
    if (count !== plan.columns.length) {
      throw malformed(`DataRow has ${body.readInt16BE(0)} columns, the RowDescription ${plan.columns.length}`);
    }
    if (this.prepared.plan !== plan) this.prepared = prepare(plan);
    const { ops } = this.prepared;
    this.body = body;
    this.count = 0;
    this.splices = 0;
    this.latin1 = undefined;
    let size = length;
    let pos = 2;
    for (let i = 0; i < count; i++) {
      if (pos + 4 > length) throw malformed(`DataRow truncated in column ${i}`);
      const n = (body[pos] << 24) | (body[pos + 1] << 16) | (body[pos + 2] << 8) | body[pos + 3];
      if (n === -1) {
        pos += 4;
        continue;
      }
      const start = pos + 4;
      if (n < 0 || start + n > length) throw malformed(`DataRow column ${i} has length ${n}`);
      if (ops[i] !== SKIP) size += this.maskValue(i, pos, start, start + n);
      pos = start + n;
    }
    if (pos !== length) throw malformed(`DataRow has ${length - pos} bytes after its last column`);
    this.size = size;
    return this.count > 0;
  }

  /** Writes the whole message ('D', length, body) of the row the last edit() changed. */
  write(sink: ByteSink): void {
    const { body } = this;
    sink.reserve(5 + this.size);
    const out = sink.buf;
    let at = sink.length;
    out[at] = 0x44;
    int32(out, at + 1, 4 + this.size);
    at += 5;
    let from = 0;
    for (let e = 0; e < this.count; e++) {
      at += copyBytes(body, from, this.lengthAt[e], out, at);
      const value = this.value[e];
      int32(out, at, value === null && this.keepFrom[e] > SPLICE ? -1 : this.bytes[e]);
      at += 4;
      const keep = this.keepFrom[e];
      if (keep <= SPLICE) at = this.writeSplices(out, at, this.lengthAt[e] + 4, this.end[e], SPLICE - keep);
      else if (value !== null) {
        const head = keep < 0 ? this.bytes[e] : this.bytes[e] - (this.end[e] - keep);
        at += writeUtf8(out, at, value, head);
        if (keep >= 0) at += copyBytes(body, keep, this.end[e], out, at);
      }
      from = this.end[e];
    }
    at += copyBytes(body, from, body.length, out, at);
    sink.length = at;
  }

  /** Writes the value body[start, end) with its splices from number `first` on applied; returns the new position. */
  private writeSplices(out: Buffer, at: number, start: number, end: number, first: number): number {
    const { body } = this;
    let pos = start;
    for (let k = first; k < this.splices && this.spliceStart[k] < end; k++) {
      at += copyBytes(body, pos, this.spliceStart[k], out, at);
      const text = this.spliceText[k];
      at += writeUtf8(out, at, text, text.length);
      pos = this.spliceEnd[k];
    }
    return at + copyBytes(body, pos, end, out, at);
  }

  /** Masks column i's value at body[start, end) (its length word at lengthAt); returns how much the body grows. */
  private maskValue(i: number, lengthAt: number, start: number, end: number): number {
    const prepared = this.prepared;
    switch (prepared.ops[i]) {
      case TO_NULL: return this.push(lengthAt, end, null, 0, -1);
      case REDACT: return this.push(lengthAt, end, prepared.redacted[i], prepared.redacted[i].length, -1);
      case PARTIAL: {
        // An e-mail keeps its domain: the tail of the original bytes, nothing to decode or encode.
        const domain = emailDomainStart(this.body, start, end);
        if (domain >= 0) return this.push(lengthAt, end, PARTIAL_EMAIL, PARTIAL_EMAIL.length + end - domain, domain);
        return this.strategy(i, lengthAt, start, end);
      }
      case STRATEGY: return this.strategy(i, lengthAt, start, end);
      default: return this.content(i, lengthAt, start, end);
    }
  }

  /** A whole-value strategy that needs the text (hash, partial of anything but an e-mail, any strategy on json). */
  private strategy(i: number, lengthAt: number, start: number, end: number): number {
    const value = this.decode(start, end, hasNonAscii(this.body, start, end));
    const masked = maskOne(value, this.prepared.actions[i]!, this.hashKey);
    return masked === undefined ? 0 : this.pushText(lengthAt, end, masked);
  }

  /** Content scanning: screened on the bytes first, decoded and scanned only by the detectors that may match. */
  private content(i: number, lengthAt: number, start: number, end: number): number {
    const screening = this.prepared.screens[i]!;
    const passed = screening.mask & PATTERNS ? -1 : screen(this.body, start, end, screening);
    if (passed !== -1 && (passed & screening.mask) === 0) return 0;
    if (passed !== -1 && (passed & NON_ASCII) === 0) return this.contentAscii(i, lengthAt, start, end, passed);
    const value = this.decode(start, end, passed === -1 ? hasNonAscii(this.body, start, end) : (passed & NON_ASCII) !== 0);
    const masked = maskPrepared(value, this.prepared.contents[i]!, this.hashKey, passed);
    return masked === value ? 0 : this.pushText(lengthAt, end, masked);
  }

  /**
   * Content scanning of an ASCII value (detectors only): e-mail addresses are found on the bytes, other detectors
   * on the decoded text, whose offsets are byte offsets in ASCII; the matches are then replaced in place (splices),
   * so the value is never rebuilt as a string. Gives what maskContent gives.
   */
  private contentAscii(i: number, lengthAt: number, start: number, end: number, passed: number): number {
    const content = this.prepared.contents[i]!;
    const { hits, body } = this;
    let n = 0;
    for (let d = 0; d < content.bits.length; d++) {
      if ((passed & content.bits[d]) === 0) continue;
      if (d === content.email) {
        n = emailHitsAscii(body, start, end, d, hits, n);
        continue;
      }
      const ranges = content.scans[d](this.decode(start, end, false), true);
      for (let r = 0; r < ranges.length; r++) {
        hits[n++] = start + ranges[r][0];
        hits[n++] = start + ranges[r][1];
        hits[n++] = d;
      }
    }
    if (n === 0) return 0;
    const first = this.splices;
    let bytes = end - start;
    if (n === 3) {
      // The common case: one match, nothing to order (keptHits' escape rule applied here).
      const s = hits[0] + 1 < hits[1] && escapedByte(body, start, hits[0]) ? hits[0] + 1 : hits[0];
      bytes += this.splice(s, hits[1], hits[2], content);
    } else {
      hits.length = n;
      for (const k of keptHits(hits, (index) => escapedByte(body, start, index))) {
        bytes += this.splice(hits[3 * k], hits[3 * k + 1], hits[3 * k + 2], content);
      }
    }
    return this.push(lengthAt, end, null, bytes, SPLICE - first);
  }

  /** Records that body[s, e) is replaced by its masked text; returns how much that changes the value's size. */
  private splice(s: number, e: number, source: number, content: PreparedContent): number {
    const text = content.fixed[source] ?? hitReplacement(this.body.toString('latin1', s, e), source, content.action, this.hashKey);
    this.spliceStart[this.splices] = s;
    this.spliceEnd[this.splices] = e;
    this.spliceText[this.splices++] = text;
    return text.length - (e - s);
  }

  private pushText(lengthAt: number, end: number, masked: string | null): number {
    // Every strategy's output of an ASCII value is ASCII: one byte per UTF-16 unit, no counting.
    return this.push(lengthAt, end, masked, masked === null ? 0 : this.ascii ? masked.length : utf8Length(masked), -1);
  }

  private push(lengthAt: number, end: number, value: string | null, bytes: number, keepFrom: number): number {
    const e = this.count++;
    this.lengthAt[e] = lengthAt;
    this.end[e] = end;
    this.value[e] = value;
    this.bytes[e] = bytes;
    this.keepFrom[e] = keepFrom;
    return (value === null && keepFrom > SPLICE ? 0 : bytes) - (end - lengthAt - 4);
  }

  /**
   * The text of body[start, end): sliced from the row's latin1 decoding when ASCII (exact then), else UTF-8. A
   * value that is not valid UTF-8 would decode lossily and hide what it holds: the server sends valid UTF-8 while
   * client_encoding is UTF8, so the session's encoding changed (the ParameterStatus saying so is still on its way).
   */
  private decode(start: number, end: number, nonAscii: boolean): string {
    this.ascii = !nonAscii;
    const { body } = this;
    if (nonAscii) {
      if (!isUtf8(body.subarray(start, end))) {
        throw new WardenError('WARDEN_ERR_FORBIDDEN', 'a result value is not valid UTF-8 (did client_encoding change?); masking cannot read it');
      }
      return body.toString('utf8', start, end);
    }
    if (body.length > ROW_DECODE_MAX) return body.toString('latin1', start, end);
    this.latin1 ??= body.toString('latin1');
    return this.latin1.slice(start, end);
  }
}

/**
 * Rows up to this size are decoded whole once; in a larger row one huge column (a document, a bytea) would make
 * decoding everything for the sake of one small masked column costlier than decoding that column alone.
 */
const ROW_DECODE_MAX = 64 * 1024;

/** Whether body[index] is escaped: an odd number of backslashes right before it, within the value. */
function escapedByte(body: Buffer, start: number, index: number): boolean {
  let n = 0;
  for (let i = index - 1; i >= start && body[i] === 0x5c; i--) n++;
  return n % 2 === 1;
}

function hasNonAscii(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] >= 0x80) return true;
  return false;
}

/** Below this many bytes a JS loop beats the native call's fixed cost (measured: about 64 bytes). */
const SMALL = 64;

function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  const n = to - from;
  if (n > SMALL) return src.copy(dst, at, from, to);
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
  return n;
}

/** A big-endian int32 (a length word), without Buffer's checked writer. */
function int32(dst: Buffer, at: number, value: number): void {
  dst[at] = value >>> 24;
  dst[at + 1] = value >>> 16;
  dst[at + 2] = value >>> 8;
  dst[at + 3] = value;
}

const rewriters = new WeakMap<Buffer, RowRewriter>();

/**
 * Rewrites one DataRow body under a plan; returns null when no value changed, else the new body (see
 * RowRewriter.edit, which the relay uses to write into its output buffer instead).
 */
export function maskDataRow(body: Buffer, plan: MaskPlan, hashKey: Buffer): Buffer | null {
  let rewriter = rewriters.get(hashKey);
  if (rewriter === undefined) {
    rewriter = new RowRewriter(hashKey);
    rewriters.set(hashKey, rewriter);
  }
  if (!rewriter.edit(body, plan)) return null;
  const sink = new ByteSink(0);
  rewriter.write(sink);
  return Buffer.from(sink.take()!.subarray(5));
}
