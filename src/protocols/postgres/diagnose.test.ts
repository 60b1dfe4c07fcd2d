/**
 * diagnoseTarget against a real PostgreSQL with TLS (the harness): each TLS mode's step, certificate checks by
 * name, a pg_hba refusal and a missing password at the login step, a name that does not resolve, and never the
 * password in any message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { generateCertificates, startPostgres, type PgServer } from '../../../test/harness/postgres.js';
import { diagnoseTarget, type Diagnosis } from './diagnose.js';

let server: PgServer;
before(async () => { server = await startPostgres(); });
after(async () => { await server?.stop(); });

function target(over: Partial<PostgresTarget> = {}): PostgresTarget {
  return { name: 'pg-diag', type: 'postgres', host: server.host, port: server.port, database: 'app',
    user: server.scram.user, tls: 'disable', ca: null, labels: {}, ...over };
}

async function diagnose(over: Partial<PostgresTarget>, credentials: Credentials = server.scram): Promise<Diagnosis> {
  const result = await diagnoseTarget(target(over), async () => credentials, { stepTimeoutMs: 5000 });
  if (credentials.password) assert.doesNotMatch(JSON.stringify(result), new RegExp(credentials.password));
  return result;
}

const byStep = (d: Diagnosis) => Object.fromEntries(d.steps.map((s) => [s.step, `${s.status}: ${s.message}`]));

describe('diagnoseTarget', () => {
  it('verify-full with the right CA passes every step', async () => {
    const d = await diagnose({ tls: 'verify-full', ca: server.caCert });
    assert.equal(d.ok, true, JSON.stringify(d));
    assert.match(byStep(d).tls, /^ok: TLSv1\.[23] with 127\.0\.0\.1:\d+, certificate verified for 127\.0\.0\.1$/);
    assert.match(byStep(d).login, /^ok: logged in as \w+ to database app, PostgreSQL \d+/);
  });

  it('require encrypts without verifying; a foreign CA fails the TLS step by name', async () => {
    assert.match(byStep(await diagnose({ tls: 'require' })).tls, /^ok: .+certificate not verified \(tls require\)$/);
    const other = await generateCertificates('Another CA');
    const d = await diagnose({ tls: 'verify-full', ca: other.caCert });
    assert.equal(d.ok, false);
    assert.match(byStep(d).tls, /^failed: the server's certificate (is not signed by a CA the target trusts|chains to a CA the target does not trust)/);
    assert.equal(byStep(d).login, 'skipped: not tried: an earlier step failed');
  });

  it('the login step names a pg_hba TLS refusal and a missing password', async () => {
    const hba = await diagnose({ tls: 'disable', user: server.tlsOnly.user }, server.tlsOnly);
    assert.equal(byStep(hba).login, 'failed: upstream authentication failed for target "pg-diag": the server requires TLS ' +
      'for the target\'s login but the target connects without it (28000, pg_hba.conf)');
    const none = await diagnose({}, { user: server.scram.user, password: null });
    assert.match(byStep(none).login, /the server asked for a password but none is stored for the target$/);
  });

  it('a name that does not resolve fails at DNS and skips the rest', async () => {
    const d = await diagnose({ host: 'db.invalid' });
    assert.deepEqual(d.steps.map((s) => s.status), ['failed', 'skipped', 'skipped', 'skipped']);
    assert.match(byStep(d).dns, /^failed: host name db\.invalid could not be resolved/);
  });
});
