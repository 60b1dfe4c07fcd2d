/**
 * The postgres protocol as the shared pipeline sees it: its statement classes, its target fields, its policy match
 * keys (tables, schemas, functions, unbounded) with their meaning, and its analyser (libpg-query through
 * analysis/sql, plus the per-session state: PREPARE/EXECUTE and `SET warden.reason`). Registered by the server;
 * the pipeline and policy evaluation reach it only through the ProtocolRegistry. Pure: no I/O beyond loading the
 * parser in `init`.
 */
import { z } from 'zod';
import { analyzeSql, initSqlAnalysis } from '../../analysis/sql/analyze.js';
import { STATEMENT_CLASSES, type SqlAnalysis, type StatementAnalysis } from '../../analysis/sql/types.js';
import type { AnalysedUnit, Analysis, AnalysisState, ProtocolDefinition } from '../../session/protocol.js';
import type { Command, CommandOutcome, PostgresTarget, Target, TlsMode } from '../../session/types.js';
import { changedFields } from '../target-changes.js';
import { WardenError } from '../../errors.js';
import { SQL_MATCH_KEYS, sqlUnitMatches } from './match.js';
import { StatementState } from './statement-state.js';

/** The fields of a PostgreSQL target besides name, type and labels. */
export const postgresTargetSpec = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  database: z.string().min(1).max(255),
  user: z.string().min(1).max(255),
  tls: z.enum(['disable', 'prefer', 'require', 'verify-full']),
  ca: z.string().nullable(),
});

/** The postgres protocol's per-session analysis state: SQL-level prepared statements and the caller's reason. */
export class PostgresAnalysisState implements AnalysisState {
  /** The SQL bookkeeping (exposed for tests). */
  readonly sql = new StatementState();

  get reason(): string | undefined {
    return this.sql.reason;
  }

  runsAlso(command: Command): Array<string | null> {
    return this.sql.executedTexts(analyzeSql(command.text));
  }

  settle(command: Command, outcome: CommandOutcome): void {
    // A suspended portal has not finished: its statement's answer is still to come.
    if (outcome.tag === 'PortalSuspended') return;
    this.sql.settle(command.text, outcome.error === undefined && outcome.skipped !== true);
  }

  remember(analysis: Analysis, command: Command): void {
    const statements = analysis.units.map((unit) => unit.detail).filter(isStatement);
    this.sql.remember({ statements }, command.text);
  }
}

function isStatement(detail: unknown): detail is StatementAnalysis {
  return typeof detail === 'object' && detail !== null && 'kind' in detail && 'classes' in detail;
}

/**
 * The neutral form of a SQL analysis, memoised by object: analyzeSql returns the same frozen object for the same
 * text, so the data path converts each distinct statement text once.
 */
const converted = new WeakMap<SqlAnalysis, Analysis>();

/** A SqlAnalysis in the pipeline's neutral shape: one unit per statement, its StatementAnalysis as `detail`. */
export function fromSqlAnalysis(sql: SqlAnalysis): Analysis {
  const hit = converted.get(sql);
  if (hit) return hit;
  const analysis: Analysis = {
    units: sql.statements.map(toUnit),
    classes: [...sql.classes],
    ...(sql.parseError !== undefined ? { parseError: sql.parseError } : {}),
    ...(sql.refusal !== undefined ? { refusal: sql.refusal } : {}),
  };
  converted.set(sql, analysis);
  return analysis;
}

function toUnit(s: StatementAnalysis): AnalysedUnit {
  return {
    text: s.text,
    classes: s.classes,
    attributes: { tables: s.tables, schemas: s.schemas, functions: s.functions },
    flags: { unbounded: s.unboundedWrite },
    detail: s,
  };
}

/** A command this protocol does not know how to read: judged as `unknown` (fail closed). */
function notSql(command: Command): Analysis {
  return { units: [{ text: command.text, classes: ['unknown'], attributes: {} }], classes: ['unknown'],
    parseError: `a postgres session sent a "${command.kind}" command` };
}

/** TLS modes from weakest to strongest; lowering one could expose the stored password to a man in the middle. */
const TLS_STRENGTH: Record<TlsMode, number> = { disable: 0, prefer: 1, require: 2, 'verify-full': 3 };

/** The postgres protocol. */
export const postgresProtocol: ProtocolDefinition = {
  name: 'postgres',
  commandKind: 'sql',
  unitsNoun: 'statements',
  classes: STATEMENT_CLASSES,
  targetSpec: postgresTargetSpec,
  secretFields: [],
  matchKeys: SQL_MATCH_KEYS,
  unitMatches: (match, unit, _cls, restrictive) => sqlUnitMatches(match, unit, restrictive),
  targetView: (t, stored) => ({ host: t.host, port: t.port, user: t.user, database: t.database, tls: t.tls, hasCa: t.ca !== null,
    hasPassword: stored.password }),
  redirects(current, change) {
    const moved = changedFields(current, change, { host: 'host', port: 'port', user: 'user', ca: 'ca' });
    const tls = change.tls as TlsMode | undefined;
    if (tls !== undefined && TLS_STRENGTH[tls] < TLS_STRENGTH[current.tls as TlsMode]) moved.push('tls (weaker)');
    return moved;
  },
  secretsAgain: 'stored password to another server: give the password again (--password-stdin) or remove it (--no-password)',
  analyse(command, state) {
    if (command.kind !== 'sql') return notSql(command);
    const sql = analyzeSql(command.text);
    // Each `EXECUTE name` is judged as what its PREPARE was (unknown when never seen in this session).
    const resolved = state instanceof PostgresAnalysisState ? state.sql.resolve(sql) : sql;
    return fromSqlAnalysis(resolved);
  },
  newState: () => new PostgresAnalysisState(),
  init: () => initSqlAnalysis(),
};

/** The PostgreSQL target of a postgres session; anything else is an internal error (fail closed). */
export function postgresTarget(target: Target): PostgresTarget {
  if (target.type !== 'postgres') {
    throw new WardenError('WARDEN_ERR_INTERNAL', `target "${target.name}" is not a postgres target`, { public: false });
  }
  return target;
}
