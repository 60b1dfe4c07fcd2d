/**
 * Policy evaluation tests: the documented examples decide as intended, strength and ordering across policies,
 * rules and statements, defaults and access grants, messages, and the login-time and masking helpers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATEMENT_CLASSES, type SqlAnalysis } from '../analysis/sql/types.js';
import type { Subject, Target } from '../session/types.js';
import { maskRulesFor, mayAccess, type EvaluateOptions } from './evaluate.js';
import { parsePolicyDocuments } from './load.js';
import type { Policy } from './schema.js';
import { analysis, evaluateSql as evaluate, GUARDRAILS_YAML, MASKING_YAML, stmt, subject, target } from './test-fixtures.js';

const DENY: EvaluateOptions = { defaultEffect: 'deny' };
const guardrails = parsePolicyDocuments(GUARDRAILS_YAML);
const masking = parsePolicyDocuments(MASKING_YAML);
const alice = subject({ id: 'alice', kind: 'user', groups: ['dev'] });
const agent = subject({ id: 'claude', kind: 'agent', groups: ['agents'] });
const prod = target('pg-prod');

function decide(policies: Policy[], sql: SqlAnalysis, who: Subject = alice, where: Target = prod, options = DENY) {
  return evaluate(policies, { subject: who, target: where, analysis: sql }, options);
}

/** Policies from a compact JSON description, through the real loader. */
function policies(...docs: Array<{ name: string; rules: object[] }>): Policy[] {
  return parsePolicyDocuments(JSON.stringify(docs.map((d) => ({ kind: 'Policy', ...d }))), 'json');
}

describe('evaluate: the guardrails example', () => {
  it('an agent writing needs one dba approval within 120 s', () => {
    assert.deepEqual(decide(guardrails, analysis(stmt(['write'])), agent), {
      effect: 'require_approval', rule: 'prod-guardrails/writes-need-approval', classes: ['write'],
      approval: { groups: ['dba'], users: [], count: 1, timeoutSeconds: 120 },
    });
  });
  it('a non-agent writing is allowed; reads are allowed for everyone', () => {
    const allowed = { effect: 'allow', rule: 'prod-guardrails/reads-and-writes' };
    assert.deepEqual(decide(guardrails, analysis(stmt(['write']))), { ...allowed, classes: ['write'] });
    assert.deepEqual(decide(guardrails, analysis(stmt(['read']))), { ...allowed, classes: ['read'] });
    assert.deepEqual(decide(guardrails, analysis(stmt(['read'])), agent), { ...allowed, classes: ['read'] });
  });
  it('destructive and unknown statements are denied with the rule message', () => {
    for (const cls of ['destructive', 'unknown'] as const) {
      assert.deepEqual(decide(guardrails, analysis(stmt([cls])), agent), {
        effect: 'deny', rule: 'prod-guardrails/block-destructive', classes: [cls],
        message: 'destructive statements are blocked on production',
      });
    }
  });
  it('a target outside pg-* falls to the default deny', () => {
    assert.deepEqual(decide(guardrails, analysis(stmt(['read'])), alice, target('mysql-x')), {
      effect: 'deny', classes: ['read'], message: 'no policy allows read statements for alice on target "mysql-x"',
    });
  });
  it('a write that is also destructive is denied, not held for approval', () => {
    assert.equal(decide(guardrails, analysis(stmt(['destructive', 'write'])), agent).effect, 'deny');
  });
});

