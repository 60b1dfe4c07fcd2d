import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WardenError } from '../../errors.js';
import { bearer, jsonOnlyAccept, readCallerHeaders } from './headers.js';
import { parseRequestTarget } from './request-target.js';

function refused(raw: string): string {
  try {
    parseRequestTarget(raw);
  } catch (err) {
    assert.ok(err instanceof WardenError);
    return err.code;
  }
  assert.fail(`${raw} was accepted`);
}

describe('parseRequestTarget', () => {
  test('splits the target name from the API path, which is kept byte for byte', () => {
    assert.deepEqual(parseRequestTarget('/k8s/prod/api/v1/namespaces/default/pods?watch=true&resourceVersion=5'), {
      target: 'prod', apiPath: '/api/v1/namespaces/default/pods?watch=true&resourceVersion=5',
      path: '/api/v1/namespaces/default/pods', query: 'watch=true&resourceVersion=5' });
    assert.equal(parseRequestTarget('/k8s/prod').apiPath, '/');
    assert.equal(parseRequestTarget('/k8s/prod?timeout=32s').apiPath, '/?timeout=32s');
    assert.equal(parseRequestTarget('/k8s/prod/api/v1/namespaces/x/pods/p/exec?command=sh&command=-c&command=id').query,
      'command=sh&command=-c&command=id');
    assert.equal(parseRequestTarget('/k8s/prod/api/v1/pods?labelSelector=app%3Dweb%2Cx+in+(a)').path, '/api/v1/pods');
  });

  test('anything but /k8s/<target>/ is not found; a malformed target name is a bad request', () => {
    for (const raw of ['/', '/api/v1/pods', '/K8S/prod/api', 'http://evil/k8s/prod/api', '*']) assert.equal(refused(raw), 'WARDEN_ERR_NOT_FOUND');
    for (const raw of ['/k8s/', '/k8s//api', '/k8s/%70rod/api', '/k8s/-x/api', '/k8s/a%2Fb/api']) assert.equal(refused(raw), 'WARDEN_ERR_BAD_REQUEST');
  });

  test('path spellings the API server could read as another object are refused', () => {
    for (const path of ['/api/v1/namespaces/x/secrets/../pods', '/api/v1/./pods', '/api//v1/pods', '/api/v1/namespaces/x/pods/%2e%2e',
      '/api/v1/namespaces%2Fx/pods', '/api/v1/pods\\x', '/api/v1/pods#frag', '/api/v1/pod s', '/api/v1/pods/\u00e9']) {
      assert.equal(refused(`/k8s/prod${path}`), 'WARDEN_ERR_BAD_REQUEST', path);
    }
  });

  test('query spellings that two readers could read apart are refused', () => {
    for (const query of ['watch=false&watch=true', 'watch=1;watch=0', 'dryRun=All&dry%52un=', 'a=%zz', 'a=%', 'x=1 2', 'fieldSelector=a#b',
      'watch=false&wat%63h=true']) {
      assert.equal(refused(`/k8s/prod/api/v1/pods?${query}`), 'WARDEN_ERR_BAD_REQUEST', query);
    }
    assert.equal(parseRequestTarget('/k8s/prod/api/v1/namespaces/x/pods/p/portforward?ports=80&ports=443').target, 'prod');
  });
});

describe('caller headers', () => {
  test('only the allow-listed headers pass; the token and impersonation are taken apart', () => {
    const raw = ['Authorization', 'Bearer tok.en', 'Accept', 'application/json', 'Cookie', 'a=b', 'X-Forwarded-For', '1.2.3.4',
      'Impersonate-User', 'admin', 'impersonate-group', 'system:masters', 'IMPERSONATE-EXTRA-scopes', 'x', 'User-Agent', 'kubectl/v1.32'];
    const headers: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) headers[raw[i].toLowerCase()] = raw[i + 1];
    const read = readCallerHeaders(headers, raw);
    assert.equal(read.token, 'tok.en');
    assert.deepEqual(read.passed, { accept: 'application/json', 'user-agent': 'kubectl/v1.32' });
    assert.equal(read.impersonate, 'impersonate-extra-scopes: x\nimpersonate-group: system:masters\nimpersonate-user: admin');
    assert.equal(read.impersonateHeaders.length, 3);
  });

  test('method overrides and compressed bodies are refused', () => {
    for (const name of ['x-http-method-override', 'x-http-method', 'x-method-override', 'content-encoding']) {
      assert.throws(() => readCallerHeaders({ [name]: 'DELETE' }, [name, 'DELETE']), /does not forward/);
    }
    assert.doesNotThrow(() => readCallerHeaders({ 'content-encoding': 'identity' }, ['Content-Encoding', 'identity']));
  });

  test('bearer tokens and JSON-only Accept', () => {
    assert.equal(bearer('bearer abc'), 'abc');
    assert.equal(bearer('Basic abc'), undefined);
    assert.equal(bearer('Bearer a b'), undefined);
    assert.equal(jsonOnlyAccept('application/vnd.kubernetes.protobuf, application/json'), 'application/json');
    assert.equal(jsonOnlyAccept('application/vnd.kubernetes.protobuf'), 'application/json');
    assert.equal(jsonOnlyAccept('application/cbor, application/yaml, */*'), '*/*');
    assert.equal(jsonOnlyAccept('application/json;as=Table;v=v1;g=meta.k8s.io,application/json'),
      'application/json;as=Table;v=v1;g=meta.k8s.io, application/json');
    assert.equal(jsonOnlyAccept(undefined), 'application/json');
  });
});
