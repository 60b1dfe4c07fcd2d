/**
 * The policy decision for one query string: allow, deny or require_approval, and the rule that decided. Pure and
 * deterministic: the same policies, input and options always give the same Decision. It must never do I/O, read the
 * clock or keep state between calls; approvals, grants and recording belong to the session pipeline.
 *
 * Semantics (exact):
 * 0. A query string whose analysis carries a `refusal` (it would change a setting Warden keeps pinned, such as
 *    standard_conforming_strings) is denied with that message, whatever the rules say; Decision.rule is undefined.
 * 1. Order: policies sorted by name (code-unit order; equal names keep their given order), rules in file order.
 *    "First" below always means first in this order. Rules without an effect (mask-only) are ignored here.
 * 2. A rule applies to a subject when its `subjects` is absent, or ANY listed item matches: `users` (subject kind
 *    user, id glob), `services` (kind service), `agents` (kind agent), `groups` (any group of the subject),
 *    `chain.actors` (the id of any actor in the delegation chain), `chain.longerThan` (chain length > n).
 *    Delegation only narrows: a deny, require_approval or mask rule also applies to a delegated subject when it
 *    applies to any link of its chain or to the groups of any token of the chain (Subject.chainGroups); allow
 *    rules apply to the caller as it is (its narrowed groups). A require_approval that applies through the chain
 *    only never turns a deny into an approval: it only holds what the caller's own rules (or the default) allow.
 * 3. A rule applies to a target when its name matches any of `targets` (default ["*"]) and every `targetLabels`
 *    entry names a label the target has, whose value matches the entry's glob.
 * 4. A rule applies to class C of a statement S when its `match` is absent, or every given condition holds:
 *    `classes` lists C; `unbounded` equals S.unboundedWrite; and `tables`, `functions`, `schemas` as follows.
 *    - deny and require_approval rules (restrictive) hold when S MAY touch a matching object: any table (function)
 *      matches; an unqualified name also matches a qualified pattern by its last part (`orders` may resolve to
 *      `audit.orders` through the caller-controlled search_path), and a qualified name also matches a pattern
 *      without a schema by its last part (`secrets` covers `public.secrets`). `schemas` holds when any schema S
 *      names matches, or S touches an unqualified table.
 *    - allow rules hold only when S touches such objects and ALL of them match as written: every table (function)
 *      matches a pattern; for `schemas`, S names at least one schema, all match, and none of its tables is
 *      unqualified. So joining an allowed table with a forbidden one is not allowed by that rule.
 *    Names are compared case-sensitively, as PostgreSQL stores them (lower case unless quoted).
 * 5. For each statement S (in order) and each class C of S (in order), among the rules that apply (2-4):
 *    the first deny -> deny; else the first require_approval -> require_approval (its approvers and timeout);
 *    else the first allow -> allow; else the default: `defaultEffect`, except that `accessGranted` turns a default
 *    deny into allow. Explicit deny and require_approval rules still apply under a grant.
 * 6. The query string's decision is the strongest over all (S, C) pairs, deny > require_approval > allow; among
 *    equally strong pairs one decided by a rule beats one decided by the default, then the first in statement order
 *    (then class order) decides the rule, message and approval.
 *    A query string with no statements is allowed.
 * 7. Messages: a deny rule's `message`, else `denied by policy rule <policy>/<rule>`; a default deny says
 *    `no policy allows <classes> statements for <subject id> on target "<name>"`, listing every class that fell to
 *    the default deny anywhere in the string, sorted. Decision.rule is `<policy>/<rule>` (undefined for a default
 *    or a grant); Decision.classes is the sorted union of all statements' classes; Decision.grant is true when the
 *    access grant allowed the deciding pair.
 */
import { parseDuration } from '../identity/duration.js';
import type { AnalysedUnit, ProtocolDefinition } from '../session/protocol.js';
import type { Subject, Target } from '../session/types.js';
import { ruleFitsProtocol, subjectMatches, targetMatches, unitMatches } from './match.js';
import { DEFAULT_APPROVAL_TIMEOUT, type MaskItem, type Policy, type PolicyRule } from './schema.js';
import type { Decision, Effect, EvaluationInput } from './types.js';

