/**
 * What masking needs to know about a statement text before and while it runs: its `COPY ... TO STDOUT` statements
 * (the table and column list, or a query; the format and the options that shape each line), in the order the
 * server runs them, and whether it sets client_encoding. COPY sends no RowDescription, so this is where its
 * columns come from. Parsed with PostgreSQL's own parser (libpg-query), cached by text. Pure: no I/O, no decisions
 * (result-masking.ts decides what is refused).
 */
import { parseStatements } from '../../analysis/sql/parse.js';
import type { Node } from '../../analysis/sql/walk.js';

/** One `COPY ... TO STDOUT`. */
export interface CopyOut {
  /** The table of `COPY table [(columns)] TO STDOUT`; undefined for `COPY (query) TO STDOUT`. */
  relation?: { schema?: string; name: string; columns?: string[] };
  format: 'text' | 'csv' | 'binary';
  /** The field delimiter: a tab in text format unless DELIMITER says otherwise. */
  delimiter: string;
  /** How NULL is written: `\N` in text format unless NULL says otherwise. */
  nullString: string;
  /** HEADER: the first line holds column names. */
  header: boolean;
  /** The ENCODING option, when given. */
  encoding?: string;
}

/** The facts of one statement text. */
export interface StatementFacts {
  /** Its `COPY ... TO STDOUT` statements in order (COPY TO a file or FROM STDIN send no rows to the caller). */
  copies: CopyOut[];
  /** The value of a `SET client_encoding = '...'` / `SET NAMES '...'` in it (DEFAULT and RESET are not listed). */
  clientEncoding?: string;
  /** Set when the text could not be parsed (PostgreSQL then refuses it too, so nothing runs). */
  unparsed?: boolean;
}

const NONE: StatementFacts = Object.freeze({ copies: [] }) as StatementFacts;
/** Texts that cannot hold either statement skip the parser: every COPY holds "copy", every SET of it "encoding" or "names". */
const MAYBE = /copy|encoding|names/i;
const cache = new Map<string, StatementFacts>();
const CACHE_MAX = 500;

/** The facts of a statement text (see StatementFacts); cached by text. */
export function statementFacts(text: string): StatementFacts {
  if (!MAYBE.test(text)) return NONE;
  let facts = cache.get(text);
  if (facts !== undefined) return facts;
  facts = parse(text);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(text, facts);
  return facts;
}

function parse(text: string): StatementFacts {
  let statements;
  try {
    statements = parseStatements(text);
  } catch {
    return { copies: [], unparsed: true };
  }
  const facts: StatementFacts = { copies: [] };
  for (const { kind, node } of statements) {
    if (kind === 'CopyStmt') {
      const copy = copyOut(node);
      if (copy) facts.copies.push(copy);
    } else if (kind === 'VariableSetStmt') {
      const encoding = setEncoding(node);
      if (encoding !== undefined) facts.clientEncoding = encoding;
    }
  }
  return facts;
}

/** A CopyStmt that sends rows to the caller, or undefined (COPY FROM, COPY TO a file or program). */
function copyOut(node: Node): CopyOut | undefined {
  if (node.is_from === true || node.is_program === true || typeof node.filename === 'string') return undefined;
  const copy: CopyOut = { format: 'text', delimiter: '\t', nullString: '\\N', header: false };
  for (const option of (node.options ?? []) as Node[]) applyOption(copy, (option.DefElem ?? {}) as Node);
  if (copy.format === 'csv') {
    copy.delimiter = optionText(node, 'delimiter') ?? ',';
    copy.nullString = optionText(node, 'null') ?? '';
  }
  const relation = node.relation as Node | undefined;
  if (relation && node.query === undefined) {
    const columns = ((node.attlist ?? []) as Node[]).map((c) => String((c.String as Node | undefined)?.sval ?? ''));
    copy.relation = {
      name: String(relation.relname ?? ''),
      ...(typeof relation.schemaname === 'string' ? { schema: relation.schemaname } : {}),
      ...(columns.length > 0 ? { columns } : {}),
    };
  }
  return copy;
}

function applyOption(copy: CopyOut, option: Node): void {
  const name = String(option.defname ?? '').toLowerCase();
  const value = argText(option.arg as Node | undefined);
  switch (name) {
    case 'format': copy.format = value?.toLowerCase() === 'binary' ? 'binary' : value?.toLowerCase() === 'csv' ? 'csv' : 'text'; break;
    case 'delimiter': if (value !== undefined) copy.delimiter = value; break;
    case 'null': if (value !== undefined) copy.nullString = value; break;
    case 'header': copy.header = value === undefined || !['false', 'off', '0', 'no'].includes(value.toLowerCase()); break;
    case 'encoding': if (value !== undefined) copy.encoding = value; break;
  }
}

function optionText(node: Node, name: string): string | undefined {
  for (const option of (node.options ?? []) as Node[]) {
    const def = (option.DefElem ?? {}) as Node;
    if (String(def.defname ?? '').toLowerCase() === name) return argText(def.arg as Node | undefined);
  }
  return undefined;
}

/** A DefElem argument as text: String, Boolean (libpg-query omits a false boolval) or Integer. */
function argText(arg: Node | undefined): string | undefined {
  if (arg === undefined) return undefined;
  if (arg.String) return String((arg.String as Node).sval ?? '');
  if (arg.Boolean) return (arg.Boolean as Node).boolval === true ? 'true' : 'false';
  if (arg.Integer) return String((arg.Integer as Node).ival ?? 0);
  return undefined;
}

/**
 * The value a VariableSetStmt gives client_encoding, or undefined. DEFAULT and RESET return to the value the
 * session started with (which masking already accepted); any other route is caught by the ParameterStatus the
 * server sends when the setting changes.
 */
function setEncoding(node: Node): string | undefined {
  if (String(node.name ?? '').toLowerCase() !== 'client_encoding' || node.kind !== 'VAR_SET_VALUE') return undefined;
  const arg = ((node.args ?? []) as Node[])[0]?.A_Const as Node | undefined;
  const value = (arg?.sval as Node | undefined)?.sval;
  return typeof value === 'string' ? value : undefined;
}
