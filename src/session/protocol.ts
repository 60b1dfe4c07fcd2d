/**
 * What a protocol tells the shared pipeline about itself: the classes its commands can have, the shape of its
 * targets, the policy match keys it understands (and what they mean), and the analyser that turns a command into
 * classes and match attributes. Types only, no behaviour. The pipeline, policy evaluation, approvals, masking and
 * recording see protocols only through these types (received from a ProtocolRegistry); they never import a
 * protocol's module.
 */
import type { z } from 'zod';
import type { Command } from './types.js';

/** One analysed unit: an SQL statement, one simple shell command, later one API request. */
export interface AnalysedUnit {
  /** The unit's own text, for messages and approvers. */
  text: string;
  /** Classes of the unit, sorted and unique; never empty (a unit the analyser cannot judge is `unknown`). */
  classes: string[];
  /** Match attributes: tables/schemas/functions (sql), programs/paths (ssh). An absent key means "not known". */
  attributes: Record<string, string[]>;
  /** Boolean facts a rule may match (e.g. `unbounded` for sql). */
  flags?: Record<string, boolean>;
  /** The protocol's own analysis of the unit (e.g. SQL outputs for masking); only its own protocol reads it. */
  detail?: unknown;
}

/** What an analyser says about one command. */
export interface Analysis {
  units: AnalysedUnit[];
  /** Union of the units' classes, sorted. */
  classes: string[];
  /** Set when the command did not parse: then there is one unit of class `unknown`. */
  parseError?: string;
  /** Set when the command must be refused before any rule (e.g. it would change how the server reads text). */
  refusal?: string;
}

/**
 * Per-session analysis state a protocol keeps between commands (SQL: prepared statements, `SET warden.reason`).
 * Created by the protocol's `newState` when the session opens; the pipeline only hands it back to the analyser.
 */
export interface AnalysisState {
  /** Records what an allowed command did to the session's state (called only once the command may run). */
  remember(analysis: Analysis, command: Command): void;
  /** The reason the caller gave for its work, shown to approvers; undefined when none. */
  readonly reason?: string;
}

/** A rule's `match` as the protocol sees it: its own keys only (never `classes`, which the pipeline handles). */
export type MatchConditions = Readonly<Record<string, unknown>>;

/** Everything a protocol registers with the shared pipeline. */
export interface ProtocolDefinition {
  /** The protocol's name, as targets, sessions and commands carry it (`postgres`, `ssh`). */
  readonly name: string;
  /** The kind of a plain command given as text (`policy test`): `sql` for postgres, `exec` for ssh. */
  readonly commandKind: string;
  /** What its units are called in messages, plural (`statements`; default `commands`). */
  readonly unitsNoun?: string;
  /** Every class its analyser can produce; the policy schema accepts the union over the registered protocols. */
  readonly classes: readonly string[];
  /**
   * The protocol's target fields (everything but `name`, `type` and `labels`), validated when a target is added and
   * when it is read back from the store.
   */
  readonly targetSpec: z.ZodType<Record<string, unknown>>;
  /**
   * Names of the vaulted secrets a target of this protocol may hold besides `password` (ssh: `privateKey`,
   * `passphrase`); `pipeline.credentials()` returns each of them (null when absent).
   */
  readonly secretFields: readonly string[];
  /** The policy match keys it understands and the zod schema of each value (the key is always optional). */
  readonly matchKeys: Readonly<Record<string, z.ZodType>>;
  /**
   * Whether a rule's match conditions (this protocol's keys only) hold for class `cls` of `unit`. `restrictive` is
   * true for deny and require_approval rules: their object conditions hold when the unit MAY touch a matching
   * object; an allow rule's hold only when EVERYTHING of that kind the unit touches matches. Pure and cheap.
   */
  unitMatches(match: MatchConditions, unit: AnalysedUnit, cls: string, restrictive: boolean): boolean;
  /**
   * Analyses one command. Synchronous, pure apart from reading `state`, never throws: what it cannot judge is
   * `unknown`. `state` is this protocol's own state for the session (from `newState`), when it has one.
   */
  analyse(command: Command, state: AnalysisState | undefined): Analysis;
  /** Creates the per-session analysis state, when the protocol keeps one. */
  newState?(): AnalysisState;
  /** Loads what the analyser needs (a parser's WASM), once at start-up, before any command is analysed. */
  init?(): Promise<void>;
}
