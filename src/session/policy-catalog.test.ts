/**
 * Tests of the PolicyCatalog over a real SQLite store: apply statuses (created, unchanged, updated), the synchronous
 * sorted view and its identity, reload equality, fail-closed loading of bad stored documents, removal, serialised
 * concurrent writes and resynchronisation after a store failure midway through an apply.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { WardenError } from '../errors.js';
import { parsePolicyDocuments } from '../policy/load.js';
import '../protocols/test-install.js';
import type { Policy } from '../policy/schema.js';
import { openStore } from '../store/index.js';
import type { PolicyRecord, Store } from '../store/types.js';
import { PolicyCatalog, canonicalJson } from './policy-catalog.js';
import { GUARDRAILS_YAML } from '../policy/test-fixtures.js';

function simple(name: string, effect: 'allow' | 'deny' = 'allow'): Policy {
  return parsePolicyDocuments(JSON.stringify({ kind: 'Policy', name, rules: [{ name: 'r', effect }] }), 'json')[0];
}

function isCode(code: string, message?: RegExp) {
  return (err: unknown) => err instanceof WardenError && err.code === code && (!message || message.test(err.message));
}

describe('PolicyCatalog', () => {
  let dir: string;
  let store: Store;
  let clock: number;
  const now = () => new Date(Date.UTC(2030, 0, 1) + clock++ * 1000);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-catalog-'));
  });
  beforeEach(async () => {
    await store?.close();
    store = await openStore({ kind: 'sqlite', path: path.join(dir, `${Math.random().toString(36).slice(2)}.db`) });
    clock = 0;
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts empty and applies: created, unchanged, then updated with createdAt kept', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    assert.deepEqual(catalog.current(), []);
    const [policy] = parsePolicyDocuments(GUARDRAILS_YAML);
    assert.deepEqual(await catalog.apply([policy]), [{ name: 'prod-guardrails', status: 'created' }]);
    assert.deepEqual(catalog.get('prod-guardrails'), policy);
    const first = await store.policies.get('prod-guardrails');

    assert.deepEqual(await catalog.apply(parsePolicyDocuments(GUARDRAILS_YAML)), [{ name: 'prod-guardrails', status: 'unchanged' }]);
    assert.deepEqual(await store.policies.get('prod-guardrails'), first, 'an unchanged policy is not rewritten');

    const changed = parsePolicyDocuments(GUARDRAILS_YAML.replace('timeout: 2m', 'timeout: 3m'));
    assert.deepEqual(await catalog.apply(changed), [{ name: 'prod-guardrails', status: 'updated' }]);
    const second = await store.policies.get('prod-guardrails');
    assert.equal(second?.createdAt, first?.createdAt);
    assert.ok(second!.updatedAt > first!.updatedAt);
    assert.equal(catalog.get('prod-guardrails')?.rules[1].timeoutSeconds, 180);
  });

  it('stores the document form, which loads back to equal policies', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    await catalog.apply(parsePolicyDocuments(GUARDRAILS_YAML));
    const stored = (await store.policies.get('prod-guardrails'))!.document as { rules: Record<string, unknown>[] };
    assert.equal(stored.rules[1].timeoutSeconds, undefined, 'computed fields are not stored');
    assert.equal(stored.rules[1].timeout, '2m');
    const again = await PolicyCatalog.load(store);
    assert.deepEqual(again.current(), catalog.current());
  });

  it('keeps current() sorted by name and the same array until a change', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    await catalog.apply([simple('zeta'), simple('alpha'), simple('mid')]);
    const view = catalog.current();
    assert.deepEqual(view.map((p) => p.name), ['alpha', 'mid', 'zeta']);
    assert.equal(catalog.current(), view);
    assert.ok(Object.isFrozen(view));
    await catalog.apply([simple('alpha')]);
    assert.equal(catalog.current(), view, 'an apply that changes nothing keeps the same array');
    await catalog.apply([simple('beta')]);
    assert.notEqual(catalog.current(), view);
    assert.deepEqual(catalog.current().map((p) => p.name), ['alpha', 'beta', 'mid', 'zeta']);
  });

  it('refuses a batch with a repeated name before writing anything', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    await assert.rejects(catalog.apply([simple('a'), simple('b'), simple('a', 'deny')]),
      isCode('WARDEN_ERR_BAD_REQUEST', /"a": defined more than once/));
    assert.deepEqual(await store.policies.list(), []);
    assert.deepEqual(catalog.current(), []);
  });

  it('removes from the store and from memory', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    await catalog.apply([simple('a'), simple('b')]);
    assert.equal(await catalog.remove('a'), true);
    assert.equal(await catalog.remove('a'), false);
    assert.equal(catalog.get('a'), undefined);
    assert.deepEqual(catalog.current().map((p) => p.name), ['b']);
    assert.deepEqual((await store.policies.list()).map((p) => p.name), ['b']);
  });

  it('serialises concurrent applies and removals', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    await Promise.all([
      catalog.apply([simple('a')]), catalog.apply([simple('b')]), catalog.remove('a'), catalog.apply([simple('c')]),
    ]);
    assert.deepEqual(catalog.current().map((p) => p.name), ['b', 'c']);
    assert.deepEqual((await store.policies.list()).map((p) => p.name), ['b', 'c']);
  });

  it('fails closed on a stored document that no longer validates, naming the policy', async () => {
    const record = (name: string, document: Record<string, unknown>): PolicyRecord => ({
      name, document, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z',
    });
    await store.policies.put(record('old', { kind: 'Policy', name: 'old', rules: [{ name: 'r', effect: 'maybe' }] }));
    await assert.rejects(PolicyCatalog.load(store), isCode('WARDEN_ERR_STORE_UNAVAILABLE', /stored policy "old" no longer validates/));
    await store.policies.remove('old');
    await store.policies.put(record('one', { kind: 'Policy', name: 'other', rules: [] }));
    await assert.rejects(PolicyCatalog.load(store), isCode('WARDEN_ERR_STORE_UNAVAILABLE', /"one" holds a document of another name/));
  });

  it('reload picks up changes made by another writer (another replica)', async () => {
    const catalog = await PolicyCatalog.load(store, { now });
    const other = await PolicyCatalog.load(store, { now });
    await other.apply([simple('from-elsewhere')]);
    assert.equal(catalog.get('from-elsewhere'), undefined);
    await catalog.reload();
    assert.ok(catalog.get('from-elsewhere'));
  });

  it('after a store failure midway, memory matches what the store holds', async () => {
    let puts = 0;
    const policies = {
      ...store.policies,
      put: async (r: PolicyRecord) => {
        if (++puts === 2) throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', 'Warden store unavailable');
        return store.policies.put(r);
      },
    };
    const catalog = await PolicyCatalog.load({ ...store, policies }, { now });
    await assert.rejects(catalog.apply([simple('a'), simple('b'), simple('c')]), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
    assert.deepEqual(catalog.current().map((p) => p.name), ['a']);
  });
});

describe('canonicalJson', () => {
  it('ignores key order, not array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }));
    assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  });
});
