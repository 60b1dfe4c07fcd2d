/**
 * What shell analysis tells the policy engine about a command line. Types only: the shared Analysis shape
 * (src/session/protocol.ts) and the shell's classes.
 */
export type { AnalysedUnit, Analysis } from '../../session/protocol.js';

/** The classes a shell command can have, as policies name them. A unit can have several. */
export const SHELL_CLASSES = ['read', 'write', 'destructive', 'privilege', 'network', 'unknown'] as const;

/** One shell class. */
export type ShellClass = (typeof SHELL_CLASSES)[number];
