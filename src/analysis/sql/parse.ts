/**
 * The only module that calls the PostgreSQL parser (libpg-query, WASM): loads it once, splits a query string into
 * statement nodes with their own source text, and parses PL/pgSQL function bodies.
 *
 * Owns the parser lifecycle and the byte-offset arithmetic. No I/O beyond loading the bundled WASM module; the
 * parse functions are synchronous and throw on text that does not parse (callers turn that into `unknown`).
 */
import { loadModule, parsePlPgSQLSync, parseSync } from 'libpg-query';
import type { Node } from './walk.js';

/** One top-level statement of a query string. */
export interface ParsedStatement {
  /** Parser node type: `SelectStmt`, `DeleteStmt`, ... */
  kind: string;
  node: Node;
  /** The statement's own slice of the query string, trimmed. */
  text: string;
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
  const slicer = makeSlicer(text);
  return (result.stmts ?? []).map((raw) => {
    const wrapped = (raw.stmt ?? {}) as Node;
    const [kind] = Object.keys(wrapped);
    const start = Number(raw.stmt_location ?? 0);
    const len = raw.stmt_len === undefined || raw.stmt_len === 0 ? undefined : Number(raw.stmt_len);
    return { kind: kind ?? 'Unknown', node: (wrapped[kind] ?? {}) as Node, text: slicer(start, len).trim() };
  });
}

/** Parses a complete `CREATE FUNCTION ... LANGUAGE plpgsql` statement into the PL/pgSQL tree. Throws on error. */
export function parsePlpgsqlFunction(createFunction: string): Node {
  if (!ready) throw new Error('SQL parser not loaded: await initSqlAnalysis() first');
  if (createFunction.includes('\0')) throw new Error('NUL character in SQL text');
  return parsePlPgSQLSync(createFunction) as unknown as Node;
}

/**
 * Parser locations are byte offsets into the UTF-8 encoding. ASCII text (the common case) is sliced directly;
 * anything else goes through the encoded bytes. A missing length means "to the end".
 */
function makeSlicer(text: string): (start: number, len: number | undefined) => string {
  if (!/[^\x00-\x7f]/.test(text)) {
    return (start, len) => text.slice(start, len === undefined ? undefined : start + len);
  }
  const bytes = Buffer.from(text, 'utf8');
  return (start, len) => bytes.subarray(start, len === undefined ? undefined : start + len).toString('utf8');
}
