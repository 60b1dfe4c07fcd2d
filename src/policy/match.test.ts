/**
 * Rule matching tests: subjects (users, groups, services, agents, chain actors, chain length), targets and labels,
 * and statement conditions (classes, unbounded, tables, functions, schemas) for restrictive and allow rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatementAnalysis } from '../analysis/sql/types.js';
import { fromSqlAnalysis, postgresProtocol } from '../protocols/postgres/definition.js';
import type { StatementMatch, SubjectSelector } from './schema.js';
import { subjectMatches, targetMatches, unitMatches } from './match.js';
import { stmt, subject, target } from './test-fixtures.js';

/** A rule's match on one SQL statement, as evaluate() asks it through the postgres protocol. */
function statementMatches(rule: { match?: StatementMatch }, s: StatementAnalysis, cls: string, restrictive: boolean): boolean {
  const [unit] = fromSqlAnalysis({ statements: [s], classes: s.classes }).units;
  return unitMatches(rule, unit, cls, restrictive, postgresProtocol);
}

describe('subjectMatches', () => {
  const alice = subject({ id: 'alice', kind: 'user', groups: ['dev', 'oncall-eu'] });
  const etl = subject({ id: 'svc-etl', kind: 'service', groups: [] });
  const bot = subject({
    id: 'claude-1', kind: 'agent', groups: ['agents'],
    chain: [{ id: 'claude-1', kind: 'agent' }, { id: 'alice', kind: 'user' }],
  });
  const cases: Array<[string, SubjectSelector | undefined, [boolean, boolean, boolean]]> = [
    ['absent selects everyone', undefined, [true, true, true]],
    ['users: only kind user', { users: ['*'] }, [true, false, false]],
    ['users: id glob', { users: ['al*'] }, [true, false, false]],
    ['users: no match', { users: ['bob'] }, [false, false, false]],
    ['services: only kind service', { services: ['svc-*'] }, [false, true, false]],
    ['agents: only kind agent', { agents: ['claude-*'] }, [false, false, true]],
    ['agents do not match a user id', { agents: ['alice'] }, [false, false, false]],
    ['groups: any group', { groups: ['oncall-*'] }, [true, false, false]],
    ['groups: agents group', { groups: ['agents'] }, [false, false, true]],
    ['chain actors: any actor of the chain', { chain: { actors: ['alice'] } }, [false, false, true]],
    ['chain actors ignore the subject itself', { chain: { actors: ['svc-etl'] } }, [false, false, false]],
    ['chain longerThan 1', { chain: { longerThan: 1 } }, [false, false, true]],
    ['chain longerThan 2', { chain: { longerThan: 2 } }, [false, false, false]],
    ['chain longerThan 0 needs a chain', { chain: { longerThan: 0 } }, [false, false, true]],
    ['any listed item suffices', { users: ['alice'], services: ['svc-etl'] }, [true, true, false]],
    ['chain items are alternatives too', { chain: { actors: ['nobody'], longerThan: 1 } }, [false, false, true]],
  ];
  for (const [title, selector, expected] of cases) {
    it(title, () => {
      assert.deepEqual([alice, etl, bot].map((s) => subjectMatches(selector, s)), expected);
    });
  }
});

describe('targetMatches', () => {
  const prod = target('pg-prod', { env: 'production', team: 'payments' });
  it('matches target name globs', () => {
    assert.equal(targetMatches({ targets: ['*'] }, prod), true);
    assert.equal(targetMatches({ targets: ['mysql-*', 'pg-*'] }, prod), true);
    assert.equal(targetMatches({ targets: ['pg-staging'] }, prod), false);
  });
  it('requires every label, whose value may be a glob', () => {
    assert.equal(targetMatches({ targets: ['*'], targetLabels: { env: 'prod*' } }, prod), true);
    assert.equal(targetMatches({ targets: ['*'], targetLabels: { env: 'production', team: 'payments' } }, prod), true);
    assert.equal(targetMatches({ targets: ['*'], targetLabels: { env: 'production', team: 'search' } }, prod), false);
    assert.equal(targetMatches({ targets: ['*'], targetLabels: { region: '*' } }, prod), false);
    assert.equal(targetMatches({ targets: ['*'], targetLabels: { toString: '*' } }, prod), false);
    assert.equal(targetMatches({ targets: ['pg-dev'], targetLabels: { env: '*' } }, prod), false);
  });
});

