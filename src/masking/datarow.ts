/**
 * Rewriting of PostgreSQL result rows under a masking plan: DataRow message bodies (the extended and simple query
 * protocols alike) and COPY TO STDOUT text-format lines. Values are read where they lie in the message; only the
 * columns a plan acts on are decoded, and a new body is built only when some value actually changed, so a row
 * without sensitive data is forwarded as the original bytes. COPY lines are unescaped per field and re-escaped
 * only when masked. Pure: no I/O, no sockets; never reads caller input. Must never change the number of columns of
 * a row or the number of fields of a COPY line it could split.
 */
import { WardenError } from '../errors.js';
import type { ColumnAction, ContentAction, MaskPlan } from './plan.js';
import { REDACTED, maskValue } from './strategies.js';
import { NON_ASCII, PATTERNS, actionScreen, screen } from './screen.js';
import { maskContent, maskScreened } from './text.js';

const JSON_REDACTED = JSON.stringify(REDACTED);

/** What masking one value produced: undefined when unchanged, null for SQL NULL, else the new text. */
type Masked = string | null | undefined;

/** The masked form of one value under a column action (see Masked). */
function maskOne(value: string, action: ColumnAction, hashKey: Buffer): Masked {
  if (action.kind === 'content') {
    const masked = maskContent(value, action, hashKey);
    return masked === value ? undefined : masked;
  }
  const masked = maskValue(action.strategy, value, 'column', hashKey);
  if (masked === null) return null;
  const out = action.json === true ? JSON.stringify(masked) : masked;
  return out === value ? undefined : out;
}

function malformed(detail: string): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'the database server sent a malformed data row', { detail });
}

/** One changed column of a DataRow: where its length word starts, where its value ends, what replaces it. */
interface Edit {
  lengthAt: number;
  end: number;
  value: string | null;
  bytes: number;
}

/**
 * Rewrites one DataRow body (int16 column count, then per column an int32 length, -1 for NULL, and the bytes)
 * under a plan; returns null when no value changed (the relay then forwards the original bytes), else the new body.
 * Values are read as UTF-8 (the session's client_encoding must be UTF8). A column whose action yields null becomes
 * SQL NULL (length -1). Throws WardenError WARDEN_ERR_UPSTREAM_PROTOCOL on a malformed row or one whose column
 * count differs from the plan's.
 */
export function maskDataRow(body: Buffer, plan: MaskPlan, hashKey: Buffer): Buffer | null {
  if (body.length < 2) throw malformed(`DataRow body of ${body.length} bytes`);
  const count = body.readInt16BE(0);
  if (count !== plan.columns.length) {
    throw malformed(`DataRow has ${count} columns, the RowDescription ${plan.columns.length}`);
  }
  let edits: Edit[] | undefined;
  let pos = 2;
  const text: RowText = { body, latin1: undefined, ascii: false };
  for (let i = 0; i < count; i++) {
    if (pos + 4 > body.length) throw malformed(`DataRow truncated in column ${i}`);
    const lengthAt = pos;
    const length = body.readInt32BE(pos);
    pos += 4;
    if (length === -1) continue;
    if (length < 0 || pos + length > body.length) throw malformed(`DataRow column ${i} has length ${length}`);
    const action = plan.columns[i];
    const masked = action === null ? undefined : maskBytes(text, pos, pos + length, action, hashKey);
    if (masked !== undefined) {
      // Every strategy's output of an ASCII value is ASCII: one byte per UTF-16 unit, no counting.
      const bytes = masked === null ? 0 : text.ascii ? masked.length : utf8Length(masked);
      (edits ??= []).push({ lengthAt, end: pos + length, value: masked, bytes });
    }
    pos += length;
  }
  if (pos !== body.length) throw malformed(`DataRow has ${body.length - pos} bytes after its last column`);
  return edits === undefined ? null : rebuild(body, edits);
}

/** A row's bytes and, once some ASCII value needed it, the whole row decoded as latin1 (one native decode per row). */
interface RowText {
  body: Buffer;
  latin1: string | undefined;
  /** Whether the value maskBytes last decoded was ASCII. */
  ascii: boolean;
}

/**
 * Rows up to this size are decoded whole once; in a larger row one huge column (a document, a bytea) would make
 * decoding everything for the sake of one small masked column costlier than decoding that column alone.
 */
const ROW_DECODE_MAX = 64 * 1024;

/** The text of body[start, end): sliced from the row's latin1 decoding when ASCII (exact then), else UTF-8. */
function decode(text: RowText, start: number, end: number, nonAscii: boolean): string {
  text.ascii = !nonAscii;
  if (nonAscii) return text.body.toString('utf8', start, end);
  if (text.body.length > ROW_DECODE_MAX) return text.body.toString('latin1', start, end);
  text.latin1 ??= text.body.toString('latin1');
  return text.latin1.slice(start, end);
}

function hasNonAscii(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] >= 0x80) return true;
  return false;
}

/** One DataRow value under its action; content values are screened on their bytes before any decoding. */
function maskBytes(text: RowText, start: number, end: number, action: ColumnAction, hashKey: Buffer): Masked {
  if (action.kind === 'column') {
    // null and redact do not depend on the value: no decoding at all.
    if (action.strategy === 'null') return null;
    if (action.strategy === 'redact') {
      text.ascii = true;
      return action.json === true ? JSON_REDACTED : REDACTED;
    }
    return maskOne(decode(text, start, end, hasNonAscii(text.body, start, end)), action, hashKey);
  }
  const screening = actionScreen(action);
  const passed = screening.mask & PATTERNS ? -1 : screen(text.body, start, end, screening);
  if (passed !== -1 && (passed & screening.mask) === 0) return undefined;
  const value = decode(text, start, end, passed === -1 ? hasNonAscii(text.body, start, end) : (passed & NON_ASCII) !== 0);
  const masked = maskScreened(value, action, hashKey, passed);
  return masked === value ? undefined : masked;
}

