/**
 * Whether a rule explicitly grants class `secrets` for a request: only then are Secret values shown unmasked. An
 * allow rule without `classes` (or the default effect) lets a request run but does not say "show Secret values",
 * so they stay masked. Computed with the shared policy evaluation over the same policies, subject (with its
 * delegation chain), target and analysed request, where only allow and require_approval rules that name `secrets`
 * in their classes can allow, every deny still applies, and the default is deny. Pure: no I/O.
 */
import { evaluate } from '../../policy/evaluate.js';
import type { Policy } from '../../policy/schema.js';
import type { Analysis, ProtocolDefinition } from '../../session/protocol.js';
import type { Subject, Target } from '../../session/types.js';

const cache = new WeakMap<readonly Policy[], Policy[]>();

/** The policies with only the allowing rules that name class `secrets` kept (cached per policy set). */
function explicitSecretPolicies(policies: readonly Policy[]): Policy[] {
  let kept = cache.get(policies);
  if (kept === undefined) {
    kept = policies.map((p) => ({ ...p, rules: p.rules.filter((r) => r.effect === undefined || r.effect === 'deny'
      || (r.match?.classes?.includes('secrets') ?? false)) }));
    cache.set(policies, kept);
  }
  return kept;
}

/** True when a rule naming class `secrets` (and no deny) lets this subject read Secret values of this request. */
export function secretsGranted(policies: readonly Policy[], subject: Subject, target: Target, analysis: Analysis,
  protocol: ProtocolDefinition): boolean {
  if (analysis.units.length === 0 || analysis.refusal !== undefined) return false;
  const units = analysis.units.map((u) => ({ ...u, classes: ['secrets'] }));
  const decision = evaluate(explicitSecretPolicies(policies), { subject, target, protocol,
    analysis: { units, classes: ['secrets'] } }, { defaultEffect: 'deny' });
  return decision.effect !== 'deny';
}
