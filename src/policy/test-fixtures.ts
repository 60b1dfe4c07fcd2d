/**
 * Builders shared by the policy tests: subjects, targets and hand-made SQL analyses (the policy tests never run the
 * real analyzer, so they pin the contract of analysis/sql/types.ts instead of its behaviour), and the two policy
 * examples from the product documentation. Test support only; never imported by production code.
 */
import type { StatementAnalysis, StatementClass, SqlAnalysis } from '../analysis/sql/types.js';
import '../protocols/test-install.js';
import { fromSqlAnalysis, postgresProtocol } from '../protocols/postgres/definition.js';
import type { Subject, Target } from '../session/types.js';
import { evaluate, type EvaluateOptions } from './evaluate.js';
import type { Policy } from './schema.js';
import type { Decision } from './types.js';

/** evaluate() for a SQL analysis on a postgres target, as the pipeline calls it through the postgres protocol. */
export function evaluateSql(policies: readonly Policy[], input: { subject: Subject; target: Target; analysis: SqlAnalysis },
  options: EvaluateOptions): Decision {
  return evaluate(policies, { ...input, analysis: fromSqlAnalysis(input.analysis), protocol: postgresProtocol }, options);
}

/** A subject with sensible defaults; override any field. */
export function subject(overrides: Partial<Subject> = {}): Subject {
  return { id: 'alice', kind: 'user', groups: [], chain: [], tokenId: 'tok_1', targets: ['*'], expiresAt: 2e9, ...overrides };
}

/** A PostgreSQL target named `name` with the given labels. */
export function target(name = 'pg-prod', labels: Record<string, string> = {}): Target {
  return { name, type: 'postgres', host: '127.0.0.1', port: 5432, database: 'app', user: 'app', tls: 'disable', ca: null, labels };
}

/** One statement's analysis; classes default to read. */
export function stmt(classes: StatementClass[] = ['read'], overrides: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return {
    kind: 'SelectStmt', classes: [...classes].sort(), tables: [], schemas: [], functions: [], unboundedWrite: false,
    text: 'SELECT 1', ...overrides,
  };
}

/** A query string's analysis from its statements (classes = sorted union). */
export function analysis(...statements: StatementAnalysis[]): SqlAnalysis {
  const classes = [...new Set(statements.flatMap((s) => s.classes))].sort();
  return { statements, classes };
}

/**
 * The first two rules of the guardrails example as YAML list items (destructive and unknown statements denied with
 * `message`, agents' writes held for a dba), for policies built on it (the end-to-end review tests use them too).
 */
export function guardrailRules(message: string): string {
  return `  - name: block-destructive
    targets: ["pg-*"]
    match: { classes: [destructive, unknown] }
    effect: deny
    message: ${message}
  - name: writes-need-approval
    targets: ["pg-*"]
    subjects: { groups: [agents] }
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [dba], count: 1 }
    timeout: 2m
`;
}

/** The guardrails example, exactly as documented. */
export const GUARDRAILS_YAML = `kind: Policy
name: prod-guardrails
rules:
${guardrailRules('destructive statements are blocked on production')}  - name: reads-and-writes
    targets: ["pg-*"]
    match: { classes: [read, write] }
    effect: allow
`;

/** The masking example, exactly as documented. */
export const MASKING_YAML = `kind: Policy
name: pii-masking
rules:
  - name: reads-and-writes
    targets: ["pg-*"]
    match: { classes: [read, write] }
    effect: allow
  - name: mask-pii
    targets: ["pg-*"]
    mask:
      - columns: ["*.email"]
        strategy: partial
      - columns: ["public.customers.card_number"]
        strategy: redact
      - detectors: [card, email, jwt, aws_access_key]
        strategy: redact
`;
