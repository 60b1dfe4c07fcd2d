/**
 * The only module that calls the PostgreSQL parser (libpg-query, WASM): loads it once, splits a query string into
 * statement nodes with their own source text, and parses PL/pgSQL function bodies.
 *
 * Owns the parser lifecycle and the byte-offset arithmetic (also for the lexer's tokens). No I/O beyond loading the bundled WASM module; the
 * parse functions are synchronous and throw on text that does not parse (callers turn that into `unknown`).
 */
import { loadModule, parsePlPgSQLSync, parseSync, scanSync } from 'libpg-query';
import type { Node } from './walk.js';

/** One top-level statement of a query string. */
export interface ParsedStatement {
  /** Parser node type: `SelectStmt`, `DeleteStmt`, ... */
  kind: string;
  node: Node;
  /** The statement's own slice of the query string, trimmed. */
  text: string;
  /** Where `text` lies in the query string: [start, end) in UTF-16 code units (JavaScript string offsets). */
  range: [number, number];
}

let loading: Promise<void> | undefined;
let ready = false;

/** Loads the WASM parser once; concurrent and repeated calls share one load. A failed load can be retried. */
export function loadParser(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      ready = true;
    },
    (err: unknown) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

/** Whether loadParser() has completed. */
export function parserReady(): boolean {
  return ready;
}

/**
 * Parses a query string into its statements. Throws the parser's error for invalid SQL, and refuses a NUL
 * character: the parser (a C library) would stop reading there and never see what follows.
 */
export function parseStatements(text: string): ParsedStatement[] {
  if (!ready) throw new Error('SQL parser not loaded: await initSqlAnalysis() first');
  if (text.includes('\0')) throw new Error('NUL character in SQL text');
  const result = parseSync(text) as unknown as { stmts?: Node[] };
  const toChars = byteToCharOffset(text);
  return (result.stmts ?? []).map((raw) => {
    const wrapped = (raw.stmt ?? {}) as Node;
    const [kind] = Object.keys(wrapped);
    const startByte = Number(raw.stmt_location ?? 0);
    // No length means "to the end" (the last statement of the string).
    const endByte = raw.stmt_len === undefined || raw.stmt_len === 0 ? undefined : startByte + Number(raw.stmt_len);
    let start = toChars(startByte);
    let end = endByte === undefined ? text.length : toChars(endByte);
    const slice = text.slice(start, end);
    start += slice.length - slice.trimStart().length;
    end -= slice.length - slice.trimEnd().length;
    if (end < start) end = start;
    return { kind: kind ?? 'Unknown', node: (wrapped[kind] ?? {}) as Node, text: text.slice(start, end), range: [start, end] };
  });
}

/**
 * Where the parser's own lexer finds numeric constants (ICONST, FCONST) in a query string: [start, end) in UTF-16
 * code units, in order. The analysis cache shares one analysis between texts only where these are exactly the
 * spans it replaced (reuse.ts), so no hand-written scanner decides what is a number. Throws on text that does not
 * lex, and refuses a NUL character like parseStatements.
 */
export function numericTokenSpans(text: string): [number, number][] {
  if (!ready) throw new Error('SQL parser not loaded: await initSqlAnalysis() first');
  if (text.includes('\0')) throw new Error('NUL character in SQL text');
  const toChars = byteToCharOffset(text);
  const spans: [number, number][] = [];
  for (const token of scanSync(text).tokens) {
    if (token.tokenName === 'ICONST' || token.tokenName === 'FCONST') spans.push([toChars(token.start), toChars(token.end)]);
  }
  return spans;
}

/** One constant token of a query string (a literal, a `$n` parameter or a comment), as the parser's lexer finds it. */
export interface ConstantToken {
  kind: 'string' | 'number' | 'param' | 'comment';
  /** [start, end) in UTF-16 code units. */
  start: number;
  end: number;
  /** Where the token starts in bytes of the UTF-8 text (parse tree locations are byte offsets). */
  startByte: number;
}

/** gram.h token numbers the scanner reports without a name: USCONST (U&'...'), BCONST (B'...'), XCONST (X'...'). */
const UNNAMED_STRING_TOKENS = new Set([262, 263, 264]);

/**
 * Every literal, parameter and comment token of a query string, in order: strings of every spelling (plain, E'',
 * U&'', dollar-quoted, bit and hex strings), numbers, `$n`, and comments (C-style and `--`). Throws on text that
 * does not lex; refuses a NUL character.
 */
export function constantTokens(text: string): ConstantToken[] {
  if (!ready) throw new Error('SQL parser not loaded: await initSqlAnalysis() first');
  if (text.includes('\0')) throw new Error('NUL character in SQL text');
  const toChars = byteToCharOffset(text);
  const out: ConstantToken[] = [];
  for (const token of scanSync(text).tokens) {
    const name = token.tokenName;
    const kind = name === 'SCONST' || UNNAMED_STRING_TOKENS.has(token.tokenType) ? 'string'
      : name === 'ICONST' || name === 'FCONST' ? 'number' : name === 'PARAM' ? 'param'
        : name === 'C_COMMENT' || name === 'SQL_COMMENT' ? 'comment' : undefined;
    if (kind) out.push({ kind, start: toChars(token.start), end: toChars(token.end), startByte: token.start });
  }
  return out;
}

/** Parses a complete `CREATE FUNCTION ... LANGUAGE plpgsql` statement into the PL/pgSQL tree. Throws on error. */
export function parsePlpgsqlFunction(createFunction: string): Node {
  if (!ready) throw new Error('SQL parser not loaded: await initSqlAnalysis() first');
  if (createFunction.includes('\0')) throw new Error('NUL character in SQL text');
  return parsePlPgSQLSync(createFunction) as unknown as Node;
}

/**
 * Parser locations are byte offsets into the UTF-8 encoding; JavaScript strings are indexed in UTF-16 units.
 * ASCII text (the common case) needs no conversion.
 */
function byteToCharOffset(text: string): (byteOffset: number) => number {
  if (!/[^\x00-\x7f]/.test(text)) return (offset) => offset;
  const bytes = Buffer.from(text, 'utf8');
  return (offset) => bytes.subarray(0, offset).toString('utf8').length;
}
