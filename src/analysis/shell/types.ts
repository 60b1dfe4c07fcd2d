/**
 * What shell analysis tells the policy engine about a command line. Types only.
 *
 * `AnalysedUnit` and `Analysis` have exactly the shape of the shared contract (src/session/protocol.ts on branch h1,
 * issue 12); they are declared here until that branch is merged, then this file re-exports the real ones.
 */

/** The classes a shell command can have, as policies name them. A unit can have several. */
export const SHELL_CLASSES = ['read', 'write', 'destructive', 'privilege', 'network', 'unknown'] as const;

/** One shell class. */
export type ShellClass = (typeof SHELL_CLASSES)[number];

/** One analysed unit: an SQL statement, one simple shell command, later one API request. */
export interface AnalysedUnit {
  /** The unit's own text, for messages. */
  text: string;
  /** E.g. read, write, destructive, privilege, network, unknown. Sorted, unique, never empty. */
  classes: string[];
  /** Match keys: for the shell `programs` and `paths`. */
  attributes: Record<string, string[]>;
  /** For the shell: `opaquePaths` (some argument's value is only known when it runs, so `paths` may be incomplete). */
  flags?: Record<string, boolean>;
  /** The protocol's own analysis. */
  detail?: unknown;
}

/** What an analyser says about one command. */
export interface Analysis {
  units: AnalysedUnit[];
  /** Union of the units' classes, sorted. */
  classes: string[];
  /** Did not parse: then one unit of class `unknown`. */
  parseError?: string;
  /** Refused before any rule. */
  refusal?: string;
}