describe('statementMatches', () => {
  const m = (match: StatementMatch | undefined) => ({ match });
  it('absent match or empty match holds for every statement and class', () => {
    assert.equal(statementMatches(m(undefined), stmt(['admin']), 'admin', false), true);
    assert.equal(statementMatches(m({}), stmt(['unknown']), 'unknown', true), true);
  });
  it('classes must list the class being decided', () => {
    const s = stmt(['read', 'write']);
    assert.equal(statementMatches(m({ classes: ['write'] }), s, 'write', false), true);
    assert.equal(statementMatches(m({ classes: ['write'] }), s, 'read', false), false);
  });
  it('unbounded compares with the statement flag both ways', () => {
    const bounded = stmt(['write'], { unboundedWrite: false });
    const unbounded = stmt(['write'], { unboundedWrite: true });
    assert.equal(statementMatches(m({ unbounded: true }), unbounded, 'write', true), true);
    assert.equal(statementMatches(m({ unbounded: true }), bounded, 'write', true), false);
    assert.equal(statementMatches(m({ unbounded: false }), bounded, 'write', false), true);
    assert.equal(statementMatches(m({ unbounded: false }), unbounded, 'write', false), false);
  });
  it('all conditions must hold', () => {
    const s = stmt(['write'], { tables: ['public.orders'], unboundedWrite: true });
    assert.equal(statementMatches(m({ classes: ['write'], tables: ['public.*'], unbounded: true }), s, 'write', true), true);
    assert.equal(statementMatches(m({ classes: ['write'], tables: ['audit.*'], unbounded: true }), s, 'write', true), false);
  });

  it('restrictive tables: any table may match, across schema qualification', () => {
    const cases: Array<[string[], string[], boolean]> = [
      [['public.secrets'], ['public.secrets', 'public.orders'], true],
      [['public.secrets'], ['secrets'], true], // unqualified may resolve to public.secrets
      [['secrets'], ['public.secrets'], true], // a bare pattern covers every schema
      [['sec*'], ['hr.secrets'], true],
      [['audit.*'], ['log'], true], // an unqualified table may live in audit
      [['audit.*'], ['public.log'], false],
      [['public.secrets'], ['hr.secrets'], false],
      [['public.secrets'], ['orders'], false],
      [['x'], [], false],
    ];
    for (const [patterns, tables, expected] of cases) {
      assert.equal(statementMatches(m({ tables: patterns }), stmt(['read'], { tables }), 'read', true), expected, `${patterns} ~ ${tables}`);
    }
  });

  it('allow tables: every table must match as written', () => {
    const cases: Array<[string[], string[], boolean]> = [
      [['public.orders'], ['public.orders'], true],
      [['public.*'], ['public.orders', 'public.items'], true],
      [['public.orders'], ['public.orders', 'public.secrets'], false], // no piggybacking through a join
      [['public.orders'], ['orders'], false], // search_path could make it anything
      [['orders'], ['public.orders'], false],
      [['*'], ['anything', 'x.y'], true],
      [['*'], [], false], // a tables rule allows only statements that touch tables
    ];
    for (const [patterns, tables, expected] of cases) {
      assert.equal(statementMatches(m({ tables: patterns }), stmt(['read'], { tables }), 'read', false), expected, `${patterns} ~ ${tables}`);
    }
  });

  it('functions follow the table rules', () => {
    const s = stmt(['read'], { functions: ['pg_catalog.pg_sleep', 'now'] });
    assert.equal(statementMatches(m({ functions: ['pg_sleep'] }), s, 'read', true), true);
    assert.equal(statementMatches(m({ functions: ['pg_catalog.now'] }), s, 'read', true), true);
    assert.equal(statementMatches(m({ functions: ['dblink*'] }), s, 'read', true), false);
    assert.equal(statementMatches(m({ functions: ['now'] }), s, 'read', false), false);
    assert.equal(statementMatches(m({ functions: ['now', 'pg_catalog.*'] }), s, 'read', false), true);
  });

  it('schemas: restrictive when any named schema matches or a table is unqualified', () => {
    const named = stmt(['write'], { schemas: ['audit'], tables: ['audit.log'] });
    const other = stmt(['write'], { schemas: ['public'], tables: ['public.log'], functions: ['now'] });
    const bare = stmt(['write'], { tables: ['log'] });
    assert.equal(statementMatches(m({ schemas: ['aud*'] }), named, 'write', true), true);
    assert.equal(statementMatches(m({ schemas: ['audit'] }), other, 'write', true), false);
    assert.equal(statementMatches(m({ schemas: ['audit'] }), bare, 'write', true), true);
  });

  it('schemas: allow when all named schemas match and every table is qualified', () => {
    const ok = stmt(['read'], { schemas: ['public'], tables: ['public.a', 'public.b'], functions: ['now'] });
    const mixed = stmt(['read'], { schemas: ['public', 'hr'], tables: ['public.a', 'hr.pay'] });
    const partly = stmt(['read'], { schemas: ['public'], tables: ['public.a', 'b'] });
    const none = stmt(['read'], { tables: ['a'] });
    assert.equal(statementMatches(m({ schemas: ['public'] }), ok, 'read', false), true);
    assert.equal(statementMatches(m({ schemas: ['public'] }), mixed, 'read', false), false);
    assert.equal(statementMatches(m({ schemas: ['public', 'hr'] }), mixed, 'read', false), true);
    assert.equal(statementMatches(m({ schemas: ['public'] }), partly, 'read', false), false);
    assert.equal(statementMatches(m({ schemas: ['*'] }), none, 'read', false), false);
  });
});
