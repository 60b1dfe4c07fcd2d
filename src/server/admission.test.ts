/**
 * LoginAdmission: the caps on connections in their login phase, overall and per source, and how sources are keyed
 * (IPv4-mapped addresses as IPv4, IPv6 by /64 so one host cannot dodge the cap by rotating its own addresses).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '../errors.js';
import { LoginAdmission, sourceKey, type AdmissionTicket } from './admission.js';

function ticket(result: AdmissionTicket | WardenError): AdmissionTicket {
  assert.ok(!(result instanceof WardenError), 'admitted');
  return result;
}

describe('sourceKey', () => {
  it('keys IPv4 by address, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    assert.equal(sourceKey('10.1.2.3'), '10.1.2.3');
    assert.equal(sourceKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:0db8:0001:0002::/64');
    assert.equal(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:0db8:0001:0002::/64');
    assert.equal(sourceKey('2001:db8:1:3::1'), '2001:0db8:0001:0003::/64');
    assert.equal(sourceKey('::1'), '0000:0000:0000:0000::/64');
    assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0000:0000:0000::/64');
    assert.equal(sourceKey(undefined), '?');
  });
});

describe('LoginAdmission', () => {
  it('refuses past the per-source cap while other sources still get in, and frees places on release', () => {
    const admission = new LoginAdmission({ maxUnauthenticated: 10, maxUnauthenticatedPerSource: 2 });
    const a1 = ticket(admission.admit('10.0.0.1'));
    ticket(admission.admit('::ffff:10.0.0.1'));
    const refused = admission.admit('10.0.0.1');
    assert.ok(refused instanceof WardenError);
    assert.equal(refused.code, 'WARDEN_ERR_TOO_MANY_CONNECTIONS');
    assert.match(refused.callerMessage, /from your address/);
    ticket(admission.admit('10.0.0.2'));
    a1.release();
    a1.release(); // twice is a no-op
    assert.equal(admission.pending, 2);
    ticket(admission.admit('10.0.0.1'));
    assert.ok(admission.admit('10.0.0.1') instanceof WardenError);
  });

  it('refuses everyone past the overall cap, and one IPv6 /64 counts as one source', () => {
    const admission = new LoginAdmission({ maxUnauthenticated: 3, maxUnauthenticatedPerSource: 2 });
    ticket(admission.admit('2001:db8::1'));
    ticket(admission.admit('2001:db8::2'));
    assert.ok(admission.admit('2001:db8::3') instanceof WardenError, 'same /64');
    const last = ticket(admission.admit('10.0.0.9'));
    const overall = admission.admit('10.0.0.10');
    assert.ok(overall instanceof WardenError);
    assert.match(overall.callerMessage, /too many connections are logging in/);
    last.release();
    ticket(admission.admit('10.0.0.10'));
  });
});