describe('evaluate: strength and order', () => {
  const allowAll = { name: 'a-allow', rules: [{ name: 'all', effect: 'allow' }] };
  const approveWrites = { name: 'b-approve', rules: [{ name: 'w', match: { classes: ['write'] }, effect: 'require_approval', approvers: { users: ['bob'] } }] };
  const denyDdl = { name: 'c-deny', rules: [{ name: 'ddl', match: { classes: ['ddl'] }, effect: 'deny' }] };
  const set = policies(allowAll, approveWrites, denyDdl);

  it('deny beats require_approval beats allow across policies', () => {
    assert.equal(decide(set, analysis(stmt(['read']))).rule, 'a-allow/all');
    assert.equal(decide(set, analysis(stmt(['write']))).rule, 'b-approve/w');
    assert.deepEqual(decide(set, analysis(stmt(['ddl']))), {
      effect: 'deny', rule: 'c-deny/ddl', classes: ['ddl'], message: 'denied by policy rule c-deny/ddl',
    });
  });
  it('the strongest statement of a query string decides, and classes are the union', () => {
    const approval = decide(set, analysis(stmt(['read']), stmt(['write']), stmt(['read'])));
    assert.equal(approval.effect, 'require_approval');
    assert.deepEqual(approval.classes, ['read', 'write']);
    const denied = decide(set, analysis(stmt(['write']), stmt(['ddl']), stmt(['read'])));
    assert.deepEqual([denied.effect, denied.rule, denied.classes], ['deny', 'c-deny/ddl', ['ddl', 'read', 'write']]);
  });
  it('among equally strong statements the first in statement order names the rule', () => {
    const two = policies({ name: 'p', rules: [
      { name: 'orders', match: { tables: ['orders'] }, effect: 'deny', message: 'no orders' },
      { name: 'items', match: { tables: ['items'] }, effect: 'deny', message: 'no items' },
    ] });
    const sql = analysis(stmt(['read'], { tables: ['items'] }), stmt(['read'], { tables: ['orders'] }));
    assert.equal(decide(two, sql).message, 'no items');
  });
  it('policies are ordered by name whatever the input order; rules by file order', () => {
    const z = { name: 'z', rules: [{ name: 'first', effect: 'require_approval', approvers: { groups: ['z'] } }] };
    const a = { name: 'a', rules: [
      { name: 'one', effect: 'require_approval', approvers: { groups: ['a1'] }, timeout: '90s' },
      { name: 'two', effect: 'require_approval', approvers: { groups: ['a2'] } },
    ] };
    const input = policies(z, a);
    const decision = decide(input, analysis(stmt(['read'])));
    assert.equal(decision.rule, 'a/one');
    assert.deepEqual(decision.approval, { groups: ['a1'], users: [], count: 1, timeoutSeconds: 90 });
    assert.deepEqual(input.map((p) => p.name), ['z', 'a'], 'the input is not reordered');
    assert.deepEqual(decide(input, analysis(stmt(['read']))), decision, 'deterministic');
  });
  it('a later deny still beats an earlier allow for the same statement', () => {
    const set2 = policies({ name: 'p', rules: [{ name: 'ok', effect: 'allow' }, { name: 'no', match: { unbounded: true }, effect: 'deny' }] });
    assert.equal(decide(set2, analysis(stmt(['write'], { unboundedWrite: true }))).rule, 'p/no');
    assert.equal(decide(set2, analysis(stmt(['write']))).rule, 'p/ok');
  });
});

