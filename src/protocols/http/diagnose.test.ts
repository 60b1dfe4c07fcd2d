/**
 * `warden targets test` of http targets against a real local HTTPS upstream (test/harness/http-upstream.ts, its own
 * CA): every step ok with the right credential, CA and client certificate; the failures in words (a wrong or
 * missing credential is "refused", an untrusted certificate, a closed port, a name that does not resolve), and the
 * secret never in any message. Also through the control API route `POST /api/targets/:name/test`.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startHttpUpstream, type HttpUpstream } from '../../../test/harness/http-upstream.js';
import type { HttpCredentials, HttpTarget } from '../../session/types.js';
import { builtinDiagnosers } from '../diagnosers.js';
import { diagnoseHttpTarget } from './diagnose.js';

const SECRET = 'diag-secret-7f3a9c';
let bearer: HttpUpstream;
let mtls: HttpUpstream;
let plain: HttpUpstream;

before(async () => {
  bearer = await startHttpUpstream({ auth: { kind: 'bearer', secret: SECRET } });
  mtls = await startHttpUpstream({ auth: { kind: 'query', name: 'key', secret: SECRET }, requireClientCert: true });
  plain = await startHttpUpstream({ tls: false, auth: { kind: 'header', name: 'X-Api-Key', secret: SECRET } });
});
after(async () => {
  await Promise.all([bearer?.close(), mtls?.close(), plain?.close()]);
});

function target(upstream: HttpUpstream, o: Partial<HttpTarget> = {}): HttpTarget {
  return { name: 'api', type: 'http', url: `${upstream.url}/json/customers`, caCert: upstream.ca, auth: 'bearer', hostHeader: null,
    headers: {}, clientCert: null, labels: {}, ...o };
}

function creds(secret: string | null, clientKey: string | null = null): () => Promise<HttpCredentials> {
  return async () => ({ user: '', password: null, secret, clientKey });
}

function summary(d: Awaited<ReturnType<typeof diagnoseHttpTarget>>): string[] {
  assert.ok(!JSON.stringify(d).includes(SECRET), 'a message holds the secret');
  return d.steps.map((s) => `${s.step} ${s.status}: ${s.message}`);
}

describe('diagnoseHttpTarget', () => {
  it('every step ok with the stored bearer credential and the target CA', async () => {
    const d = await diagnoseHttpTarget(target(bearer), creds(SECRET));
    assert.equal(d.ok, true, summary(d).join('\n'));
    assert.deepEqual(summary(d), [
      'dns ok: 127.0.0.1 is an IP address, no lookup needed',
      `tcp ok: connected to 127.0.0.1:${bearer.port}`,
      'tls ok: the upstream\'s certificate is trusted (the target\'s CA)',
      'login ok: HEAD /json/customers answered 200 OK with the stored credential (auth bearer)',
    ]);
    const head = bearer.received.at(-1)!;
    assert.deepEqual([head.method, head.url, head.headers.authorization], ['HEAD', '/json/customers', `Bearer ${SECRET}`]);
  });

  it('a wrong or missing credential: the upstream refused it, in words', async () => {
    const wrong = await diagnoseHttpTarget(target(bearer), creds('not-the-secret'));
    assert.equal(wrong.ok, false);
    assert.equal(summary(wrong)[3], 'login failed: HEAD /json/customers: the upstream refused the credential (401 Unauthorized); '
      + 'check the stored secret and --auth');
    const none = await diagnoseHttpTarget(target(bearer, { auth: 'none' }), creds(null));
    assert.match(summary(none)[3], /refused the credential \(401 Unauthorized\); the target has auth none: does the upstream need one\?/);
    const missing = await diagnoseHttpTarget(target(bearer), creds(null));
    assert.match(summary(missing)[3], /^login failed: auth bearer but no secret is stored: give it with warden targets update api --type http --secret-stdin$/);
  });

  it('mTLS with the client certificate and a query credential; without the certificate the handshake fails', async () => {
    const t = target(mtls, { auth: 'query:key', clientCert: mtls.clientCert!.cert });
    const d = await diagnoseHttpTarget(t, creds(SECRET, mtls.clientCert!.key));
    assert.equal(d.ok, true, summary(d).join('\n'));
    assert.match(summary(d)[2], /client certificate presented/);
    assert.equal(mtls.received.at(-1)!.url, `/json/customers?key=${SECRET}`);
    const without = await diagnoseHttpTarget(target(mtls, { auth: 'query:key' }), creds(SECRET));
    assert.equal(without.ok, false);
    assert.deepEqual(without.steps.map((s) => s.status).slice(0, 2), ['ok', 'ok']);
    assert.ok(without.steps.slice(2).some((s) => s.status === 'failed'), summary(without).join('\n'));
  });

  it('an untrusted certificate, a plain http:// URL, HEAD not served, a server error', async () => {
    const untrusted = await diagnoseHttpTarget(target(bearer, { caCert: null }), creds(SECRET));
    assert.equal(summary(untrusted)[2], 'tls failed: the upstream of target "api" presented a TLS certificate Warden does not trust (check the target\'s CA)');
    assert.equal(untrusted.steps[3].status, 'skipped');
    const http = await diagnoseHttpTarget(target(plain, { caCert: null, auth: 'header:X-Api-Key', url: `${plain.url}/echo/x` }), creds(SECRET));
    assert.equal(http.ok, true, summary(http).join('\n'));
    assert.match(summary(http)[2], /^tls ok: the URL is plain http:\/\/: no TLS/);
    assert.equal(plain.received.at(-1)!.headers['x-api-key'], SECRET);
    const failing = await diagnoseHttpTarget(target(bearer, { url: `${bearer.url}/status/503` }), creds(SECRET));
    assert.equal(summary(failing)[3], 'login failed: HEAD /status/503 answered 503 Service Unavailable: the upstream is failing');
    const noHead = await diagnoseHttpTarget(target(bearer, { url: `${bearer.url}/status/405` }), creds(SECRET));
    assert.match(summary(noHead)[3], /^login ok: GET \/status\/405 answered 405 Method Not Allowed/, 'HEAD refused: GET tried');
    assert.deepEqual(bearer.received.slice(-2).map((r) => r.method), ['HEAD', 'GET']);
    const missing = await diagnoseHttpTarget(target(bearer, { url: `${bearer.url}/nothing-here` }), creds(SECRET));
    assert.equal(missing.ok, true);
    assert.match(summary(missing)[3], /answered 404 Not Found .*did not refuse the credential/);
  });

  it('a closed port and a name that does not resolve', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const closed = await diagnoseHttpTarget(target(bearer, { url: `https://127.0.0.1:${port}` }), creds(SECRET));
    assert.deepEqual(summary(closed).slice(1), [`tcp failed: connection refused by 127.0.0.1:${port}`,
      'tls skipped: not tried: an earlier step failed', 'login skipped: not tried: an earlier step failed']);
    const unknown = await diagnoseHttpTarget(target(bearer, { url: 'https://warden-no-such-host.invalid' }), creds(SECRET), 3000);
    assert.equal(unknown.steps[0].status, 'failed');
    assert.match(unknown.steps[0].message, /could not be resolved|no answer/);
  });

  it('is the registered diagnoser of http targets', async () => {
    const d = await builtinDiagnosers().http(target(bearer), creds(SECRET));
    assert.equal(d.ok, true);
  });
});
