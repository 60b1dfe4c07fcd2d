/**
 * Per-session SQL facts that change how later statements are judged: SQL-level prepared statements (an `EXECUTE x`
 * is judged as the `PREPARE x AS ...` it runs; names kept exactly as the server keeps them: the parser already
 * folded unquoted names to lower case and kept quoted ones, so `"W"` and `w` are two statements) and the reason the
 * caller gave for its work (`SET warden.reason`). The postgres protocol's analysis state (definition.ts) wraps it;
 * the neutral parts of a session's state (pending approval, draining) live in the pipeline. Pure bookkeeping, no I/O.
 */
import type { SqlAnalysis, StatementAnalysis, StatementClass } from '../../analysis/sql/types.js';

/** `SET [SESSION|LOCAL] warden.reason = '...'` (or TO): only for the reason shown to approvers, never for a decision. */
const REASON = /^\s*set\s+(?:session\s+|local\s+)?"?warden"?\."?reason"?\s*(?:=|to)\s*'((?:[^']|'')*)'/i;

/** What a PostgreSQL session remembers between statements. */
export class StatementState {
  private readonly prepared = new Map<string, StatementAnalysis>();
  /** The reason the caller gave with `SET warden.reason`. */
  reason: string | undefined;

  /** The analysis to judge: each `EXECUTE name` replaced by what its PREPARE was (unknown if never seen). */
  resolve(analysis: SqlAnalysis): SqlAnalysis {
    if (!analysis.statements.some((s) => s.executes !== undefined)) return analysis;
    const statements = analysis.statements.map((s) => {
      const prepared = s.executes === undefined ? undefined : this.prepared.get(s.executes);
      if (!prepared) return s;
      // The EXECUTE's own classes (e.g. a dangerous function in its parameters) count too; its `unknown` was only
      // the placeholder for what the PREPARE does.
      const own = s.classes.filter((c) => c !== 'unknown');
      return { ...prepared, text: s.text, executes: s.executes, prepares: undefined,
        classes: [...new Set([...prepared.classes, ...own])].sort() as StatementClass[],
        functions: [...new Set([...prepared.functions, ...s.functions])] };
    });
    const classes = [...new Set(statements.flatMap((s) => s.classes))].sort() as StatementClass[];
    return { ...analysis, statements, classes };
  }

  /** Remembers what an allowed query string did to the session's state (PREPARE, DEALLOCATE, warden.reason). */
  remember(analysis: Pick<SqlAnalysis, 'statements'>, text: string): void {
    for (const s of analysis.statements) {
      if (s.prepares !== undefined) this.prepared.set(s.prepares, s);
      if (s.deallocates !== undefined) {
        // The analysis spells DEALLOCATE ALL as 'ALL'; a statement really named "ALL" is then forgotten with the
        // rest, which only makes a later EXECUTE of it unknown (refused), never less judged.
        if (s.deallocates === 'ALL') this.prepared.clear();
        else this.prepared.delete(s.deallocates);
      }
    }
    const reason = REASON.exec(text);
    if (reason) this.reason = reason[1].replace(/''/g, "'");
  }
}
