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
import { maskValue } from './strategies.js';
import { maskContent } from './text.js';

/** What masking one value produced: undefined when unchanged, null for SQL NULL, else the new text. */
type Masked = string | null | undefined;

/** The masked form of one value under a column action (see Masked). */
export function maskOne(value: string, action: ColumnAction, hashKey: Buffer): Masked {
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
  if (count !== plan.columns.length) throw malformed(`DataRow has ${count} columns, the RowDescription ${plan.columns.length}`);
  let edits: Edit[] | undefined;
  let pos = 2;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > body.length) throw malformed(`DataRow truncated in column ${i}`);
    const lengthAt = pos;
    const length = body.readInt32BE(pos);
    pos += 4;
    if (length === -1) continue;
    if (length < 0 || pos + length > body.length) throw malformed(`DataRow column ${i} has length ${length}`);
    const action = plan.columns[i];
    if (action !== null) {
      // A whole-column null needs no decoding at all.
      const masked = action.kind === 'column' && action.strategy === 'null'
        ? null
        : maskOne(body.toString('utf8', pos, pos + length), action, hashKey);
      if (masked !== undefined) {
        const bytes = masked === null ? 0 : Buffer.byteLength(masked, 'utf8');
        (edits ??= []).push({ lengthAt, end: pos + length, value: masked, bytes });
      }
    }
    pos += length;
  }
  if (pos !== body.length) throw malformed(`DataRow has ${body.length - pos} bytes after its last column`);
  return edits === undefined ? null : rebuild(body, edits);
}

/** The body with each edit's length word and value replaced; everything between edits is copied as it was. */
function rebuild(body: Buffer, edits: Edit[]): Buffer {
  let size = body.length;
  for (const e of edits) size += e.bytes - (e.end - e.lengthAt - 4);
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let at = 0;
  for (const e of edits) {
    at += body.copy(out, at, from, e.lengthAt);
    out.writeInt32BE(e.value === null ? -1 : e.bytes, at);
    at += 4;
    if (e.value !== null) at += out.write(e.value, at, 'utf8');
    from = e.end;
  }
  body.copy(out, at, from);
  return out;
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
export function copyUnescape(field: string): string {
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
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

/** The COPY text form of a value: the escapes PostgreSQL itself writes. */
export function copyEscape(value: string): string {
  return value.replace(NEEDS_ESCAPE, (c) => ESCAPED[c]);
}

/**
 * A COPY line whose fields do not line up with the plan: scanned as one text with the content action of the plan
 * (every column of a content-only plan has the same detectors and patterns), or refused when the plan holds column
 * rules, which need to know where each column is.
 */
export function maskCopyFallback(line: string, plan: MaskPlan, hashKey: Buffer): string | null {
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
