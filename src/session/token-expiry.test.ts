/**
 * TokenExpiry (issue 9 item 11): the per-statement check the pipeline runs (a notice once in the last minute, a
 * refusal after expiry), the policy setting that lets a session outlive its token and its validation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyDocuments } from '../policy/load.js';
import { subject, target } from '../policy/test-fixtures.js';
import type { Session } from './session.js';
import { EXPIRY_NOTICE_MS, TOKEN_EXPIRED_REASON, TokenExpiry } from './token-expiry.js';

const EXP = 2_000_000_000;
function session(id = 'alice', kind: 'user' | 'agent' = 'user', chain: { id: string; kind: 'user' }[] = []): Session {
  return { id: `s-${id}`, protocol: 'postgres', subject: subject({ id, kind, chain, expiresAt: EXP }), target: target('pg-prod'),
    database: 'app', clientAddress: '127.0.0.1:1', startedAt: 0 };
}
const policy = (rule: object) => parsePolicyDocuments(JSON.stringify([{ kind: 'Policy', name: 'p', rules: [rule] }]), 'json');

describe('TokenExpiry', () => {
  it('lets statements through until the last minute, notices once, then refuses after expiry', () => {
    let clock = EXP * 1000 - EXPIRY_NOTICE_MS - 1000;
    const expiry = new TokenExpiry(() => [], () => clock);
    const s = session();
    const notices: string[] = [];
    const ctx = { notify: (m: string) => void notices.push(m) };
    assert.equal(expiry.check(s, ctx), undefined);
    assert.deepEqual(notices, []);
    clock += 31_000;
    assert.equal(expiry.check(s, ctx), undefined);
    assert.equal(expiry.check(s, ctx), undefined);
    assert.deepEqual(notices, ['your Warden token expires in 30 s; this session will end then (get a new token and reconnect to go on)']);
    clock = EXP * 1000;
    assert.deepEqual(expiry.check(s, ctx), { effect: 'deny', classes: [], message: TOKEN_EXPIRED_REASON });
  });

  it('sessionOutlivesToken on an allow rule of the subject\'s own lets it run on; not through a delegation chain', () => {
    const p = policy({ name: 'long', subjects: { users: ['alice'] }, effect: 'allow', sessionOutlivesToken: true });
    const expiry = new TokenExpiry(() => p, () => EXP * 1000 + 10_000);
    assert.equal(expiry.mayOutlive(session()), true);
    assert.equal(expiry.check(session(), { notify: () => assert.fail('no notice') }), undefined);
    assert.equal(expiry.mayOutlive(session('bob')), false);
    // alice's sub-agent does not inherit a relaxation that applies to alice.
    assert.equal(expiry.mayOutlive(session('helper', 'agent', [{ id: 'alice', kind: 'user' }])), false);
  });

  it('the setting is valid only on allow rules', () => {
    assert.throws(() => policy({ name: 'x', effect: 'deny', sessionOutlivesToken: true }), /sessionOutlivesToken.*allowed only when effect is allow/s);
    assert.throws(() => policy({ name: 'x', mask: [{ detectors: ['card'], strategy: 'redact' }], sessionOutlivesToken: true }), /allowed only when effect is allow/);
    assert.equal(policy({ name: 'x', effect: 'allow', sessionOutlivesToken: false })[0].rules[0].sessionOutlivesToken, false);
  });
});
