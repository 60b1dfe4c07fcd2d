/**
 * The target API with ssh targets, against the real store, vault and token service through `app.inject`: the
 * protocol enum comes from the registry, each protocol's fields are checked by its zod spec, SSH secrets are vaulted
 * and never returned, and a change that would move stored secrets to another server or host key needs them again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { generateEd25519 } from '../protocols/ssh/keygen.js';
import { targetFieldContext } from './routes/target-records.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
let key: string;
before(async () => {
  fx = await createControlFixture();
  key = generateEd25519().private;
});
after(async () => {
  await fx.close();
});

function call(opts: InjectOptions): Promise<LightMyRequestResponse> {
  return fx.app.inject({ ...opts, headers: { authorization: `Bearer ${fx.adminToken}` } });
}

const message = (res: LightMyRequestResponse) => (res.json() as { error: { message: string } }).error.message;

describe('POST /api/targets with type ssh', () => {
  test('defaults port 22, vaults the key bound to its target and field, returns neither', async () => {
    const res = await call({ method: 'POST', url: '/api/targets', payload: { name: 'web-a', type: 'ssh', host: 'h', user: 'deploy',
      privateKey: key } });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json(), { name: 'web-a', type: 'ssh', host: 'h', port: 22, user: 'deploy', hasPassword: false,
      hasPrivateKey: true, hostKeyFingerprint: null, labels: {}, createdAt: res.json().createdAt, updatedAt: res.json().createdAt });
    assert.ok(!res.body.includes('PRIVATE KEY') && !res.body.includes('v1.'));
    const stored = await fx.store.targets.get('web-a');
    assert.equal(fx.vault.decrypt(stored!.secretsEnc!.privateKey, targetFieldContext('web-a', 'privateKey')), key);
    assert.throws(() => fx.vault.decrypt(stored!.secretsEnc!.privateKey, targetFieldContext('web-a', 'passphrase')));
    const listed = await call({ method: 'GET', url: '/api/targets' });
    assert.ok(!listed.body.includes('PRIVATE KEY') && !listed.body.includes(stored!.secretsEnc!.privateKey));
  });

  test('refuses what the protocol does not have or accept, naming it', async () => {
    const base = { name: 'web-bad', type: 'ssh', host: 'h', user: 'u' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ database: 'd' }, /invalid ssh target: .*database not a field of ssh targets/],
      [{ tls: 'require' }, /tls not a field of ssh targets/],
      [{ hostKeyFingerprint: 'SHA256:x' }, /hostKeyFingerprint: must look like SHA256:/],
      [{ privateKey: 'not a key' }, /privateKey: not a private key ssh can read/],
      [{ type: 'mysql' }, /body\/type must be one of: postgres, ssh, kubernetes/],
      [{ passphrase: 'p' }, /passphrase given without privateKey/],
    ];
    for (const [extra, expected] of cases) {
      const res = await call({ method: 'POST', url: '/api/targets', payload: { ...base, ...extra } });
      assert.equal(res.statusCode, 400, `${JSON.stringify(extra)}: ${res.body}`);
      assert.match(message(res), expected);
    }
    const pg = await call({ method: 'POST', url: '/api/targets', payload: { name: 'pg-bad', type: 'postgres', host: 'h', port: 5432,
      database: 'd', user: 'u', privateKey: key } });
    assert.equal(pg.statusCode, 400);
    assert.match(message(pg), /privateKey is not a secret postgres targets have/);
    assert.equal(await fx.store.targets.get('web-bad'), undefined);
    assert.equal(await fx.store.targets.get('pg-bad'), undefined);
  });
});

describe('PATCH /api/targets/:name for ssh targets', () => {
  test('a new host or host key needs the secrets again; null removes the key', async () => {
    const moved = await call({ method: 'PATCH', url: '/api/targets/web-a', payload: { hostKeyFingerprint: `SHA256:${'c'.repeat(43)}` } });
    assert.equal(moved.statusCode, 400);
    assert.match(message(moved), /changing host key of target web-a would send its stored secrets to another server/);
    const removed = await call({ method: 'PATCH', url: '/api/targets/web-a', payload: { privateKey: null, host: 'other' } });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.deepEqual([removed.json().host, removed.json().hasPrivateKey], ['other', false]);
    assert.equal((await fx.store.targets.get('web-a'))?.secretsEnc, undefined);
    const pinned = await call({ method: 'PATCH', url: '/api/targets/web-a', payload: { hostKeyFingerprint: `SHA256:${'c'.repeat(43)}` } });
    assert.equal(pinned.statusCode, 200, 'nothing stored to protect any more');
    assert.equal(pinned.json().hostKeyFingerprint, `SHA256:${'c'.repeat(43)}`);
  });
});