describe('evaluate: defaults, grants and messages', () => {
  it('allows an empty query string', () => {
    assert.deepEqual(decide([], analysis()), { effect: 'allow', classes: [] });
  });
  it('defaultEffect allow allows what no rule decides, but never overrides a deny', () => {
    const open = { defaultEffect: 'allow' } as const;
    assert.deepEqual(decide([], analysis(stmt(['admin'])), alice, prod, open), { effect: 'allow', classes: ['admin'] });
    assert.equal(decide(guardrails, analysis(stmt(['unknown'])), alice, prod, open).effect, 'deny');
  });
  it('an access grant turns only the default deny into allow', () => {
    const granted = { defaultEffect: 'deny', accessGranted: true } as const;
    assert.deepEqual(decide([], analysis(stmt(['ddl'])), alice, prod, granted), { effect: 'allow', classes: ['ddl'], grant: true });
    assert.equal(decide(guardrails, analysis(stmt(['destructive'])), alice, prod, granted).effect, 'deny');
    assert.equal(decide(guardrails, analysis(stmt(['write'])), agent, prod, granted).effect, 'require_approval');
    const ruleAllowed = decide(guardrails, analysis(stmt(['read'])), alice, prod, granted);
    assert.deepEqual([ruleAllowed.rule, ruleAllowed.grant], ['prod-guardrails/reads-and-writes', undefined]);
    const openAndGranted = decide([], analysis(stmt(['ddl'])), alice, prod, { defaultEffect: 'allow', accessGranted: true });
    assert.equal(openAndGranted.grant, undefined);
  });
  it('the default deny message lists every class that no rule allowed', () => {
    const sql = analysis(stmt(['read']), stmt(['ddl']), stmt(['admin', 'write']));
    assert.equal(decide(guardrails, sql, agent, target('pg-x')).message,
      'no policy allows admin, ddl statements for claude on target "pg-x"');
    for (const cls of STATEMENT_CLASSES) {
      const message = decide([], analysis(stmt([cls])), alice, target('t')).message;
      assert.equal(message, `no policy allows ${cls} statements for alice on target "t"`);
    }
  });
  it('mask-only rules never affect the effect', () => {
    assert.equal(decide(masking, analysis(stmt(['read'])), alice).rule, 'pii-masking/reads-and-writes');
    assert.deepEqual(decide(masking, analysis(stmt(['ddl']))), {
      effect: 'deny', classes: ['ddl'], message: 'no policy allows ddl statements for alice on target "pg-prod"',
    });
  });
  it('fails closed on a statement without classes', () => {
    assert.equal(decide([], analysis(stmt([]))).effect, 'deny');
  });
});

describe('mayAccess and maskRulesFor', () => {
  it('mayAccess is true when an allow or require_approval rule could apply, ignoring match', () => {
    assert.equal(mayAccess(guardrails, alice, prod), true);
    assert.equal(mayAccess(guardrails, alice, target('mysql-x')), false);
    assert.equal(mayAccess([], alice, prod), false);
    const denyOnly = policies({ name: 'd', rules: [{ name: 'x', effect: 'deny' }, { name: 'm', mask: [{ types: ['text'], strategy: 'hash' }] }] });
    assert.equal(mayAccess(denyOnly, alice, prod), false);
    const agentsApproval = policies({ name: 'q', rules: [
      { name: 'w', subjects: { agents: ['*'] }, match: { classes: ['admin'] }, effect: 'require_approval', approvers: { groups: ['dba'] } },
    ] });
    assert.equal(mayAccess(agentsApproval, agent, prod), true);
    assert.equal(mayAccess(agentsApproval, alice, prod), false);
  });
  it('maskRulesFor returns the mask items of every matching rule in order', () => {
    const extra = policies({ name: 'a-extra', rules: [
      { name: 'agents', subjects: { agents: ['*'] }, effect: 'allow', mask: [{ patterns: ['\\d{4}'], strategy: 'null' }] },
    ] });
    const all = [...masking, ...extra];
    assert.deepEqual(maskRulesFor(all, alice, prod), [{ rule: 'pii-masking/mask-pii', items: masking[0].rules[1].mask }]);
    assert.deepEqual(maskRulesFor(all, agent, prod).map((r) => r.rule), ['a-extra/agents', 'pii-masking/mask-pii']);
    assert.deepEqual(maskRulesFor(all, alice, target('mysql-x')), []);
  });
});

describe('evaluate: a rule outranks the default at equal strength', () => {
  it('DROP TABLE (ddl and destructive) names the destructive rule, not the default deny of ddl', () => {
    const decision = decide(guardrails, analysis(stmt(['ddl', 'destructive'])));
    assert.equal(decision.effect, 'deny');
    assert.equal(decision.rule, 'prod-guardrails/block-destructive');
    assert.equal(decision.message, 'destructive statements are blocked on production');
  });

  it('a default deny still decides when no rule denies', () => {
    const decision = decide(guardrails, analysis(stmt(['ddl'])));
    assert.equal(decision.effect, 'deny');
    assert.equal(decision.rule, undefined);
    assert.match(decision.message!, /no policy allows ddl statements/);
  });
});
