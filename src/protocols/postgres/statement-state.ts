/**
 * Per-session SQL facts that change how later statements are judged: SQL-level prepared statements (an `EXECUTE x`
 * is judged as the `PREPARE x AS ...` it runs; names kept exactly as the server keeps them: the parser already
 * folded unquoted names to lower case and kept quoted ones, so `"W"` and `w` are two statements; a PREPARE or
 * DEALLOCATE changes them only once the server says it ran, because a PREPARE of a name the server already holds
 * fails there and keeps the old statement, and one skipped in a failed transaction changes nothing: until then,
 * and whenever Warden cannot tell, the name is in doubt and its EXECUTE is judged `unknown`), and the reason the
 * caller gave for its work (`SET warden.reason`).
 * The postgres protocol's analysis state (definition.ts) wraps it; the neutral parts of a session's state (pending
 * approval, draining) live in the pipeline. Pure bookkeeping, no I/O.
 */
import type { SqlAnalysis, StatementAnalysis, StatementClass } from '../../analysis/sql/types.js';

/** `SET [SESSION|LOCAL] warden.reason = '...'` (or TO): only for the reason shown to approvers, never for a decision. */
const REASON = /^\s*set\s+(?:session\s+|local\s+)?"?warden"?\."?reason"?\s*(?:=|to)\s*'((?:[^']|'')*)'/i;

/** A PREPARE or DEALLOCATE sent and not yet answered: what each name was before and becomes if it ran. */
interface PendingChange {
  text: string;
  /** The text held one statement: its failure is this change's failure (otherwise which one failed is unknown). */
  single: boolean;
  changes: Array<{ name: string; before: StatementAnalysis | null | undefined; after: StatementAnalysis | undefined }>;
  /** DEALLOCATE ALL. */
  all: boolean;
}

/** What a PostgreSQL session remembers between statements. */
export class StatementState {
  /** Prepared names as the server holds them; null: in doubt (a change not yet answered, or an unknown outcome). */
  private readonly prepared = new Map<string, StatementAnalysis | null>();
  private readonly pending: PendingChange[] = [];
  /** The reason the caller gave with `SET warden.reason`. */
  reason: string | undefined;

  /** The analysis to judge: each `EXECUTE name` replaced by what its PREPARE was (unknown if never seen). */
  resolve(analysis: SqlAnalysis): SqlAnalysis {
    if (!analysis.statements.some((s) => s.executes !== undefined)) return analysis;
    const statements = analysis.statements.map((s) => {
      const prepared = s.executes === undefined ? undefined : this.prepared.get(s.executes);
      // In doubt or never seen: the EXECUTE keeps its own `unknown`.
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

  /**
   * The texts of the PREPAREs that the EXECUTEs of `analysis` run, in order (null for a name never prepared): the
   * same `EXECUTE w` runs another statement once `w` was prepared again, so it is part of what a statement is.
   */
  executedTexts(analysis: SqlAnalysis): Array<string | null> {
    return analysis.statements.filter((s) => s.executes !== undefined).map((s) => this.prepared.get(s.executes!)?.text ?? null);
  }

  /**
   * Notes what an allowed query string will do to the session's state: PREPARE and DEALLOCATE wait for `settle`
   * (a PREPARE's name is in doubt meanwhile); warden.reason applies at once. The same text judged again before its
   * answer (Parse, Bind and Execute of one statement) is one change.
   */
  remember(analysis: Pick<SqlAnalysis, 'statements'>, text: string): void {
    const reason = REASON.exec(text);
    if (reason) this.reason = reason[1].replace(/''/g, "'");
    const acting = analysis.statements.filter((s) => s.prepares !== undefined || s.deallocates !== undefined);
    if (acting.length === 0 || this.pending.some((p) => p.text === text)) return;
    const change: PendingChange = { text, single: analysis.statements.length === 1, changes: [], all: false };
    for (const s of acting) {
      // The analysis spells DEALLOCATE ALL as 'ALL'; a statement really named "ALL" is then forgotten with the
      // rest, which only makes a later EXECUTE of it unknown (refused), never less judged.
      if (s.deallocates === 'ALL') change.all = true;
      const name = s.prepares ?? s.deallocates!;
      change.changes.push({ name, before: this.prepared.get(name), after: s.prepares !== undefined ? s : undefined });
      // Until the answer, an EXECUTE may meet either statement: in doubt. A DEALLOCATE leaves the old one judged.
      if (s.prepares !== undefined) this.prepared.set(name, null);
    }
    this.pending.push(change);
  }

  /**
   * The server answered the query string `text` (the oldest one pending with that text): `ok` when every statement
   * in it ran. A failed single statement changed nothing; a failed string of several leaves its names in doubt.
   */
  settle(text: string, ok: boolean): void {
    const at = this.pending.findIndex((p) => p.text === text);
    if (at < 0) return;
    const [change] = this.pending.splice(at, 1);
    if (ok && change.all) this.prepared.clear();
    for (const { name, before, after } of change.changes) {
      if (ok) {
        if (after === undefined) this.prepared.delete(name);
        else this.prepared.set(name, after);
      } else if (!change.single) this.prepared.set(name, null);
      else if (before === undefined) this.prepared.delete(name);
      else this.prepared.set(name, before);
    }
  }
}
