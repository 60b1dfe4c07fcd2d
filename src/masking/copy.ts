/**
 * Masking of COPY TO STDOUT text-format lines: tab-separated fields, \N for NULL, backslash escapes. Fields are
 * unescaped before scanning and re-escaped only when masked, so untouched fields keep their exact bytes. Pure: no
 * I/O, no sockets; never reads caller input. Must never change the number of fields of a line it could split.
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

/** How a COPY line is laid out: its format, field delimiter and NULL marker (COPY's options). */
export interface CopyLayout {
  format: 'text' | 'csv';
  delimiter: string;
  nullString: string;
}

/** COPY's default: text format, tab-separated, \N for NULL. */
export const TEXT_LAYOUT: CopyLayout = Object.freeze({ format: 'text', delimiter: '\t', nullString: '\\N' });

/**
 * Masks one COPY line (no trailing newline) under a plan; returns null when unchanged. In text format (fields
 * split by the delimiter, the NULL marker, backslash escapes) fields are unescaped before scanning and re-escaped
 * only when masked, so untouched fields keep their exact bytes. A line that does not split into the plan's columns
 * (a CSV line, a delimiter the caller did not declare) is scanned as one text when the plan only scans content,
 * since detector replacements never contain a delimiter or quote; with column rules it cannot be split safely and
 * is refused with a WardenError.
 */
export function maskCopyLine(line: string, plan: MaskPlan, hashKey: Buffer, layout: CopyLayout = TEXT_LAYOUT): string | null {
  if (plan.empty) return null;
  const fields = layout.format === 'text' ? splitFields(line, layout.delimiter) : [];
  if (fields.length !== plan.columns.length) return maskCopyFallback(line, plan, hashKey);
  let changed = false;
  for (let i = 0; i < fields.length; i++) {
    const action = plan.columns[i];
    const raw = fields[i];
    if (action === null || raw === layout.nullString) continue;
    const masked = maskOne(raw.includes('\\') ? copyUnescape(raw) : raw, action, hashKey);
    if (masked === undefined) continue;
    fields[i] = masked === null ? layout.nullString : copyEscape(masked, layout.delimiter);
    changed = true;
  }
  return changed ? fields.join(layout.delimiter) : null;
}

/** The fields of a text-format line: split at every delimiter that is not escaped by a backslash. */
function splitFields(line: string, delimiter: string): string[] {
  if (delimiter === '\t' || !line.includes('\\')) return line.split(delimiter);
  // A custom delimiter inside a value is written as \<delimiter> (a tab never is: it becomes \t).
  const fields: string[] = [];
  let from = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === delimiter) {
      fields.push(line.slice(from, i));
      from = i + 1;
    }
  }
  fields.push(line.slice(from));
  return fields;
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

/** The COPY text form of a value: the escapes PostgreSQL itself writes, and a backslash before a custom delimiter. */
function copyEscape(value: string, delimiter: string): string {
  const escaped = value.replace(NEEDS_ESCAPE, (c) => ESCAPED[c]);
  return delimiter === '\t' || !escaped.includes(delimiter) ? escaped : escaped.replaceAll(delimiter, `\\${delimiter}`);
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
