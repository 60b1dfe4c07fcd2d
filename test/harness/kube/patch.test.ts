/**
 * The test API server's patch formats and selectors on their own: the strategic merge patch directives kubectl
 * sends (list merge by key, `$patch`, `$setElementOrder`, `$deleteFromPrimitiveList`, `$retainKeys`), JSON merge
 * patch and JSON patch, and label / field selectors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { ApiError } from './status.js';

const pod = {
  metadata: { name: 'p', labels: { app: 'a', tier: 'web' }, finalizers: ['x'] },
  spec: {
    containers: [
      { name: 'app', image: 'nginx:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
      { name: 'side', image: 'busybox' },
    ],
    tolerations: [{ key: 'k' }],
  },
};

test('strategic merge patch merges containers and env by name, deletes with null and $patch: delete', () => {
  const out = strategicMergePatch(pod, {
    metadata: { labels: { tier: null } },
    spec: {
      containers: [
        { name: 'app', image: 'nginx:2', env: [{ name: 'B', $patch: 'delete' }, { name: 'C', value: '3' }] },
        { name: 'side', $patch: 'delete' },
      ],
      tolerations: [{ key: 'other' }],
    },
  }) as typeof pod;
  assert.deepEqual(out.metadata.labels, { app: 'a' });
  assert.deepEqual(out.spec.containers, [{ name: 'app', image: 'nginx:2', env: [{ name: 'A', value: '1' }, { name: 'C', value: '3' }] }]);
  assert.deepEqual(out.spec.tolerations, [{ key: 'other' }], 'a list without a merge key is replaced');
  assert.deepEqual(pod.spec.containers.length, 2, 'the original is untouched');
});

test('strategic merge patch directives: $setElementOrder, $deleteFromPrimitiveList, $retainKeys, $patch: replace', () => {
  const ordered = strategicMergePatch(pod, {
    spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }] },
  }) as typeof pod;
  assert.deepEqual(ordered.spec.containers.map((c) => c.name), ['side', 'app']);
  const finalizers = strategicMergePatch(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }) as typeof pod;
  assert.deepEqual(finalizers.metadata.finalizers, []);
  const added = strategicMergePatch(pod, { metadata: { finalizers: ['y'] } }) as typeof pod;
  assert.deepEqual(added.metadata.finalizers, ['x', 'y'], 'finalizers merge');
  const retained = strategicMergePatch({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } },
    { strategy: { $retainKeys: ['type'], type: 'Recreate' } });
  assert.deepEqual(retained, { strategy: { type: 'Recreate' } });
  const replaced = strategicMergePatch(pod, { spec: { $patch: 'replace', containers: [{ name: 'only' }] } }) as typeof pod;
  assert.deepEqual(replaced.spec, { containers: [{ name: 'only' }] });
});

test('JSON merge patch and JSON patch', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 }, f: [1] }), { a: 1, b: { d: 3, e: 4 }, f: [1] });
  const out = jsonPatch(pod, [
    { op: 'replace', path: '/spec/containers/0/image', value: 'nginx:3' },
    { op: 'add', path: '/metadata/labels/new~1key', value: 'v' },
    { op: 'remove', path: '/spec/containers/1' },
    { op: 'test', path: '/metadata/name', value: 'p' },
    { op: 'copy', from: '/metadata/name', path: '/metadata/generateName' },
  ]) as typeof pod & { metadata: { generateName: string } };
  assert.equal(out.spec.containers[0].image, 'nginx:3');
  assert.equal(out.spec.containers.length, 1);
  assert.equal((out.metadata.labels as Record<string, string>)['new/key'], 'v');
  assert.equal(out.metadata.generateName, 'p');
  assert.throws(() => jsonPatch(pod, [{ op: 'test', path: '/metadata/name', value: 'q' }]), ApiError);
  assert.throws(() => jsonPatch(pod, [{ op: 'remove', path: '/spec/nothing' }]), ApiError);
  assert.throws(() => jsonPatch(pod, { op: 'add' }), ApiError);
});

test('label and field selectors', () => {
  const obj = { metadata: { name: 'p', namespace: 'n', labels: { app: 'a', tier: 'web' } }, status: { phase: 'Running' } };
  const yes = ['app=a', 'app==a', 'app!=b', 'tier in (web,db)', 'tier notin (db)', 'app', '!missing', 'app=a,tier=web', ''];
  const no = ['app=b', 'app!=a', 'tier in (db)', 'tier notin (web)', 'missing', '!app', 'app=a,tier=db'];
  for (const s of yes) assert.ok(labelSelector(s)(obj), s);
  for (const s of no) assert.ok(!labelSelector(s)(obj), s);
  assert.throws(() => labelSelector('app=(a'), ApiError);
  assert.ok(fieldSelector('metadata.name=p,status.phase=Running')(obj));
  assert.ok(fieldSelector('metadata.namespace!=m')(obj));
  assert.ok(!fieldSelector('metadata.name==q')(obj));
  assert.ok(fieldSelector('spec.nodeName=')(obj), 'an absent field is the empty string');
  assert.throws(() => fieldSelector('metadata.name'), ApiError);
});
