/**
 * What the SSH policy match keys mean (`programs`, `paths`) for one analysed shell command, with SQL's object
 * semantics: a deny or require_approval rule (restrictive) holds when the command MAY touch a matching program or
 * path; an allow rule (permissive) holds only when the command names at least one and EVERYTHING of that kind it
 * touches matches as written. An attribute the analyser could not establish (absent key) may be anything: every
 * restrictive rule naming that key holds and no permissive one does. Pure, no allocation beyond glob.ts's cache.
 *
 * Paths: `*` matches any run of characters, `/` included (policy/glob.ts), so `/etc/*` covers `/etc/ssh/sshd_config`.
 * An absolute path is judged after lexical normalisation (`/tmp/../etc/shadow` is `/etc/shadow`). A relative path
 * (or `~/...`) resolves against a working directory the caller controls, so for a restrictive rule it may be the tail
 * of any path the pattern matches; it never satisfies an allow rule. A path that still holds shell wildcards or
 * expansions (`*`, `?`, `[`, `$`, backquote) may be any path: restrictive rules hold, allow rules do not.
 * Symbolic links are invisible to Warden: an allow rule on paths is a convenience, never a sandbox.
 */
import path from 'node:path';
import { z } from 'zod';
import { globMatch } from '../../policy/glob.js';
import type { AnalysedUnit, MatchConditions } from '../../session/protocol.js';

const globs = z.array(z.string().min(1)).min(1);

/** The SSH match keys and the schema of each value. */
export const SSH_MATCH_KEYS = { programs: globs, paths: globs } as const;

/** The SSH match conditions of a rule. */
export interface SshMatch {
  programs?: readonly string[];
  paths?: readonly string[];
}

/** True when the SSH conditions of `match` hold for `unit` (one simple command). */
export function sshUnitMatches(conditions: MatchConditions, unit: AnalysedUnit, restrictive: boolean): boolean {
  const match = conditions as SshMatch;
  if (match.programs && !holds(match.programs, unit.attributes.programs, restrictive, programMayBe, programIs)) return false;
  if (match.paths && !holds(match.paths, unit.attributes.paths, restrictive, pathMayBe, pathIs)) return false;
  return true;
}

type Test = (pattern: string, value: string) => boolean;

function holds(patterns: readonly string[], values: readonly string[] | undefined, restrictive: boolean,
  mayBe: Test, is: Test): boolean {
  // Not established by the analyser: may be anything.
  if (values === undefined) return restrictive;
  if (restrictive) return values.some((value) => patterns.some((pattern) => mayBe(pattern, value)));
  return values.length > 0 && values.every((value) => patterns.some((pattern) => is(pattern, value)));
}

/**
 * A program as written: `rm` (found through PATH) may be `/usr/bin/rm`, `/usr/bin/rm` is caught by `rm`, and a
 * relative `./rm` or `bin/rm` lies below a working directory the caller controls (judged as a relative path).
 */
function programMayBe(pattern: string, program: string): boolean {
  if (EXPANSION.test(program) || globMatch(pattern, program)) return true;
  const slash = program.lastIndexOf('/');
  if (slash >= 0 && !pattern.includes('/')) return globMatch(pattern, program.slice(slash + 1));
  if (slash < 0 && pattern.includes('/')) return globMatch(pattern.slice(pattern.lastIndexOf('/') + 1), program);
  if (slash >= 0 && !program.startsWith('/')) return pathMayBe(pattern, program);
  return false;
}

/** An allow rule's program: matched exactly as written (`ls` does not allow `/tmp/ls`), never an expansion. */
function programIs(pattern: string, program: string): boolean {
  return !EXPANSION.test(program) && globMatch(pattern, program);
}

const EXPANSION = /[*?[$`]/;

/** Could `value` (a path as the command names it) denote a path `pattern` matches? */
function pathMayBe(pattern: string, value: string): boolean {
  const below = /^(\/[^*?[$`]*?)\/+\*$/.exec(value);
  if (below) return mayBeBelow(pattern, path.posix.normalize(below[1]));
  if (EXPANSION.test(value)) return true;
  const relative = relativePart(value);
  if (relative === undefined) return globMatch(pattern, path.posix.normalize(value));
  if (relative === '') return true; // `~`, `..`: a directory Warden cannot name
  // Some directory D with pattern matching D + '/' + relative: some tail of the pattern matches '/' + relative (a
  // glob has no escapes, so any head of it matches some D).
  const tail = `/${relative}`;
  for (let k = 0; k < pattern.length; k++) if (globMatch(pattern.slice(k), tail)) return true;
  return false;
}

/**
 * Could `pattern` match some path strictly below the absolute directory `dir` (a copy's receiving end writes
 * `dir/<names the client chooses>`)? Only the pattern's literal head up to its first wildcard can rule it out.
 */
function mayBeBelow(pattern: string, dir: string): boolean {
  const wild = pattern.search(/[*?[]/);
  const head = wild < 0 ? pattern : pattern.slice(0, wild);
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return wild < 0 ? pattern.startsWith(prefix) && pattern.length > prefix.length : head.startsWith(prefix) || prefix.startsWith(head);
}

/** An allow rule's path: absolute, without expansions, and matching the pattern once normalised. */
function pathIs(pattern: string, value: string): boolean {
  return value.startsWith('/') && !EXPANSION.test(value) && globMatch(pattern, path.posix.normalize(value));
}

/** The part of a path below an unknown directory, or undefined for an absolute path Warden can name. */
function relativePart(value: string): string | undefined {
  let rest = value;
  if (rest.startsWith('~')) {
    const slash = rest.indexOf('/');
    rest = slash < 0 ? '' : rest.slice(slash + 1);
  } else if (rest.startsWith('/')) return undefined;
  // Leading `..` climb out of the unknown directory into another unknown one.
  const parts = path.posix.normalize(rest === '' ? '.' : rest).split('/').filter((part) => part !== '' && part !== '.');
  while (parts[0] === '..') parts.shift();
  return parts.join('/');
}
