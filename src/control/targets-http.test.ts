/**
 * The target API with http targets, against the real store, vault and token service through `app.inject`: the
 * secret and client key are vaulted (each bound to its target and field) and never returned, the fields are checked
 * by the protocol's spec, and a change of URL, CA, Host header or auth (anything that would send the stored
 * credential somewhere else) is refused unless the credential is given again or removed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { startHttpUpstream, type HttpUpstream } from '../../test/harness/http-upstream.js';
import { targetFieldContext } from './routes/target-records.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

const SECRET = 'sk_live_never_returned_42';
let fx: ControlFixture;
let upstream: HttpUpstream;
before(async () => {
  fx = await createControlFixture();
  upstream = await startHttpUpstream();
});
after(async () => {
  await upstream?.close();
  await fx?.close();
});

function call(opts: InjectOptions): Promise<LightMyRequestResponse> {
  return fx.app.inject({ ...opts, headers: { authorization: `Bearer ${fx.adminToken}` } });
}

const message = (res: LightMyRequestResponse) => (res.json() as { error: { message: string } }).error.message;

/** Every answer of the API about the target: none may hold a secret or a ciphertext. */
async function assertNoSecret(name: string, ...secrets: string[]): Promise<void> {
  const stored = await fx.store.targets.get(name);
  const ciphertexts = Object.values(stored?.secretsEnc ?? {});
  for (const res of [await call({ method: 'GET', url: '/api/targets' }), await call({ method: 'GET', url: `/api/targets/${name}` })]) {
    assert.equal(res.statusCode, 200, res.body);
    for (const s of [...secrets, ...ciphertexts]) assert.ok(!res.body.includes(s), `${name}: ${res.body}`);
  }
}

describe('POST /api/targets with type http', () => {
  test('vaults the secret and the client key, returns neither, and shows url, auth and hasSecret', async () => {
    const res = await call({ method: 'POST', url: '/api/targets', payload: { name: 'billing-api', type: 'http', url: upstream.url,
      auth: 'bearer', secret: SECRET, caCert: upstream.ca, clientCert: upstream.clientCert!.cert, clientKey: upstream.clientCert!.key,
      headers: { 'X-Tenant': 'acme' } } });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json() as Record<string, unknown>;
    assert.deepEqual([body.url, body.auth, body.hasSecret, body.hasClientKey, body.hasClientCert, body.hasCa, body.hostHeader, body.headers],
      [upstream.url, 'bearer', true, true, true, true, null, { 'X-Tenant': 'acme' }]);
    assert.equal(body.secret, undefined);
    assert.ok(!res.body.includes(SECRET) && !res.body.includes('PRIVATE KEY'));
    const stored = await fx.store.targets.get('billing-api');
    assert.equal(fx.vault.decrypt(stored!.secretsEnc!.secret, targetFieldContext('billing-api', 'secret')), SECRET);
    assert.throws(() => fx.vault.decrypt(stored!.secretsEnc!.secret, targetFieldContext('billing-api', 'clientKey')));
    assert.equal(fx.vault.decrypt(stored!.secretsEnc!.clientKey, targetFieldContext('billing-api', 'clientKey')), upstream.clientCert!.key);
    await assertNoSecret('billing-api', SECRET, 'PRIVATE KEY');
  });

  test('refuses what an http target cannot have, naming it', async () => {
    const base = { name: 'bad-http', type: 'http', url: 'https://h' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ url: 'ftp://h' }, /url/],
      [{ url: 'https://h/?a=1' }, /without query or fragment/],
      [{ url: 'https://svc:hunter2@h/api' }, /must not hold a user or password/],
      [{ auth: 'digest' }, /must be none, bearer, basic, header:NAME or query:NAME/],
      [{ headers: { 'Bad Name': 'x' } }, /"Bad Name" must be an HTTP header name/],
      [{ headers: { authorization: 'Bearer x' } }, /authorization is set by Warden itself/],
      [{ headers: { 'X-A': 'a\r\nInjected: 1' } }, /CR, LF or NUL/],
      [{ clientCert: upstream.clientCert!.cert }, /clientCert and clientKey together/],
      [{ token: 't' }, /token/],
      [{ caCert: 'not a pem' }, /CA|PEM|certificate/i],
    ];
    for (const [extra, expected] of cases) {
      const res = await call({ method: 'POST', url: '/api/targets', payload: { ...base, ...extra } });
      assert.equal(res.statusCode, 400, `${JSON.stringify(extra)}: ${res.body}`);
      assert.match(message(res), expected, JSON.stringify(extra));
      assert.ok(!res.body.includes('hunter2'), 'a refusal never echoes a credential');
    }
    assert.equal(await fx.store.targets.get('bad-http'), undefined);
  });
});

describe('PATCH /api/targets/:name of an http target', () => {
  before(async () => {
    const res = await call({ method: 'POST', url: '/api/targets', payload: { name: 'moving', type: 'http', url: 'https://a.internal',
      auth: 'header:X-Api-Key', secret: SECRET } });
    assert.equal(res.statusCode, 201, res.body);
  });

  test('refuses a new url, CA, Host header or auth without the secret again; the stored target stays', async () => {
    for (const change of [{ url: 'https://evil.example' }, { caCert: upstream.ca }, { hostHeader: 'evil.example' }, { auth: 'query:X-Api-Key' },
      { auth: 'bearer' }, { url: 'https://a.internal/other-base' }]) {
      const res = await call({ method: 'PATCH', url: '/api/targets/moving', payload: change });
      assert.equal(res.statusCode, 400, `${JSON.stringify(change)}: ${res.body}`);
      assert.match(message(res), /^changing .+ of target moving would send its stored credential to another server: give it again/);
      assert.ok(!res.body.includes(SECRET));
    }
    const stored = await fx.store.targets.get('moving') as unknown as Record<string, unknown>;
    assert.deepEqual([stored.url, stored.caCert, stored.hostHeader, stored.auth], ['https://a.internal', null, null, 'header:X-Api-Key']);
  });

  test('takes the change with the secret given again, or with the secret removed; never returns it', async () => {
    const headers = await call({ method: 'PATCH', url: '/api/targets/moving', payload: { headers: { 'X-B': '2' } } });
    assert.equal(headers.statusCode, 200, headers.body);
    const again = await call({ method: 'PATCH', url: '/api/targets/moving', payload: { url: 'https://b.internal', secret: 'second' } });
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual([again.json().url, again.json().hasSecret], ['https://b.internal', true]);
    assert.ok(!again.body.includes('second'));
    const stored = await fx.store.targets.get('moving');
    assert.equal(fx.vault.decrypt(stored!.secretsEnc!.secret, targetFieldContext('moving', 'secret')), 'second');
    await assertNoSecret('moving', SECRET, 'second');
    const removed = await call({ method: 'PATCH', url: '/api/targets/moving', payload: { secret: null, auth: 'none', url: 'https://c.internal' } });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.deepEqual([removed.json().url, removed.json().auth, removed.json().hasSecret], ['https://c.internal', 'none', false]);
    assert.equal((await fx.store.targets.get('moving'))!.secretsEnc?.secret, undefined);
    // Nothing stored any more: the URL may change freely.
    const free = await call({ method: 'PATCH', url: '/api/targets/moving', payload: { url: 'https://d.internal' } });
    assert.equal(free.statusCode, 200, free.body);
  });
});
