/**
 * When the engine masks Secret values: which requests may answer with them (secretScope) and when a rule grants
 * class `secrets` explicitly (secretsGranted), over the real analyser and the shared policy evaluation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyDocuments } from '../../policy/load.js';
import type { Policy } from '../../policy/schema.js';
import { subject } from '../../policy/test-fixtures.js';
import type { KubernetesTarget } from '../../session/types.js';
import { builtinProtocols } from '../builtin.js';
import { secretScope } from './engine.js';
import { secretsGranted } from './secret-grant.js';

const kube = builtinProtocols().require('kubernetes');
const target: KubernetesTarget = { name: 'prod-k8s', type: 'kubernetes', server: 'https://k8s:6443', caCert: null,
  tlsServerName: null, clientCert: null, impersonate: false, labels: {} };
const analyse = (text: string) => kube.analyse({ protocol: 'kubernetes', kind: 'request', text, attributes: {} }, undefined);

function policy(...rules: object[]): Policy[] {
  return parsePolicyDocuments(JSON.stringify({ kind: 'Policy', name: 'p', rules }), 'json');
}

describe('secretScope', () => {
  it('is secrets for the secrets resource, whatever the verb or subresource', () => {
    for (const text of ['GET /api/v1/namespaces/d/secrets/db', 'GET /api/v1/secrets?watch=true', 'POST /api/v1/namespaces/d/secrets',
      'PATCH /api/v1/namespaces/d/secrets/db', 'DELETE /api/v1/namespaces/d/secrets/db', 'GET /api/v1/watch/namespaces/d/secrets']) {
      assert.equal(secretScope(analyse(text)), 'secrets', text);
    }
  });

  it('is secrets for what did not parse, and none for other resources and non-resource URLs', () => {
    assert.equal(secretScope(analyse('GET /api/v1/namespaces/d/secrets/../pods')), 'secrets');
    for (const text of ['GET /api/v1/namespaces/d/pods', 'GET /apis/apps/v1/deployments', 'GET /version', 'GET /api',
      'GET /api/v1/namespaces/d/configmaps']) {
      assert.equal(secretScope(analyse(text)), null, text);
    }
  });
});

describe('secretsGranted', () => {
  const alice = subject({ id: 'alice', groups: ['sre'] });
  const read = analyse('GET /api/v1/namespaces/d/secrets/db');

  it('holds only when an allow rule names class secrets and no deny applies', () => {
    assert.equal(secretsGranted(policy({ name: 'all', effect: 'allow' }), alice, target, read, kube), false);
    assert.equal(secretsGranted(policy({ name: 'reads', effect: 'allow', match: { classes: ['read'] } }), alice, target, read, kube), false);
    assert.equal(secretsGranted(policy({ name: 's', effect: 'allow', match: { classes: ['secrets'] } }), alice, target, read, kube), true);
    assert.equal(secretsGranted(policy({ name: 's', effect: 'allow', match: { classes: ['secrets'] } },
      { name: 'no', effect: 'deny', match: { namespaces: ['d'] } }), alice, target, read, kube), false);
  });

  it('follows the rule\'s subjects and match keys', () => {
    const rules = policy({ name: 's', effect: 'allow', subjects: { groups: ['sre'] }, match: { classes: ['secrets'], namespaces: ['ops'] } });
    assert.equal(secretsGranted(rules, alice, target, read, kube), false, 'another namespace');
    assert.equal(secretsGranted(rules, alice, target, analyse('GET /api/v1/namespaces/ops/secrets/db'), kube), true);
    assert.equal(secretsGranted(rules, subject({ id: 'bob', groups: [] }), target, analyse('GET /api/v1/namespaces/ops/secrets/db'), kube), false);
  });
});
