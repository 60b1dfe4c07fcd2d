/**
 * Name patterns used wherever an operator names a set of things (targets, users, tables): `*` matches any run of
 * characters, `?` one character, everything else itself. Pure; compiled patterns are cached by text.
 */

const compiled = new Map<string, RegExp>();

/** True when `name` matches the glob `pattern` (case-sensitive, whole string). */
export function globMatch(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  let re = compiled.get(pattern);
  if (!re) {
    re = globRegExp(pattern);
    compiled.set(pattern, re);
  }
  return re.test(name);
}

/**
 * The whole-string RegExp of a glob: `*` becomes `.*`, `?` becomes `anyOne` (default `.`, one character), every
 * other character matches itself. Callers cache what they compile.
 */
export function globRegExp(pattern: string, anyOne = '.'): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, anyOne);
  return new RegExp(`^${body}$`, 's');
}

/** True when any of the patterns matches `name`. */
export function anyGlobMatch(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => globMatch(p, name));
}
