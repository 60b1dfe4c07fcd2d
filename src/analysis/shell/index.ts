/**
 * Shell command analysis (issue 12): `loadShellParser()` once at start-up, then `analyzeShell(text)`. See
 * analyze.ts for what it owns and docs/shell-analysis.md for the classes.
 */
export { analyzeShell, loadShellParser, SHELL_LIMITS, shellTextUnfinished } from './analyze.js';
export type { AnalysedUnit, Analysis } from './types.js';
export { SHELL_CLASSES, type ShellClass } from './types.js';
