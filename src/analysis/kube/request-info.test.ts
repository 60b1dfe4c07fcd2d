/**
 * Request-info table: method and URL to (API server verb, group, resource, subresource, namespace, name) exactly as
 * the API server's RequestInfoFactory resolves them (the cases of its requestinfo_test.go and more), with the
 * classes Warden gives each; refused URL spellings; Go's query reading.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyzeShell, loadShellParser } from '../shell/index.js';
import { analyseKubeRequest } from './analyse.js';
import { parseRequestInfo } from './request-info.js';

type Row = [method: string, url: string, verb: string, group: string, resource: string, sub: string, ns: string,
  name: string, classes: string];

/** [method, url, verb, group, resource, subresource, namespace, name, classes (comma-separated)] */
const TABLE: Row[] = [
  // resource paths (requestinfo_test.go)
  ['GET', '/api/v1/namespaces', 'list', '', 'namespaces', '', '', '', 'read'],
  ['GET', '/api/v1/namespaces/other', 'get', '', 'namespaces', '', 'other', 'other', 'read'],
  ['GET', '/api/v1/namespaces/other/pods', 'list', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods/foo', 'get', '', 'pods', '', 'other', 'foo', 'read'],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', 'get', '', 'pods', '', 'other', 'foo', 'read'],
  ['GET', '/api/v1/pods', 'list', '', 'pods', '', '', '', 'read'],
  ['HEAD', '/api/v1/pods', 'list', '', 'pods', '', '', '', 'read'],
  ['PATCH', '/api/v1/namespaces/new-namespace', 'patch', '', 'namespaces', '', 'new-namespace', 'new-namespace', 'write'],
  // special verbs
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo', 'proxy', '', 'pods', '', 'other', 'foo', 'exec'],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource', 'proxy', '', 'pods', '', 'other', 'foo', 'exec'],
  ['GET', '/api/v1/watch/pods', 'watch', '', 'pods', '', '', '', 'read'],
  ['GET', '/api/v1/pods?watch=true', 'watch', '', 'pods', '', '', '', 'read'],
  ['GET', '/api/v1/pods?watch=false', 'list', '', 'pods', '', '', '', 'read'],
  ['GET', '/api/v1/watch/namespaces/other/pods', 'watch', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', 'watch', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', 'list', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods?watch=FALSE', 'list', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods?watch=', 'watch', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods?watch=0&watch=1', 'list', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/namespaces/other/pods?watch=yes', 'watch', '', 'pods', '', 'other', '', 'read'],
  ['GET', '/api/v1/watch/namespaces/other/pods/foo', 'watch', '', 'pods', '', 'other', 'foo', 'read'],
  ['GET', '/api/v1/namespaces/other/pods/foo?watch=true', 'get', '', 'pods', '', 'other', 'foo', 'read'],
  // subresources
  ['GET', '/api/v1/namespaces/other/pods/foo/status', 'get', '', 'pods', 'status', 'other', 'foo', 'read'],
  ['GET', '/api/v1/namespaces/other/pods/foo/proxy/subpath', 'get', '', 'pods', 'proxy', 'other', 'foo', 'exec'],
  ['GET', '/api/v1/namespaces/other/services/web:80/proxy/', 'get', '', 'services', 'proxy', 'other', 'web:80', 'exec'],
  ['GET', '/api/v1/namespaces/other/secrets/', 'list', '', 'secrets', '', 'other', '', 'read,secrets'],
  ['PUT', '/api/v1/namespaces/other/finalize', 'update', '', 'namespaces', 'finalize', 'other', 'other', 'write'],
  ['PUT', '/api/v1/namespaces/other/status', 'update', '', 'namespaces', 'status', 'other', 'other', 'write'],
  ['GET', '/api/v1/namespaces/other/pods/foo/log?follow=true', 'get', '', 'pods', 'log', 'other', 'foo', 'read'],
  ['POST', '/api/v1/namespaces/other/pods/foo/exec?command=ls&stdout=true', 'create', '', 'pods', 'exec', 'other', 'foo', 'exec,read'],
  ['GET', '/api/v1/namespaces/other/pods/foo/exec?command=rm&command=-rf&command=/', 'get', '', 'pods', 'exec', 'other', 'foo', 'destructive,exec,write'],
  ['POST', '/api/v1/namespaces/other/pods/foo/attach?stdin=true', 'create', '', 'pods', 'attach', 'other', 'foo', 'exec'],
  ['GET', '/api/v1/namespaces/other/pods/foo/portforward?ports=5432', 'get', '', 'pods', 'portforward', 'other', 'foo', 'exec'],
  ['GET', '/api/v1/namespaces/other/services/web:80/proxy/metrics', 'get', '', 'services', 'proxy', 'other', 'web:80', 'exec'],
  ['GET', '/api/v1/nodes/node-1/proxy/configz', 'get', '', 'nodes', 'proxy', '', 'node-1', 'exec'],
  ['PATCH', '/api/v1/namespaces/other/pods/foo/ephemeralcontainers', 'patch', '', 'pods', 'ephemeralcontainers', 'other', 'foo', 'exec,privilege,write'],
  ['POST', '/api/v1/namespaces/other/pods/foo/exec?command=ls&Command=rm', 'create', '', 'pods', 'exec', 'other', 'foo', 'exec,read,unknown'],
  ['POST', '/api/v1/namespaces/other/pods/foo/eviction', 'create', '', 'pods', 'eviction', 'other', 'foo', 'destructive,write'],
  ['POST', '/api/v1/namespaces/other/pods/foo/binding', 'create', '', 'pods', 'binding', 'other', 'foo', 'write'],
  ['POST', '/api/v1/namespaces/other/serviceaccounts/builder/token', 'create', '', 'serviceaccounts', 'token', 'other', 'builder', 'privilege,write'],
  ['PUT', '/apis/apps/v1/namespaces/other/deployments/web/scale', 'update', 'apps', 'deployments', 'scale', 'other', 'web', 'destructive,write'],
  ['GET', '/apis/apps/v1/namespaces/other/deployments/web/scale', 'get', 'apps', 'deployments', 'scale', 'other', 'web', 'read'],
  ['PUT', '/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', 'update', 'certificates.k8s.io', 'certificatesigningrequests', 'approval', '', 'csr-1', 'privilege,write'],
  // verbs
  ['PATCH', '/api/v1/namespaces/other/pods/foo', 'patch', '', 'pods', '', 'other', 'foo', 'privilege,write'],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', 'delete', '', 'pods', '', 'other', 'foo', 'destructive'],
  ['POST', '/api/v1/namespaces/other/pods', 'create', '', 'pods', '', 'other', '', 'privilege,write'],
  ['PUT', '/api/v1/namespaces/other/configmaps/settings', 'update', '', 'configmaps', '', 'other', 'settings', 'write'],
  ['OPTIONS', '/api/v1/namespaces/other/pods', '', '', 'pods', '', 'other', '', 'unknown'],
  ['TRACE', '/api/v1/namespaces/other/pods/foo', '', '', 'pods', '', 'other', 'foo', 'unknown'],
  // deletecollection
  ['DELETE', '/api/v1/nodes', 'deletecollection', '', 'nodes', '', '', '', 'destructive'],
  ['DELETE', '/api/v1/namespaces', 'deletecollection', '', 'namespaces', '', '', '', 'destructive'],
  ['DELETE', '/api/v1/namespaces/other/pods', 'deletecollection', '', 'pods', '', 'other', '', 'destructive'],
  ['DELETE', '/apis/extensions/v1/namespaces/other/pods', 'deletecollection', 'extensions', 'pods', '', 'other', '', 'destructive'],
  ['DELETE', '/api/v1/namespaces/prod', 'delete', '', 'namespaces', '', 'prod', 'prod', 'destructive'],
  ['DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.example.com', 'delete', 'apiextensions.k8s.io', 'customresourcedefinitions', '', '', 'crontabs.example.com', 'destructive'],
  ['DELETE', '/api/v1/persistentvolumes/pv-1', 'delete', '', 'persistentvolumes', '', '', 'pv-1', 'destructive'],
  // groups and versions
  ['POST', '/apis/extensions/v1/namespaces/other/pods', 'create', 'extensions', 'pods', '', 'other', '', 'privilege,write'],
  ['POST', '/apis/extensions/v1beta3/namespaces/other/pods', 'create', 'extensions', 'pods', '', 'other', '', 'privilege,write'],
  ['GET', '/apis/apps/v1/deployments', 'list', 'apps', 'deployments', '', '', '', 'read'],
  ['GET', '/apis/batch/v1/job/foo/scale', 'get', 'batch', 'job', 'scale', '', 'foo', 'read'],
  ['GET', '/apis/group/version/resource/name/subresource', 'get', 'group', 'resource', 'subresource', '', 'name', 'read'],
  ['GET', '/api/version/resource/name/subresource', 'get', '', 'resource', 'subresource', '', 'name', 'read'],
  // secrets
  ['GET', '/api/v1/namespaces/other/secrets/db', 'get', '', 'secrets', '', 'other', 'db', 'read,secrets'],
  ['GET', '/api/v1/secrets', 'list', '', 'secrets', '', '', '', 'read,secrets'],
  ['GET', '/api/v1/watch/namespaces/other/secrets', 'watch', '', 'secrets', '', 'other', '', 'read,secrets'],
  ['GET', '/api/v1/namespaces/other/secrets?fieldSelector=metadata.name%3Ddb&watch=1', 'watch', '', 'secrets', '', 'other', 'db', 'read,secrets'],
  ['GET', '/api/v1/namespaces/other/secrets/db/status', 'get', '', 'secrets', 'status', 'other', 'db', 'read,secrets'],
  ['DELETE', '/api/v1/namespaces/other/secrets/db', 'delete', '', 'secrets', '', 'other', 'db', 'destructive'],
  ['GET', '/apis/example.com/v1/namespaces/other/secrets/db', 'get', 'example.com', 'secrets', '', 'other', 'db', 'read'],
  // RBAC and other privilege
  ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', 'create', 'rbac.authorization.k8s.io', 'clusterrolebindings', '', '', '', 'privilege,write'],
  ['PATCH', '/apis/rbac.authorization.k8s.io/v1/namespaces/other/roles/admin', 'patch', 'rbac.authorization.k8s.io', 'roles', '', 'other', 'admin', 'privilege,write'],
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles', 'list', 'rbac.authorization.k8s.io', 'clusterroles', '', '', '', 'read'],
  ['POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', 'create', 'certificates.k8s.io', 'certificatesigningrequests', '', '', '', 'privilege,write'],
  ['POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', 'create', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', '', '', '', 'privilege,write'],
  ['POST', '/apis/authentication.k8s.io/v1/tokenreviews', 'create', 'authentication.k8s.io', 'tokenreviews', '', '', '', 'privilege,write'],
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'create', 'authorization.k8s.io', 'selfsubjectaccessreviews', '', '', '', 'read'],
  ['POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', 'create', 'authentication.k8s.io', 'selfsubjectreviews', '', '', '', 'read'],
  // field selectors (requestinfo_test.go TestSelectorParsing)
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1', 'list', 'group', 'resource', '', '', 'name1', 'read'],
  ['GET', '/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1', 'watch', 'group', 'resource', '', '', 'name1', 'read'],
  ['GET', '/apis/group/version/resource?fieldSelector=foo=bar', 'list', 'group', 'resource', '', '', '', 'read'],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1,foo', 'list', 'group', 'resource', '', '', '', 'read'],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar', 'list', 'group', 'resource', '', '', 'foo', 'read'],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name!=foo', 'list', 'group', 'resource', '', '', '', 'read'],
  ['GET', '/apis/group/version/watch/resource?fieldSelector=metadata.name=foo', 'watch', 'group', 'resource', '', '', '', 'read'],
  ['GET', '/apis/metrics.k8s.io/v1beta1/namespaces/a/pods?fieldSelector=metadata.name=web', 'list', 'metrics.k8s.io', 'pods', '', 'a', '', 'read'],
  ['GET', '/apis/example.com/v1/widgets?fieldSelector=metadata.name=w', 'list', 'example.com', 'widgets', '', '', '', 'read'],
  ['GET', '/apis/apps/v1/namespaces/a/deployments?fieldSelector=metadata.name%3D%3Dweb', 'list', 'apps', 'deployments', '', 'a', 'web', 'read'],
  ['DELETE', '/apis/group/version/resource?fieldSelector=metadata.name=foo', 'deletecollection', 'group', 'resource', '', '', '', 'destructive'],
];