/** How evaluate() treats statements no rule decides. */
export interface EvaluateOptions {
  defaultEffect: 'allow' | 'deny';
  /** A temporary access grant for this subject and target replaces the default deny by allow (never a rule's deny). */
  accessGranted?: boolean;
}

/** A rule with an effect that applies to the subject and target, with its display id. */
interface Candidate {
  id: string;
  rule: PolicyRule & { effect: Effect };
  /** False when the rule applies only through the delegation chain (then it is a deny or require_approval). */
  own: boolean;
}

/** The outcome of one (statement, class) pair. */
interface PairOutcome {
  effect: Effect;
  candidate?: Candidate;
  source: 'rule' | 'default' | 'grant';
}

const STRENGTH: Record<Effect, number> = { allow: 0, require_approval: 1, deny: 2 };

/**
 * Whether `a` outranks `b`: a stronger effect wins; at equal effect a rule outranks the default, so a caller
 * refused for `DROP TABLE` (classes ddl and destructive) reads the destructive rule's message rather than the
 * default's; otherwise the earlier pair stays.
 */
function stronger(a: PairOutcome, b: PairOutcome): boolean {
  if (STRENGTH[a.effect] !== STRENGTH[b.effect]) return STRENGTH[a.effect] > STRENGTH[b.effect];
  return a.source === 'rule' && b.source !== 'rule';
}

/** Decides one query string; see the module header for the exact, ordered semantics. */
export function evaluate(policies: readonly Policy[], input: EvaluationInput, options: EvaluateOptions): Decision {
  const { subject, target, analysis, protocol } = input;
  // The analysis already holds the union (sorted); recomputing it per command is wasted work on the data path.
  const classes = analysis.classes.length > 0 || analysis.units.length === 0 ? [...analysis.classes] : unionClasses(analysis.units);
  if (analysis.units.length === 0) return { effect: 'allow', classes };
  // A command that would change how the server reads commands is refused before any rule (item 0 below).
  if (analysis.refusal !== undefined) return { effect: 'deny', classes, message: analysis.refusal };
  const candidates = applicableRules(policies, subject, target, protocol);
  let best: PairOutcome | undefined;
  const defaultDenied = new Set<string>();
  for (const unit of analysis.units) {
    for (const cls of unit.classes) {
      const outcome = decidePair(candidates, unit, cls, options, protocol);
      if (outcome.source === 'default' && outcome.effect === 'deny') defaultDenied.add(cls);
      if (best === undefined || stronger(outcome, best)) best = outcome;
    }
  }
  // A statement always has a class (the analysis guarantees it), but fail closed if one ever arrives without.
  if (best === undefined) best = { effect: 'deny', source: 'default' };
  return toDecision(best, classes, [...defaultDenied].sort(), subject, target, protocol);
}

/**
 * Whether any allow or require_approval rule of the subject's own could ever apply to it on this target (ignoring
 * `match`); rules that apply only through its delegation chain give no access.
 */
export function mayAccess(policies: readonly Policy[], subject: Subject, target: Target,
  protocol?: ProtocolDefinition): boolean {
  return applicableRules(policies, subject, target, protocol).some((c) => c.own && c.rule.effect !== 'deny');
}

/**
 * Whether this subject's sessions on this target may run on after its token expires: some allow rule of its own
 * (not one that applies only through its delegation chain) that applies to it and the target says
 * `sessionOutlivesToken: true`. Default: no, the session ends with its token.
 */
export function sessionMayOutliveToken(policies: readonly Policy[], subject: Subject, target: Target,
  protocol?: ProtocolDefinition): boolean {
  return applicableRules(policies, subject, target, protocol).some((c) => c.own && c.rule.effect === 'allow' && c.rule.sessionOutlivesToken === true);
}

/**
 * The idle timeout, in seconds, that policies set for this subject's sessions on this target: the smallest
 * `session.idleTimeout` of every rule that applies to the subject and the target, whatever its effect and its
 * `match` (a rule whose match keys are another protocol's does not apply, when `protocol` is given). For a delegated
 * subject the rules of every link of its chain count too: a shorter timeout is a restriction, and delegation keeps
 * restrictions. Undefined when no rule sets one.
 */
