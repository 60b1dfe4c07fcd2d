/**
 * Delegation only narrows (issue 9, item 4): a delegated subject keeps every restriction (deny, require_approval,
 * masking) that applies to any link of its chain or to any group of the chain's tokens, while allow rules apply to
 * its own narrowed groups only. Checked over every combination of rule effect and where the rule applies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Subject } from '../session/types.js';
import { maskRulesFor, mayAccess, restrictionViews } from './evaluate.js';
import { parsePolicyDocuments } from './load.js';
import type { Policy } from './schema.js';
import { analysis, evaluateSql as evaluate, stmt, subject, target } from './test-fixtures.js';

const prod = target('pg-prod');
const DENY = { defaultEffect: 'deny' as const };

function policies(rules: object[]): Policy[] {
  return parsePolicyDocuments(JSON.stringify([{ kind: 'Policy', name: 'p', rules }]), 'json');
}

/** alice (in `groups`) delegated to `helper` with the narrowed groups `own`. */
function delegated(own: string[], groups: string[]): Subject {
  return subject({ id: 'helper', kind: 'agent', groups: own, chain: [{ id: 'alice', kind: 'user' }], chainGroups: groups });
}

const ALLOW_ALL = { name: 'all', match: { classes: ['read', 'write'] }, effect: 'allow' };

describe('delegation keeps the restrictions of every link', () => {
  it('a mask rule on a group the sub-agent left out still masks it', () => {
    const p = policies([ALLOW_ALL, { name: 'mask', subjects: { groups: ['masked'] }, mask: [{ detectors: ['card'], strategy: 'redact' }] }]);
    assert.equal(maskRulesFor(p, subject({ groups: ['masked', 'analysts'] }), prod).length, 1);
    assert.equal(maskRulesFor(p, delegated(['analysts'], ['analysts', 'masked']), prod).length, 1);
    // Not delegated and not in the group: no mask (the rule really is group-bound).
    assert.equal(maskRulesFor(p, subject({ groups: ['analysts'] }), prod).length, 0);
  });

  it('a require_approval on a group the sub-agent left out still holds its writes', () => {
    const p = policies([
      { name: 'agents-approve', subjects: { groups: ['agents'] }, match: { classes: ['write'] }, effect: 'require_approval', approvers: { groups: ['dba'] } },
      ALLOW_ALL,
    ]);
    const write = analysis(stmt(['write']));
    assert.equal(evaluate(p, { subject: subject({ groups: ['agents', 'eng'] }), target: prod, analysis: write }, DENY).effect, 'require_approval');
    const d = evaluate(p, { subject: delegated(['eng'], ['agents', 'eng']), target: prod, analysis: write }, DENY);
    assert.equal(d.effect, 'require_approval');
    assert.equal(d.rule, 'p/agents-approve');
  });

  it('a deny on the origin user or a parent group applies to the sub-agent', () => {
    const p = policies([
      { name: 'no-alice-writes', subjects: { users: ['alice'] }, match: { classes: ['write'] }, effect: 'deny' },
      { name: 'no-contractor-reads', subjects: { groups: ['contractors'] }, match: { classes: ['read'], tables: ['secrets'] }, effect: 'deny' },
      ALLOW_ALL,
    ]);
    const sub = delegated(['eng'], ['contractors', 'eng']);
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['write'])) }, DENY).effect, 'deny');
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['read'], { tables: ['secrets'] })) }, DENY).effect, 'deny');
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['read'], { tables: ['t'] })) }, DENY).effect, 'allow');
  });

  it('allow rules are narrowed: a group left out no longer allows', () => {
    const p = policies([{ name: 'dba-writes', subjects: { groups: ['dba'] }, match: { classes: ['write'] }, effect: 'allow' }]);
    const sub = delegated(['eng'], ['dba', 'eng']);
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['write'])) }, DENY).effect, 'deny');
    assert.equal(mayAccess(p, sub, prod), false);
  });

  it('an approval that applies only through the chain never turns a deny into an approval', () => {
    const p = policies([
      { name: 'dba-approve', subjects: { groups: ['dba'] }, match: { classes: ['write'] }, effect: 'require_approval', approvers: { groups: ['sre'] } },
      { name: 'reads', match: { classes: ['read'] }, effect: 'allow' },
    ]);
    const sub = delegated(['eng'], ['dba', 'eng']);
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['write'])) }, DENY).effect, 'deny');
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['read'])) }, DENY).effect, 'allow');
    // Under a default allow the same chain approval holds the write.
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['write'])) }, { defaultEffect: 'allow' }).effect, 'require_approval');
    // Under an access grant too: a grant is not a way around a link's approval.
    assert.equal(evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['write'])) }, { ...DENY, accessGranted: true }).effect, 'require_approval');
  });

  it('class: for every restriction kind and every way it can apply to a link, the sub-agent is at least as restricted', () => {
    const selectors = [{ users: ['alice'] }, { groups: ['g-parent'] }, { chain: { longerThan: 0 } }, { agents: ['helper'] }];
    const strength = { allow: 0, require_approval: 1, deny: 2 } as const;
    for (const subjects of selectors) {
      for (const effect of ['deny', 'require_approval'] as const) {
        const rule = { name: 'r', subjects, match: { classes: ['write'] }, effect, ...(effect === 'require_approval' ? { approvers: { groups: ['x'] } } : {}) };
        const p = policies([rule, ALLOW_ALL]);
        const parent = subject({ groups: ['g-parent', 'g-kept'] });
        const parentEffect = evaluate(p, { subject: parent, target: prod, analysis: analysis(stmt(['write'])) }, DENY).effect;
        for (const own of [['g-parent', 'g-kept'], ['g-kept'], [] as string[]]) {
          const sub = delegated(own, ['g-kept', 'g-parent']);
          const subEffect = evaluate(p, { subject: sub, target: prod, analysis: analysis(stmt(['write'])) }, DENY).effect;
          assert.ok(strength[subEffect] >= strength[parentEffect], `${JSON.stringify(subjects)} ${effect} ${own}: ${subEffect} < ${parentEffect}`);
        }
      }
    }
  });

  it('restrictionViews: one view for an undelegated subject, one per link otherwise', () => {
    assert.equal(restrictionViews(subject()).length, 1);
    const views = restrictionViews(delegated(['a'], ['a', 'b']));
    assert.deepEqual(views.map((v) => [v.id, v.kind, v.groups.sort()]), [
      ['helper', 'agent', ['a']], ['helper', 'agent', ['a', 'b']], ['alice', 'user', ['a', 'b']],
    ]);
  });
});
