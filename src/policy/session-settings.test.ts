/**
 * Session settings in policies (`session: { idleTimeout }`): validation, the smallest timeout of every rule that
 * applies winning whatever the rule's effect, rules for another protocol or other subjects and targets not counting,
 * delegation keeping a link's shorter timeout, and the engine's own setting staying an upper bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { postgresProtocol } from '../protocols/postgres/definition.js';
import { sshProtocol } from '../protocols/ssh/definition.js';
import { effectiveIdleTimeout } from '../session/pipeline.js';
import type { SshTarget } from '../session/types.js';
import { sessionIdleTimeout } from './evaluate.js';
import { parsePolicyDocuments } from './load.js';
import type { Policy } from './schema.js';
import { subject, target as pgTarget } from './test-fixtures.js';

const web: SshTarget = { name: 'web-1', type: 'ssh', host: 'h', port: 22, user: 'deploy', hostKeyFingerprint: null, labels: {} };

function policies(name: string, ...rules: object[]): Policy[] {
  return parsePolicyDocuments(JSON.stringify({ kind: 'Policy', name, rules }), 'json');
}

describe('session.idleTimeout in policies', () => {
  it('is validated: a duration up to 7 days, and a rule may carry session settings alone', () => {
    assert.throws(() => policies('p', { name: 'r', session: { idleTimeout: 'soon' } }), /session\.idleTimeout: invalid duration "soon"/);
    assert.throws(() => policies('p', { name: 'r', session: { idleTimeout: '8d' } }), /longer than the maximum of 7d/);
    assert.throws(() => policies('p', { name: 'r', session: {} }), /needs idleTimeout/);
    assert.throws(() => policies('p', { name: 'r', session: { idle: '5m' } }), /idle/);
    assert.equal(policies('p', { name: 'r', targets: ['web-*'], session: { idleTimeout: '15m' } })[0].rules[0].session?.idleTimeout, '15m');
  });

  it('takes the smallest of every rule that applies, whatever its effect and match', () => {
    const all = [
      ...policies('a', { name: 'allow', effect: 'allow', session: { idleTimeout: '1h' } },
        { name: 'deny-rm', match: { classes: ['destructive'] }, effect: 'deny', session: { idleTimeout: '20m' } }),
      ...policies('b', { name: 'web-only', targets: ['web-*'], session: { idleTimeout: '15m' } },
        { name: 'other-target', targets: ['db-*'], session: { idleTimeout: '1m' } },
        { name: 'other-people', subjects: { groups: ['contractors'] }, session: { idleTimeout: '2m' } }),
    ];
    const alice = subject({ id: 'alice', groups: ['ops'] });
    assert.equal(sessionIdleTimeout(all, alice, web, sshProtocol), 900);
    assert.equal(sessionIdleTimeout(all, subject({ id: 'carl', groups: ['contractors'] }), web, sshProtocol), 120);
    assert.equal(sessionIdleTimeout(all, alice, pgTarget('pg-prod'), postgresProtocol), 1200);
    assert.equal(sessionIdleTimeout(policies('c', { name: 'x', effect: 'allow' }), alice, web, sshProtocol), undefined);
  });

  it('ignores rules written for another protocol', () => {
    const sqlOnly = policies('p', { name: 'sql', match: { tables: ['secrets'] }, effect: 'deny', session: { idleTimeout: '1m' } });
    assert.equal(sessionIdleTimeout(sqlOnly, subject(), web, sshProtocol), undefined);
    assert.equal(sessionIdleTimeout(sqlOnly, subject(), pgTarget('pg-prod'), postgresProtocol), 60);
  });

  it('keeps the shorter timeout of any link of a delegation chain', () => {
    const p = policies('p', { name: 'bob-short', subjects: { users: ['bob'] }, session: { idleTimeout: '5m' } });
    const delegated = subject({ id: 'agent-1', kind: 'agent', chain: [{ id: 'bob', kind: 'user' }] });
    assert.equal(sessionIdleTimeout(p, delegated, web, sshProtocol), 300);
    assert.equal(sessionIdleTimeout(p, subject({ id: 'agent-1', kind: 'agent' }), web, sshProtocol), undefined);
  });

  it('keeps the engine setting as the default and the upper bound', () => {
    assert.equal(effectiveIdleTimeout(undefined, undefined), 0);
    assert.equal(effectiveIdleTimeout(undefined, 0), 0);
    assert.equal(effectiveIdleTimeout(900, 0), 900_000);
    assert.equal(effectiveIdleTimeout(undefined, 600_000), 600_000);
    assert.equal(effectiveIdleTimeout(900, 600_000), 600_000);
    assert.equal(effectiveIdleTimeout(60, 600_000), 60_000);
  });
});