/** Non-resource requests: [method, url, verb, classes]. */
const NON_RESOURCE: Array<[string, string, string, string]> = [
  ['GET', '/', 'get', 'read'], ['GET', '/version', 'get', 'read'], ['GET', '/healthz', 'get', 'read'],
  ['GET', '/openapi/v3', 'get', 'read'], ['GET', '/openapi/v3/apis/apps/v1', 'get', 'read'], ['GET', '/api', 'get', 'read'],
  ['GET', '/api/v1', 'get', 'read'], ['GET', '/apis', 'get', 'read'], ['GET', '/apis/apps', 'get', 'read'],
  ['GET', '/apis/apps/v1', 'get', 'read'], ['GET', '/apis/version/resource', 'get', 'read'],
  ['GET', '/badprefix/version/resource', 'get', 'read'], ['HEAD', '/livez', 'head', 'read'],
  ['POST', '/apis/apps/v1', 'post', 'unknown'], ['DELETE', '/version', 'delete', 'unknown'],
];

/** Spellings the API server and other HTTP stacks could read differently: refused (class unknown). */
const REFUSED = [
  '/api/v1/namespaces/prod/pods/../secrets', '/api/v1/namespaces/prod/secrets/./db', '/api/v1/namespaces/prod/%2e%2e/x',
  '/api/v1//namespaces/prod/secrets', '/api/v1/namespaces/prod/secrets//', '/api/v1/namespaces/a%2Fb/pods',
  '/api/v1/namespaces/a%2fb/pods', '/api/v1/namespaces/a%5Cb/pods', '/api/v1/namespaces/a\\b/pods',
  '/api/v1/namespaces/a%00/pods', '/api/v1/namespaces/%zz/pods', '/api/v1/namespaces/%ff/pods',
  '/api/v1/namespaces/a b/pods', '/api/v1/namespaces/é/pods', '/api/v1/pods#x', 'api/v1/pods', '',
  '/api/v1/pods?watch=1;x=2', '/api/v1/pods?watch=%zz', '/api/v1/pods?a=%ff', '/api/v1/pods?a=b c',
  `/api/v1/pods/${'a'.repeat(70_000)}`, '/api/v1/watch', '/apis/apps/v1/watch',
];

