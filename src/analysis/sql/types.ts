/**
 * What SQL analysis tells the policy engine about a query string. Types only.
 */

/** Statement classes, as policies name them. A statement can have several. */
export const STATEMENT_CLASSES = ['read', 'write', 'ddl', 'destructive', 'privilege', 'admin', 'unknown'] as const;

/** One statement class. */
export type StatementClass = (typeof STATEMENT_CLASSES)[number];

/** The analysis of one statement of a query string. */
export interface StatementAnalysis {
  /** The parser's node type of the top-level statement (`SelectStmt`, `DeleteStmt`, ...), or `Unparseable`. */
  kind: string;
  /** Sorted, unique. Never empty: a statement Warden cannot judge is `unknown`. */
  classes: StatementClass[];
  /** Relations touched, lower-cased as PostgreSQL folds them: `schema.table` when qualified, else `table`. */
  tables: string[];
  /** Schemas named explicitly (qualified relations and functions, CREATE/DROP SCHEMA, SET search_path). */
  schemas: string[];
  /**
   * Functions called, lower-cased, `schema.name` when qualified; also functions named to run later (a trigger's,
   * a cast's, an operator's or aggregate's support function).
   */
  functions: string[];
  /** An UPDATE or DELETE with no WHERE, or an always-true one (`WHERE true`, `1=1`, `$1=$1`, ...). */
  unboundedWrite: boolean;
  /** The statement's own text (the slice of the query string), for approvals and messages. */
  text: string;
  /** For `PREPARE name AS ...`: the name (classes and tables are those of the prepared statement). */
  prepares?: string;
  /** For `EXECUTE name`: the name; the caller substitutes what that PREPARE was classed as (else `unknown`). */
  executes?: string;
  /** For `DEALLOCATE name` (or `ALL`). */
  deallocates?: string;
  /** Set when the statement parsed but could not be analysed (then its classes are `['unknown']`). */
  analysisError?: string;
  /**
   * Set when the statement must never run through Warden, whatever the policies say: it would change a setting
   * that decides how the server reads statement text (standard_conforming_strings, client_encoding). Its classes
   * then include `unknown`.
   */
  refusal?: string;
  /**
   * True when the value of a number written in the statement decided `unboundedWrite` (`WHERE id > -2147483648`):
   * the analysis is then never reused for a text that differs only in numbers.
   */
  numbersMatter?: boolean;
}

/** The analysis of a whole query string (one or more statements). */
export interface SqlAnalysis {
  statements: StatementAnalysis[];
  /** Union of every statement's classes, sorted. */
  classes: StatementClass[];
  /** Set when the text does not parse (then there is one statement of class `unknown`). */
  parseError?: string;
  /** The first statement's `refusal`, when any statement has one: the whole string is refused. */
  refusal?: string;
}