export function sessionIdleTimeout(policies: readonly Policy[], subject: Subject, target: Target,
  protocol?: ProtocolDefinition): number | undefined {
  let smallest: number | undefined;
  const views = restrictionViews(subject);
  for (const policy of policies) {
    for (const rule of policy.rules) {
      const idle = rule.session?.idleTimeout;
      if (idle === undefined || (protocol !== undefined && !ruleFitsProtocol(rule, protocol))) continue;
      if (!views.some((view) => appliesTo(rule, view, target))) continue;
      const seconds = parseDuration(idle);
      if (smallest === undefined || seconds < smallest) smallest = seconds;
    }
  }
  return smallest;
}

/**
 * The mask items of every rule (with or without an effect) that applies to this subject and target, in order; for a
 * delegated subject also those that apply to any link of its chain (masking is a restriction, never narrowed).
 */
export function maskRulesFor(
  policies: readonly Policy[],
  subject: Subject,
  target: Target,
): Array<{ rule: string; items: MaskItem[] }> {
  const out: Array<{ rule: string; items: MaskItem[] }> = [];
  const views = restrictionViews(subject);
  for (const policy of ordered(policies)) {
    for (const rule of policy.rules) {
      if (rule.mask === undefined || !views.some((view) => appliesTo(rule, view, target))) continue;
      out.push({ rule: `${policy.name}/${rule.name}`, items: rule.mask });
    }
  }
  return out;
}