describe('request info: the API server\'s rules', () => {
  before(() => loadShellParser());

  it(`resolves ${TABLE.length} resource requests and classifies them`, () => {
    assert.ok(TABLE.length + NON_RESOURCE.length >= 60);
    for (const [method, url, verb, group, resource, sub, ns, name, classes] of TABLE) {
      const parsed = parseRequestInfo(method, url);
      assert.ok(parsed.ok, `${method} ${url}: ${parsed.ok ? '' : parsed.error}`);
      const { info } = parsed;
      assert.deepEqual([info.resourceRequest, info.verb, info.apiGroup, info.resource, info.subresource, info.namespace, info.name],
        [true, verb, group, resource, sub, ns, name], `${method} ${url}`);
      const analysis = analyseKubeRequest(`${method} ${url}`, {}, analyzeShell);
      assert.equal(analysis.classes.join(','), classes, `${method} ${url}`);
    }
  });

  it('resolves non-resource URLs to the lower-cased method', () => {
    for (const [method, url, verb, classes] of NON_RESOURCE) {
      const parsed = parseRequestInfo(method, url);
      assert.ok(parsed.ok && !parsed.info.resourceRequest && parsed.info.verb === verb, `${method} ${url}`);
      assert.equal(analyseKubeRequest(`${method} ${url}`, {}, analyzeShell).classes.join(','), classes, url);
    }
  });

  it('keeps the parts after the resource as the API server does', () => {
    const parsed = parseRequestInfo('GET', '/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.info.parts, ['pods', 'foo', 'subpath', 'not', 'a', 'subresource']);
    const status = parseRequestInfo('PUT', '/api/v1/namespaces/other/status');
    assert.ok(status.ok);
    assert.deepEqual(status.info.parts, ['namespaces', 'other', 'status']);
  });

  it('refuses URL spellings that could be read two ways, with a reason', () => {
    for (const url of REFUSED) {
      const parsed = parseRequestInfo('GET', url);
      assert.equal(parsed.ok, false, url.slice(0, 80));
      const analysis = analyseKubeRequest(`GET ${url}`, {}, analyzeShell);
      assert.deepEqual(analysis.classes, ['unknown'], url.slice(0, 80));
      assert.ok(analysis.parseError, url.slice(0, 80));
    }
    assert.equal(parseRequestInfo('G ET', '/version').ok, false, 'a method must be a token');
    assert.deepEqual(analyseKubeRequest('GET', {}, analyzeShell).classes, ['unknown']);
  });

  it('reads the query like Go: + is a space, escapes decoded, every command value kept in order', () => {
    const parsed = parseRequestInfo('POST', '/api/v1/namespaces/a/pods/p/exec?command=sh&command=-c&command=echo+a%26b%3Bc&&stdin=true');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.info.query.get('command'), ['sh', '-c', 'echo a&b;c']);
    assert.deepEqual(parsed.info.query.get('stdin'), ['true']);
    const decoded = parseRequestInfo('GET', '/api/v1/namespaces/kube%2Dsystem/pods/a%3Ab');
    assert.ok(decoded.ok);
    assert.deepEqual([decoded.info.namespace, decoded.info.name], ['kube-system', 'a:b']);
  });
});
