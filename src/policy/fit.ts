/**
 * Warnings for rules that can never apply where their author aimed them: a rule whose match keys belong to one
 * protocol (`tables` is SQL's, `programs` is SSH's) while every target it names speaks another. Such a rule is
 * valid (the target list may grow) but silently inert today, so `policy apply` and `policy test` say so. Pure: the
 * caller hands in the stored targets and the registry.
 */
import type { ProtocolRegistry } from '../session/protocol-registry.js';
import { targetMatches } from './match.js';
import type { Policy } from './schema.js';

/** What fit() needs to know of a target. */
export interface TargetFacts {
  name: string;
  type: string;
  labels: Record<string, string>;
}

/**
 * One warning per rule that names at least one existing target and whose match keys fit the protocol of none of
 * them. Rules without protocol keys fit every protocol and are never reported.
 */
export function misfitRules(policies: readonly Policy[], targets: readonly TargetFacts[], registry: ProtocolRegistry): string[] {
  const warnings: string[] = [];
  for (const policy of policies) {
    for (const rule of policy.rules) {
      const keys = Object.keys(rule.match ?? {}).filter((key) => key !== 'classes');
      if (keys.length === 0) continue;
      const fits = new Set(registry.protocolsFor(rule.match).map((d) => d.name));
      const named = targets.filter((t) => targetMatches(rule, t as Parameters<typeof targetMatches>[1]));
      if (named.length === 0 || named.some((t) => fits.has(t.type))) continue;
      const types = [...new Set(named.map((t) => t.type))].sort().join(', ');
      warnings.push(`rule ${policy.name}/${rule.name} matches on ${keys.join(', ')} (${[...fits].join(', ') || 'no protocol'}), `
        + `but the targets it names are ${types} targets: it never applies to them`);
    }
  }
  return warnings;
}
