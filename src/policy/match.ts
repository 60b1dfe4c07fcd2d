/**
 * Whether one policy rule applies: to a subject (who), to a target (where) and to one class of one analysed unit
 * (what; the protocol's own match keys are matched by its definition's `unitMatches`). The exact semantics are
 * documented in evaluate.ts's header; this module only implements them. Pure and cheap: it runs for every command on
 * the hot path, so it allocates nothing per call beyond glob.ts's compiled cache.
 */
import type { AnalysedUnit, ProtocolDefinition } from '../session/protocol.js';
import type { Subject, Target } from '../session/types.js';
import { anyGlobMatch, globMatch } from './glob.js';
import type { PolicyRule, SubjectSelector } from './schema.js';

/** True when the rule's `subjects` selects this subject (ANY listed item suffices); no selector means everyone. */
export function subjectMatches(selector: SubjectSelector | undefined, subject: Subject): boolean {
  if (selector === undefined) return true;
  const { users, groups, services, agents, chain } = selector;
  if (users && subject.kind === 'user' && anyGlobMatch(users, subject.id)) return true;
  if (services && subject.kind === 'service' && anyGlobMatch(services, subject.id)) return true;
  if (agents && subject.kind === 'agent' && anyGlobMatch(agents, subject.id)) return true;
  if (groups && subject.groups.some((group) => anyGlobMatch(groups, group))) return true;
  if (chain?.actors && subject.chain.some((actor) => anyGlobMatch(chain.actors!, actor.id))) return true;
  if (chain?.longerThan !== undefined && subject.chain.length > chain.longerThan) return true;
  return false;
}

/** True when the target's name matches one of `targets` and every `targetLabels` entry matches its label. */
export function targetMatches(rule: Pick<PolicyRule, 'targets' | 'targetLabels'>, target: Target): boolean {
  if (!anyGlobMatch(rule.targets, target.name)) return false;
  if (rule.targetLabels === undefined) return true;
  for (const [key, pattern] of Object.entries(rule.targetLabels)) {
    const value = Object.hasOwn(target.labels, key) ? target.labels[key] : undefined;
    if (value === undefined || !globMatch(pattern, value)) return false;
  }
  return true;
}

/** Match keys every protocol shares; the others belong to one protocol (or a few). */
const COMMON_KEYS = new Set(['classes']);

/**
 * True when every match key of the rule other than `classes` is one of `protocol`'s: a rule written for another
 * protocol (`tables` on an ssh target, `programs` on a postgres one) never applies to this one.
 */
export function ruleFitsProtocol(rule: Pick<PolicyRule, 'match'>, protocol: ProtocolDefinition): boolean {
  if (rule.match === undefined) return true;
  for (const key in rule.match) {
    if (!COMMON_KEYS.has(key) && !Object.hasOwn(protocol.matchKeys, key)) return false;
  }
  return true;
}

/**
 * True when the rule's `match` holds for class `cls` of `unit`. `restrictive` is true for deny and
 * require_approval rules: their object conditions hold when the unit MAY touch a matching object; an allow
 * rule's hold only when EVERYTHING of that kind the unit touches matches as written. `classes` is matched here;
 * every other key by the protocol (the rule must fit it: ruleFitsProtocol).
 */
export function unitMatches(
  rule: Pick<PolicyRule, 'match'>,
  unit: AnalysedUnit,
  cls: string,
  restrictive: boolean,
  protocol: ProtocolDefinition,
): boolean {
  const match = rule.match;
  if (match === undefined) return true;
  if (match.classes && !match.classes.includes(cls)) return false;
  return protocol.unitMatches(match, unit, cls, restrictive);
}
