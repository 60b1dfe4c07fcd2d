/**
 * "Did you mean": the closest of some known names to a mistyped one, by edit distance, and node's parseArgs errors
 * in Warden's words. Pure; used by the CLI for commands and flags, by `warden start` for its flags and by the
 * control API for names (a user to disable). It never reveals more than the candidates its caller passes.
 */

/**
 * Edit distance between two short strings (command, flag and user names): insertions, deletions, substitutions
 * and swaps of two neighbouring letters (`alcie` -> `alice`) each count one (optimal string alignment).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate closest to `word`, when it is close enough to be a plausible typo (at most a third of the word's
 * letters wrong, at least one) or `word` is an unambiguous prefix of it; undefined otherwise.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const budget = Math.max(1, Math.floor(w.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(w, name.toLowerCase());
    if (distance <= budget && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  if (best !== undefined) return best.name;
  const prefixed = candidates.filter((c) => w.length >= 2 && c.toLowerCase().startsWith(w));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** `; did you mean "x"?` or the empty string. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const match = closest(word, candidates);
  return match === undefined ? '' : `; did you mean "${match}"?`;
}

/** The flags a parseArgs option table accepts, spelled as on the command line (`--json`, `-o`). */
export function flagNames(options: Record<string, { short?: string }>): string[] {
  return Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
}

/**
 * Rewrites an error of node's parseArgs (ERR_PARSE_ARGS_*) in Warden's words, with a suggestion for an unknown
 * flag. Anything unrecognised keeps node's message rather than losing information.
 */
export function parseErrorMessage(err: unknown, options: Record<string, { short?: string; type?: string }>): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string })?.code;
  const flags = flagNames(options);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /option '([^']+)'/i.exec(message)?.[1] ?? '';
    const name = flag.split('=')[0];
    return `unknown flag "${name}"${didYouMean(name, flags.filter((f) => f.startsWith('--') === name.startsWith('--')))}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /option '(?:-\w, )?(-[^' ]+)/i.exec(message)?.[1] ?? '';
    if (/argument missing/i.test(message)) return `flag ${flag} needs a value`;
    if (/does not take an argument/i.test(message)) return `flag ${flag} takes no value`;
    return `bad value for flag ${flag}`;
  }
  return message;
}
