/**
 * What a protocol tells the shared pipeline about itself: the classes its commands can have, the shape of its
 * targets, the policy match keys it understands (and what they mean), and the analyser that turns a command into
 * classes and match attributes. Types only, no behaviour. The pipeline, policy evaluation, approvals, masking and
 * recording see protocols only through these types (received from a ProtocolRegistry); they never import a
 * protocol's module.
 */
import type { z } from 'zod';
import type { Command, CommandOutcome } from './types.js';

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
  /**
   * What else, besides its text, decides what a command does in this session (SQL: the PREPARE text each EXECUTE
   * runs). Part of the key an approval window is granted for, so a window never covers a command that now does
   * something else under the same text.
   */
  runsAlso?(command: Command): ReadonlyArray<string | null>;
  /**
   * What else decides what a command does that the approver already sees in the command itself (a Kubernetes write's
   * body, shown as its recorded value): part of the approval window's key only, never shown. A value no other
   * command can have (e.g. for a body Warden could not read) makes the window cover nothing else.
   */
  keyAlso?(command: Command): ReadonlyArray<string>;
  /**
   * The upstream finished a command this state remembered (`outcome` as the engine reported it): changes that take
   * effect only when the server says they ran (SQL: PREPARE, DEALLOCATE) are applied or undone here.
   */
  settle?(command: Command, outcome: CommandOutcome): void;
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
  /**
   * The protocol's own fields of a stored target as the API shows it (besides name, type, labels and times), built
   * field by field from the stored `fields`; `stored` says whether a password is stored and which other secrets are.
   * Never a secret nor its ciphertext. Absent: no fields of its own.
   */
  targetView?(fields: Readonly<Record<string, unknown>>, stored: { password: boolean; secrets: readonly string[] }): Record<string, unknown>;
  /**
   * Which fields of a target update would send its stored secrets to a server they were not given for (a host, a
   * CA, weaker TLS), in words for the refusal; such an update must give the secrets again. Absent: none.
   */
  redirects?(current: Readonly<Record<string, unknown>>, change: Readonly<Record<string, unknown>>): string[];
  /** How to give the stored secrets again or remove them, for that refusal (`give the password again (...)`). */
  readonly secretsAgain?: string;
  /** Creates the per-session analysis state, when the protocol keeps one. */
  newState?(): AnalysisState;
  /** Loads what the analyser needs (a parser's WASM), once at start-up, before any command is analysed. */
  init?(): Promise<void>;
}