/** Policies by name, stable; the given array is returned as is when already ordered (the usual case). */
function ordered(policies: readonly Policy[]): readonly Policy[] {
  const sorted = policies.every((p, i) => i === 0 || policies[i - 1].name <= p.name);
  if (sorted) return policies;
  return [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function appliesTo(rule: PolicyRule, subject: Subject, target: Target): boolean {
  return targetMatches(rule, target) && subjectMatches(rule.subjects, subject);
}

/**
 * Memo of applicableRules: a session evaluates every command with the same policies array (the catalog swaps the
 * array on change), subject, target and protocol objects, so their applicable rules are computed once per session.
 */
const applicableMemo = new WeakMap<readonly Policy[], WeakMap<Subject, WeakMap<Target, Map<ProtocolDefinition | undefined, Candidate[]>>>>();

/**
 * Rules with an effect that apply to the subject and target, in evaluation order; with `protocol`, only those whose
 * match keys are that protocol's (a rule written for another protocol never applies).
 */
function applicableRules(policies: readonly Policy[], subject: Subject, target: Target,
  protocol: ProtocolDefinition | undefined): Candidate[] {
  let bySubject = applicableMemo.get(policies);
  if (!bySubject) applicableMemo.set(policies, (bySubject = new WeakMap()));
  let byTarget = bySubject.get(subject);
  if (!byTarget) bySubject.set(subject, (byTarget = new WeakMap()));
  let byProtocol = byTarget.get(target);
  if (!byProtocol) byTarget.set(target, (byProtocol = new Map()));
  let rules = byProtocol.get(protocol);
  if (!rules) byProtocol.set(protocol, (rules = computeApplicableRules(policies, subject, target, protocol)));
  return rules;
}

function computeApplicableRules(policies: readonly Policy[], subject: Subject, target: Target,
  protocol: ProtocolDefinition | undefined): Candidate[] {
  const out: Candidate[] = [];
  const views = restrictionViews(subject).slice(1);
  for (const policy of ordered(policies)) {
    for (const rule of policy.rules) {
      if (rule.effect === undefined) continue;
      if (protocol !== undefined && !ruleFitsProtocol(rule, protocol)) continue;
      const own = appliesTo(rule, subject, target);
      // Restrictions of every link of a delegation chain stay with the token; allows are the caller's own only.
      if (!own && (rule.effect === 'allow' || !views.some((view) => appliesTo(rule, view, target)))) continue;
      out.push({ id: `${policy.name}/${rule.name}`, rule: rule as Candidate['rule'], own });
    }
  }
  return out;
}

/**
 * Whom restrictive rules are matched against: the subject itself, then (when delegated) the subject with the
 * groups of its whole chain, and each link of the chain as the principal it is, with those groups and the chain
 * that led to it. Restrictions that hold for any of them hold for the subject.
 */
export function restrictionViews(subject: Subject): Subject[] {
  const groups = subject.chainGroups ?? subject.groups;
  if (subject.chain.length === 0 && subject.chainGroups === undefined) return [subject];
  const views: Subject[] = [subject, { ...subject, groups: [...new Set([...subject.groups, ...groups])] }];
  subject.chain.forEach((link, i) => {
    views.push({ ...subject, id: link.id, kind: link.kind, groups: views[1].groups, chain: subject.chain.slice(0, i) });
  });
  return views;
}

function decidePair(
  candidates: readonly Candidate[],
  unit: AnalysedUnit,
  cls: string,
  options: EvaluateOptions,
  protocol: ProtocolDefinition,
): PairOutcome {
  let approval: Candidate | undefined;
  let ownApproval = false;
  let allow: Candidate | undefined;
  for (const candidate of candidates) {
    const effect = candidate.rule.effect;
    // Skip matching work for effects that can no longer change this pair's outcome.
    if (effect === 'allow' && (allow !== undefined || ownApproval)) continue;
    if (effect === 'require_approval' && approval !== undefined && (ownApproval || !candidate.own)) continue;
    if (!unitMatches(candidate.rule, unit, cls, effect !== 'allow', protocol)) continue;
    if (effect === 'deny') return { effect, candidate, source: 'rule' };
    if (effect === 'require_approval') {
      approval ??= candidate;
      ownApproval ||= candidate.own;
    } else allow = candidate;
  }
  // The caller's own rules (or the default) decide whether the pair may run at all; an approval that applies only
  // through the delegation chain can then hold it, but never lets through what would otherwise be denied.
  if (approval !== undefined && ownApproval) return { effect: 'require_approval', candidate: approval, source: 'rule' };
  const allowed: PairOutcome | undefined = allow !== undefined ? { effect: 'allow', candidate: allow, source: 'rule' }
    : options.defaultEffect === 'allow' ? { effect: 'allow', source: 'default' }
      : options.accessGranted === true ? { effect: 'allow', source: 'grant' } : undefined;
  if (allowed === undefined) return { effect: 'deny', source: 'default' };
  return approval !== undefined ? { effect: 'require_approval', candidate: approval, source: 'rule' } : allowed;
}

function toDecision(
  best: PairOutcome,
  classes: string[],
  defaultDenied: string[],
  subject: Subject,
  target: Target,
  protocol: ProtocolDefinition,
): Decision {
  const decision: Decision = { effect: best.effect, classes };
  if (best.source === 'grant') decision.grant = true;
  const candidate = best.candidate;
  if (candidate === undefined) {
    if (best.effect === 'deny') {
      const listed = defaultDenied.length > 0 ? defaultDenied.join(', ') : 'these';
      decision.message = `no policy allows ${listed} ${protocol.unitsNoun ?? 'commands'} for ${subject.id} on target "${target.name}"`;
    }
    return decision;
  }
  decision.rule = candidate.id;
  if (best.effect === 'deny') decision.message = candidate.rule.message ?? `denied by policy rule ${candidate.id}`;
  if (best.effect === 'require_approval') {
    const { approvers, timeoutSeconds } = candidate.rule;
    decision.approval = {
      groups: [...(approvers?.groups ?? [])],
      users: [...(approvers?.users ?? [])],
      count: approvers?.count ?? 1,
      // normalizePolicy always sets it; the fallback only serves hand-built Policy objects.
      timeoutSeconds: timeoutSeconds ?? parseDuration(DEFAULT_APPROVAL_TIMEOUT),
    };
  }
  return decision;
}

function unionClasses(units: readonly AnalysedUnit[]): string[] {
  const all = new Set<string>();
  for (const unit of units) for (const cls of unit.classes) all.add(cls);
  return [...all].sort();
}