/** The body with each edit's length word and value replaced; everything between edits is copied as it was. */
function rebuild(body: Buffer, edits: Edit[]): Buffer {
  let size = body.length;
  for (const e of edits) size += e.bytes - (e.end - e.lengthAt - 4);
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let at = 0;
  for (const e of edits) {
    at += copyBytes(body, from, e.lengthAt, out, at);
    out.writeInt32BE(e.value === null ? -1 : e.bytes, at);
    at += 4;
    if (e.value !== null) at += writeUtf8(out, at, e.value, e.bytes);
    from = e.end;
  }
  copyBytes(body, from, body.length, out, at);
  return out;
}

/** Below this many bytes a JS loop beats the native call's fixed cost (measured: rows are mostly short values). */
const SMALL = 128;

function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  const n = to - from;
  if (n > SMALL) return src.copy(dst, at, from, to);
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
  return n;
}

/** UTF-8 length of a value; a JS count for short strings (no native call), Buffer.byteLength otherwise. */
function utf8Length(value: string): number {
  if (value.length > SMALL) return Buffer.byteLength(value, 'utf8');
  let n = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

/** Writes a value of `bytes` UTF-8 bytes; ASCII (bytes equal to UTF-16 units) is copied unit by unit. */
function writeUtf8(dst: Buffer, at: number, value: string, bytes: number): number {
  if (bytes !== value.length || bytes > SMALL) return dst.write(value, at, 'utf8');
  for (let i = 0; i < bytes; i++) dst[at + i] = value.charCodeAt(i);
  return bytes;
}

/**
 * Masks one COPY text-format line (no trailing newline: tab-separated fields, \N for NULL, backslash escapes) under
 * a plan; returns null when unchanged. Fields are unescaped before scanning and re-escaped only when masked, so
 * untouched fields keep their exact bytes. A line whose field count differs from the plan (COPY ... WITH CSV, or
 * another DELIMITER) is scanned as one text when the plan only scans content, since detector replacements never
 * contain a delimiter or quote; with column rules it cannot be split safely and is refused with a WardenError.
 */
export function maskCopyLine(line: string, plan: MaskPlan, hashKey: Buffer): string | null {
  if (plan.empty) return null;
  const fields = line.split('\t');
  if (fields.length !== plan.columns.length) return maskCopyFallback(line, plan, hashKey);
  let changed = false;
  for (let i = 0; i < fields.length; i++) {
    const action = plan.columns[i];
    const raw = fields[i];
    if (action === null || raw === '\\N') continue;
    const masked = maskOne(raw.includes('\\') ? copyUnescape(raw) : raw, action, hashKey);
    if (masked === undefined) continue;
    fields[i] = masked === null ? '\\N' : copyEscape(masked);
    changed = true;
  }
  return changed ? fields.join('\t') : null;
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * One field's value from its COPY text form: \b \f \n \r \t \v, \\ and \<char> as that char, \ooo octal and \xhh
 * hex as the character of that code (PostgreSQL's COPY TO never writes these two; COPY FROM input may hold them).
 */
function copyUnescape(field: string): string {
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i];
    if (c !== '\\' || i + 1 >= field.length) {
      out += c;
      continue;
    }
    const next = field[++i];
    const octal = /^[0-7]{1,3}/.exec(field.slice(i, i + 3));
    const hex = next === 'x' ? /^[0-9A-Fa-f]{1,2}/.exec(field.slice(i + 1, i + 3)) : null;
    if (octal) {
      out += String.fromCharCode(parseInt(octal[0], 8));
      i += octal[0].length - 1;
    } else if (hex) {
      out += String.fromCharCode(parseInt(hex[0], 16));
      i += hex[0].length;
    } else out += ESCAPES[next] ?? next;
  }
  return out;
}

const NEEDS_ESCAPE = /[\\\b\f\n\r\t\v]/g;
const ESCAPED: Record<string, string> = {
  '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v',
};

/** The COPY text form of a value: the escapes PostgreSQL itself writes. */
function copyEscape(value: string): string {
  return value.replace(NEEDS_ESCAPE, (c) => ESCAPED[c]);
}

/**
 * A COPY line whose fields do not line up with the plan: scanned as one text with the content action of the plan
 * (every column of a content-only plan has the same detectors and patterns), or refused when the plan holds column
 * rules, which need to know where each column is.
 */
function maskCopyFallback(line: string, plan: MaskPlan, hashKey: Buffer): string | null {
  let content = unions.get(plan);
  if (content === undefined) {
    content = unionContent(plan);
    unions.set(plan, content);
  }
  const masked = maskContent(line, content, hashKey);
  return masked === line ? null : masked;
}

const unions = new WeakMap<MaskPlan, ContentAction>();

/** Every detector and pattern of a content-only plan (columns may differ when rules are scoped), first one wins. */
function unionContent(plan: MaskPlan): ContentAction {
  const union: ContentAction = { kind: 'content', detectors: [], patterns: [] };
  for (const action of plan.columns) {
    if (action === null) continue;
    if (action.kind === 'column') {
      throw new WardenError('WARDEN_ERR_UNSUPPORTED',
        'this COPY format cannot be masked column by column; use the default text format (no CSV, no custom DELIMITER)');
    }
    for (const d of action.detectors) if (!union.detectors.some((u) => u.detector === d.detector)) union.detectors.push(d);
    for (const p of action.patterns) if (!union.patterns.some((u) => u.regex === p.regex)) union.patterns.push(p);
  }
  return union;
}
