/**
 * A principal's full identity: its name together with the delegation chain it acts through. Two callers with the
 * same name but different origins (alice's `helper` and mallory's `helper`) are different principals, so grants,
 * approval windows and "own request" checks are keyed by this, never by the bare name. Pure functions only.
 * Names never contain whitespace (token subjects are validated), so the key is unambiguous.
 */
import type { Actor } from '../session/types.js';

/**
 * The key of `id` acting through `chain` (origin first): the bare name when it acts for itself (people and service
 * accounts keep their plain names), else `helper (via alice, planner)`.
 */
export function principalKey(id: string, chain: readonly Actor[]): string {
  return chain.length === 0 ? id : `${id} (via ${chain.map((a) => a.id).join(', ')})`;
}

/** The keys of every principal a caller is or acts for: each link of its chain (with the chain before it) and itself. */
export function principalKeys(id: string, chain: readonly Actor[]): string[] {
  return [...chain.map((link, i) => principalKey(link.id, chain.slice(0, i))), principalKey(id, chain)];
}
