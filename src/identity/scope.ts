/**
 * Narrowing for delegation: a delegated token may only ever be narrower than its parent (RFC 8693 leaves that to
 * the issuer). Each check here answers "is the requested scope inside the parent's?" conservatively: when in doubt
 * the answer is no, so a sub-agent can never widen what it was given. Pure functions only.
 */
import { STATEMENT_CLASSES } from '../analysis/sql/types.js';
import { WardenError } from '../errors.js';
import { globRegExp } from '../policy/glob.js';

const compiled = new Map<string, RegExp>();

/**
 * True when every name the glob `child` matches is also matched by the glob `parent`. The child is read as text:
 * the parent's `*` may cover any of it (wildcards included), its `?` one character that is not a `*`, so a child
 * wildcard only passes where the parent has a wildcard at least as wide.
 */
export function globWithin(child: string, parent: string): boolean {
  if (parent === '*') return true;
  let re = compiled.get(parent);
  if (!re) {
    re = globRegExp(parent, '[^*]');
    compiled.set(parent, re);
  }
  return re.test(child);
}

const widen = (message: string) => new WardenError('WARDEN_ERR_FORBIDDEN', `delegation cannot widen scope: ${message}`);

/** The target patterns of a delegated token: `requested` (default: the parent's), each inside a parent pattern. */
export function narrowTargets(parent: readonly string[], requested: readonly string[] | undefined): string[] {
  if (requested === undefined) return [...parent];
  for (const pattern of requested) {
    if (!parent.some((p) => globWithin(pattern, p))) {
      throw widen(`target "${pattern}" is outside the parent's targets (${parent.join(', ')})`);
    }
  }
  return [...new Set(requested)];
}

/** The statement classes of a delegated token: `requested` (default: the parent's), a subset of the parent's. */
export function narrowClasses(parent: readonly string[] | undefined, requested: readonly string[] | undefined,
  known: readonly string[] = STATEMENT_CLASSES): string[] | undefined {
  if (requested === undefined) return parent === undefined ? undefined : [...parent];
  for (const cls of requested) {
    if (!known.includes(cls)) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `unknown statement class "${cls}" (one of ${known.join(', ')})`);
    }
    if (parent !== undefined && !parent.includes(cls)) throw widen(`statement class "${cls}" is not allowed to the parent`);
  }
  return [...new Set(requested)];
}

/** The groups of a delegated token: `requested` (default: the parent's), a subset of the parent's. */
export function narrowGroups(parent: readonly string[], requested: readonly string[] | undefined): string[] {
  if (requested === undefined) return [...parent];
  for (const group of requested) if (!parent.includes(group)) throw widen(`group "${group}" is not one of the parent's`);
  return [...new Set(requested)];
}

/** The lifetime of a delegated token: `requested` (default: min(defaultSeconds, remaining)), never past the parent's end. */
export function narrowTtl(remainingSeconds: number, requested: number | undefined, defaultSeconds: number): number {
  if (remainingSeconds <= 0) throw new WardenError('WARDEN_ERR_TOKEN_EXPIRED', 'the parent token has expired');
  if (requested === undefined) return Math.min(defaultSeconds, remainingSeconds);
  if (requested > remainingSeconds) {
    throw widen(`a lifetime of ${requested}s outlives the parent token (${remainingSeconds}s left)`);
  }
  return requested;
}
