/**
 * Kubernetes policies end to end through the real analyser: the example policy (examples/kubernetes-policy.yaml, as
 * the README shows it) validated and evaluated over analysed requests; the match keys' restrictive and permissive
 * semantics (lists across all namespaces, subresources, the API server's verb); and `POST /api/policy/test` (what
 * `warden policy test --target prod-k8s "DELETE /api/v1/namespaces/prod"` prints) explaining a decision.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { loadShellParser } from '../../analysis/shell/index.js';
import { testReport } from '../../cli/policies.js';
import { createControlFixture, type ControlFixture } from '../../control/test-fixture.js';
import type { PolicyTestResult } from '../../control/routes/policies.js';
import { evaluate, type EvaluateOptions } from '../../policy/evaluate.js';
import { parsePolicyDocuments } from '../../policy/load.js';
import type { Policy } from '../../policy/schema.js';
import { subject } from '../../policy/test-fixtures.js';
import type { KubernetesTarget, Subject } from '../../session/types.js';
import { builtinProtocols } from '../builtin.js';

const EXAMPLE = readFileSync(new URL('../../../examples/kubernetes-policy.yaml', import.meta.url), 'utf8');
const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const kube = builtinProtocols().require('kubernetes');
const DENY: EvaluateOptions = { defaultEffect: 'deny' };
const prodK8s: KubernetesTarget = { name: 'prod-k8s', type: 'kubernetes', server: 'https://k8s.internal:6443', caCert: null,
  tlsServerName: null, clientCert: null, impersonate: false, labels: {} };
const agent = subject({ id: 'bot', kind: 'agent', groups: ['agents'] });
const alice = subject({ id: 'alice', groups: ['sre'] });

function decide(policies: readonly Policy[], who: Subject, text: string, attributes: Record<string, string> = {}) {
  const analysis = kube.analyse({ protocol: 'kubernetes', kind: 'request', text, attributes }, undefined);
  return evaluate(policies, { subject: who, target: prodK8s, analysis, protocol: kube }, DENY);
}

function policy(...rules: object[]): Policy[] {
  return parsePolicyDocuments(JSON.stringify({ kind: 'Policy', name: 'p', rules }), 'json');
}

before(() => loadShellParser());

describe('the example Kubernetes policy', () => {
  const policies = parsePolicyDocuments(EXAMPLE);

  it('is the policy the README shows under "Kubernetes policy"', () => {
    const section = README.slice(README.indexOf('## Kubernetes policy'));
    assert.ok(README.includes('## Kubernetes policy'));
    assert.ok(section.includes(EXAMPLE.slice(EXAMPLE.indexOf('kind: Policy'))), 'README shows examples/kubernetes-policy.yaml');
    assert.deepEqual(policies.map((p) => [p.name, p.rules.map((r) => r.name)]), [['kubernetes-agents',
      ['never-delete-namespaces', 'agents-no-secrets', 'agents-exec-in-prod', 'agents-read']]]);
  });

  it('agents read everything but Secrets', () => {
    for (const text of ['GET /api/v1/namespaces/prod-eu/pods', 'GET /api/v1/pods?watch=1', 'GET /apis/apps/v1/deployments',
      'GET /api/v1/namespaces/prod-eu/pods/web/log?follow=true', 'GET /version', 'GET /apis', 'GET /openapi/v3',
      'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews']) {
      assert.deepEqual([decide(policies, agent, text).effect, decide(policies, agent, text).rule], ['allow', 'kubernetes-agents/agents-read'], text);
    }
    for (const text of ['GET /api/v1/namespaces/dev/secrets/db', 'GET /api/v1/secrets', 'GET /api/v1/watch/namespaces/dev/secrets']) {
      const decision = decide(policies, agent, text);
      assert.deepEqual([decision.effect, decision.rule, decision.message], ['deny', 'kubernetes-agents/agents-no-secrets',
        'agents may not read Secrets'], text);
    }
  });

  it('exec into prod-* waits for one SRE; exec elsewhere and writes fall to the default deny', () => {
    const exec = decide(policies, agent, 'POST /api/v1/namespaces/prod-eu/pods/web/exec?command=ls&stdout=true');
    assert.deepEqual([exec.effect, exec.rule, exec.approval?.groups, exec.approval?.count],
      ['require_approval', 'kubernetes-agents/agents-exec-in-prod', ['sre'], 1]);
    // A destructive command is held too: the approver sees it (classes exec, destructive, write).
    const rm = decide(policies, agent, 'GET /api/v1/namespaces/prod-eu/pods/web/exec?command=rm&command=-rf&command=/');
    assert.deepEqual([rm.effect, rm.classes], ['require_approval', ['destructive', 'exec', 'write']]);
    assert.equal(decide(policies, agent, 'GET /api/v1/namespaces/prod-eu/pods/web/portforward?ports=5432').effect, 'require_approval');
    assert.equal(decide(policies, agent, 'POST /api/v1/namespaces/dev/pods/web/exec?command=ls').effect, 'deny');
    assert.equal(decide(policies, agent, 'PATCH /apis/apps/v1/namespaces/dev/deployments/web', { body: '{"spec":{"replicas":2}}' }).effect, 'deny');
    assert.equal(decide(policies, agent, 'DELETE /api/v1/namespaces/dev/pods/web').effect, 'deny');
  });

  it('nobody deletes a namespace; everyone else is denied by default', () => {
    for (const who of [agent, alice]) {
      for (const text of ['DELETE /api/v1/namespaces/prod', 'DELETE /api/v1/namespaces']) {
        const decision = decide(policies, who, text);
        assert.deepEqual([decision.effect, decision.rule, decision.message],
          ['deny', 'kubernetes-agents/never-delete-namespaces', 'deleting a namespace is not allowed through Warden'], text);
      }
    }
    const read = decide(policies, alice, 'GET /api/v1/pods');
    assert.deepEqual([read.effect, read.rule], ['deny', undefined]);
    assert.match(read.message ?? '', /no policy allows read requests for alice on target "prod-k8s"/);
  });

  it('caller impersonation is privilege, refused unless a rule allows it', () => {
    const decision = decide(policies, agent, 'GET /api/v1/pods', { impersonate: 'Impersonate-User: admin' });
    assert.deepEqual([decision.effect, decision.classes], ['deny', ['privilege', 'read']]);
  });

  it('a URL Warden cannot read unambiguously is unknown and denied', () => {
    const decision = decide(policies, agent, 'GET /api/v1/namespaces/dev/pods/..%2Fsecrets');
    assert.deepEqual([decision.effect, decision.classes], ['deny', ['unknown']]);
  });
});

describe('kubernetes match keys', () => {
  it('an allow on namespaces never covers a list across all namespaces; a deny on them holds for it', () => {
    const allowDev = policy({ name: 'dev', match: { namespaces: ['dev'] }, effect: 'allow' });
    assert.equal(decide(allowDev, alice, 'GET /api/v1/namespaces/dev/pods').effect, 'allow');
    assert.equal(decide(allowDev, alice, 'GET /api/v1/pods').effect, 'deny', 'pods of every namespace');
    assert.equal(decide(allowDev, alice, 'GET /api/v1/nodes').effect, 'deny', 'a cluster-scoped resource is in no namespace');
    assert.equal(decide(allowDev, alice, 'GET /version').effect, 'deny', 'a non-resource URL is in no namespace');
    const denyProd = policy({ name: 'no-prod', match: { namespaces: ['prod*'] }, effect: 'deny' }, { name: 'all', effect: 'allow' });
    assert.equal(decide(denyProd, alice, 'GET /api/v1/pods').effect, 'deny', 'may return prod pods');
    assert.equal(decide(denyProd, alice, 'GET /apis/example.com/v1/widgets').effect, 'deny', 'scope unknown: may be namespaced');
    assert.equal(decide(denyProd, alice, 'GET /api/v1/nodes').effect, 'allow', 'nodes are cluster-scoped');
    assert.equal(decide(denyProd, alice, 'GET /version').effect, 'allow');
    assert.equal(decide(denyProd, alice, 'GET /api/v1/namespaces/dev/pods').effect, 'allow');
    // A proxy through a node (the kubelet's exec) or a service may reach pods of any namespace.
    assert.equal(decide(denyProd, alice, 'POST /api/v1/nodes/node-1/proxy/exec/prod/db-0/c?command=ls').effect, 'deny');
    assert.equal(decide(denyProd, alice, 'GET /api/v1/namespaces/dev/services/web/proxy/').effect, 'deny');
    assert.equal(decide(denyProd, alice, 'GET /api/v1/namespaces/dev/pods/web/proxy/metrics').effect, 'allow');
  });

  it('resources: core group spelled core, subresources after a slash, globs across slashes', () => {
    const allowPods = policy({ name: 'pods', match: { resources: ['core/pods'] }, effect: 'allow' });
    assert.equal(decide(allowPods, alice, 'GET /api/v1/namespaces/a/pods').effect, 'allow');
    assert.equal(decide(allowPods, alice, 'GET /api/v1/namespaces/a/pods/web/log').effect, 'deny', 'an allow names subresources');
    const allowCore = policy({ name: 'core', match: { resources: ['core/*'] }, effect: 'allow' });
    assert.equal(decide(allowCore, alice, 'GET /api/v1/namespaces/a/pods/web/log').effect, 'allow');
    assert.equal(decide(allowCore, alice, 'GET /apis/apps/v1/deployments').effect, 'deny');
    const denyPods = policy({ name: 'no-pods', match: { resources: ['core/pods'] }, effect: 'deny' }, { name: 'all', effect: 'allow' });
    assert.equal(decide(denyPods, alice, 'POST /api/v1/namespaces/a/pods/web/exec?command=ls').effect, 'deny', 'a deny covers subresources');
    assert.equal(decide(denyPods, alice, 'GET /apis/apps/v1/deployments').effect, 'allow');
    assert.equal(decide(denyPods, alice, 'GET /apis').effect, 'allow', 'discovery touches no resource');
    // Non-resource URLs are named by their path: a namespace-scoped allow plus a discovery allow makes kubectl work.
    const devAndDiscovery = policy(
      { name: 'discovery', match: { verbs: ['get'], resources: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi/*'] }, effect: 'allow' },
      { name: 'dev', match: { classes: ['read'], namespaces: ['dev'] }, effect: 'allow' });
    for (const text of ['GET /api', 'GET /apis/apps/v1', 'GET /version', 'GET /openapi/v3/api/v1', 'GET /api/v1/namespaces/dev/pods']) {
      assert.equal(decide(devAndDiscovery, alice, text).effect, 'allow', text);
    }
    for (const text of ['GET /logs/kube-apiserver.log', 'GET /metrics', 'POST /apis', 'GET /api/v1/namespaces/prod/pods', 'GET /api/v1/pods']) {
      assert.equal(decide(devAndDiscovery, alice, text).effect, 'deny', text);
    }
    const denySlash = policy({ name: 'no-logs', match: { resources: ['/logs*'] }, effect: 'deny' }, { name: 'all', effect: 'allow' });
    assert.equal(decide(denySlash, alice, 'GET /logs/x').effect, 'deny');
    assert.equal(decide(denySlash, alice, 'GET /api/v1/namespaces/logs/pods').effect, 'allow');
    const denyEvents = policy({ name: 'no-events', match: { resources: ['core/events', 'apps/deployments/scale'] }, effect: 'deny' },
      { name: 'all', effect: 'allow' });
    assert.equal(decide(denyEvents, alice, 'GET /apis/events.k8s.io/v1/events').effect, 'deny', 'the same events, another group');
    assert.equal(decide(denyEvents, alice, 'PUT /apis/extensions/v1beta1/namespaces/a/deployments/web/scale',
      { body: '{"spec":{"replicas":2}}' }).effect, 'deny', 'old clusters serve deployments under extensions');
    assert.equal(decide(denyEvents, alice, 'PUT /apis/extensions/v1beta1/namespaces/a/deployments/web',
      { body: '{"spec":{"replicas":2}}' }).effect, 'allow', 'the pattern names the scale subresource only');
  });

  it('verbs: allow rules see Warden\'s verb only, restrictive rules also the API server\'s', () => {
    const allowGet = policy({ name: 'get', match: { verbs: ['get', 'list'] }, effect: 'allow' });
    assert.equal(decide(allowGet, alice, 'GET /api/v1/namespaces/a/pods/web').effect, 'allow');
    assert.equal(decide(allowGet, alice, 'GET /api/v1/namespaces/a/pods/web/exec?command=ls').effect, 'deny', 'an exec sent as GET');
    assert.equal(decide(allowGet, alice, 'GET /api/v1/namespaces/a/pods/web/log').effect, 'deny', 'log is its own verb');
    const denyCreate = policy({ name: 'no-create', match: { verbs: ['create'] }, effect: 'deny' }, { name: 'all', effect: 'allow' });
    assert.equal(decide(denyCreate, alice, 'POST /api/v1/namespaces/a/pods/web/exec?command=ls').effect, 'deny');
    assert.equal(decide(denyCreate, alice, 'GET /api/v1/namespaces/a/pods/web/exec?command=ls').effect, 'allow');
  });

  it('an exec\'s command adds the shell analyser\'s classes: an interactive shell is unknown unless a rule names the verb', () => {
    const byClass = policy({ name: 'exec', match: { classes: ['exec', 'read'], namespaces: ['dev'] }, effect: 'allow' });
    assert.equal(decide(byClass, alice, 'POST /api/v1/namespaces/dev/pods/p/exec?command=ls&stdout=true').effect, 'allow');
    const shell = decide(byClass, alice, 'POST /api/v1/namespaces/dev/pods/p/exec?command=bash&stdin=true&tty=true');
    assert.deepEqual([shell.effect, shell.classes], ['deny', ['exec', 'unknown']]);
    const byVerb = policy({ name: 'exec', match: { verbs: ['exec'], namespaces: ['dev'] }, effect: 'allow' });
    assert.equal(decide(byVerb, alice, 'POST /api/v1/namespaces/dev/pods/p/exec?command=bash&stdin=true&tty=true').effect, 'allow');
    assert.equal(decide(byVerb, alice, 'POST /api/v1/namespaces/prod/pods/p/exec?command=bash&stdin=true&tty=true').effect, 'deny');
  });

  it('names: from the URL, a field selector or a created object; a list without them is any name', () => {
    const allowWeb = policy({ name: 'web', match: { names: ['web-*'] }, effect: 'allow' });
    assert.equal(decide(allowWeb, alice, 'GET /api/v1/namespaces/a/pods/web-1').effect, 'allow');
    assert.equal(decide(allowWeb, alice, 'GET /api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb-1&watch=1').effect, 'allow');
    assert.equal(decide(allowWeb, alice, 'GET /api/v1/namespaces/a/pods').effect, 'deny');
    assert.equal(decide(allowWeb, alice, 'POST /api/v1/namespaces/a/configmaps', { body: '{"metadata":{"name":"web-cfg"}}' }).effect, 'allow');
    assert.equal(decide(allowWeb, alice, 'POST /api/v1/namespaces/a/configmaps', { body: '{"metadata":{"generateName":"web-"}}' }).effect, 'deny');
    const denyDb = policy({ name: 'no-db', match: { names: ['db'] }, effect: 'deny' }, { name: 'all', effect: 'allow' });
    assert.equal(decide(denyDb, alice, 'GET /api/v1/namespaces/a/secrets').effect, 'deny', 'a list may include db');
    assert.equal(decide(denyDb, alice, 'GET /api/v1/namespaces/a/secrets/other').effect, 'allow');
  });

  it('scaling to zero and privileged pods are judged from the body; an unread body is the worst case', () => {
    const writes = policy({ name: 'writes', match: { classes: ['write'] }, effect: 'allow' });
    const scale = (body: Record<string, string>) => decide(writes, alice, 'PATCH /apis/apps/v1/namespaces/a/deployments/web', body).classes;
    assert.deepEqual(scale({ body: '{"spec":{"replicas":0}}' }), ['destructive', 'write']);
    assert.deepEqual(scale({ body: '{"spec":{"replicas":3}}' }), ['write']);
    assert.deepEqual(scale({ body: '{"spec":{"replicas":3,"replicas":0}}' }), ['destructive', 'write'], 'the last duplicate counts');
    assert.deepEqual(scale({ body: '{"spec":{"replicas":3,"Replicas":0}}' }), ['destructive', 'write'], 'a case-insensitive reading');
    assert.deepEqual(scale({ body: '[{"op":"replace","path":"/spec/replicas","value":0}]' }), ['destructive', 'write']);
    assert.deepEqual(scale({ body: '[{"op":"replace","path":"/spec/replicas","value":2}]' }), ['write']);
    assert.deepEqual(scale({ body: '[{"op":"move","from":"/spec/replicas","path":"/metadata/x"}]' }), ['destructive', 'write']);
    assert.deepEqual(scale({ bodyUnread: 'true' }), ['destructive', 'privilege', 'write']);
    assert.deepEqual(decide(writes, alice, 'PUT /apis/apps/v1/namespaces/a/statefulsets/db/scale', { body: '{"spec":{}}' }).classes,
      ['destructive', 'write'], 'a Scale without replicas is zero');
    const pod = (spec: string) => decide(writes, alice, 'POST /api/v1/namespaces/a/pods', { body: `{"metadata":{"name":"p"},"spec":${spec}}` }).classes;
    assert.deepEqual(pod('{"containers":[{"name":"c","image":"busybox"}]}'), ['write']);
    assert.deepEqual(pod('{"containers":[{"securityContext":{"privileged":true}}]}'), ['privilege', 'write']);
    assert.deepEqual(pod('{"hostPID":true,"containers":[]}'), ['privilege', 'write']);
    assert.deepEqual(pod('{"volumes":[{"name":"root","hostPath":{"path":"/"}}]}'), ['privilege', 'write']);
    assert.deepEqual(pod('{"containers":[{"securityContext":{"capabilities":{"add":["SYS_ADMIN"]}}}]}'), ['privilege', 'write']);
    const deployment = '{"spec":{"replicas":1,"template":{"spec":{"hostNetwork":true}}}}';
    assert.deepEqual(decide(writes, alice, 'POST /apis/apps/v1/namespaces/a/deployments', { body: deployment }).classes, ['privilege', 'write']);
    assert.deepEqual(decide(writes, alice, 'POST /api/v1/namespaces/a/secrets',
      { body: '{"type":"kubernetes.io/service-account-token","metadata":{"name":"t"}}' }).classes, ['privilege', 'write']);
    assert.deepEqual(decide(writes, alice, 'POST /api/v1/namespaces/a/secrets', { body: '{"type":"Opaque","data":{}}' }).classes, ['write']);
  });
});

describe('warden policy test explains a kubernetes decision', () => {
  let fx: ControlFixture;
  before(async () => {
    fx = await createControlFixture();
    await fx.store.targets.insert({ ...prodK8s, passwordEnc: null, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z' });
    const res = await fx.app.inject({ method: 'POST', url: '/api/policies/apply', headers: { authorization: `Bearer ${fx.adminToken}` },
      payload: { text: EXAMPLE } });
    assert.equal(res.statusCode, 200, res.body);
  });
  after(async () => {
    await fx?.close();
  });

  it('DELETE /api/v1/namespaces/prod: denied by the rule, with the request\'s verb, resource and names', async () => {
    const res = await fx.app.inject({ method: 'POST', url: '/api/policy/test', headers: { authorization: `Bearer ${fx.adminToken}` },
      payload: { user: 'bot', kind: 'agent', groups: ['agents'], target: 'prod-k8s', command: 'DELETE /api/v1/namespaces/prod' } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as PolicyTestResult;
    assert.deepEqual([body.effect, body.rule, body.protocol, body.classes], ['deny', 'kubernetes-agents/never-delete-namespaces',
      'kubernetes', ['destructive']]);
    assert.equal(testReport(body), [
      'deny  (kubernetes-agents/never-delete-namespaces)  classes: destructive',
      '  message: deleting a namespace is not allowed through Warden',
      '  1. destructive  request  verbs=delete  apiVerbs=delete  resources=core/namespaces  names=prod  namespaces=prod  DELETE /api/v1/namespaces/prod',
      '',
    ].join('\n'));
  });
});
