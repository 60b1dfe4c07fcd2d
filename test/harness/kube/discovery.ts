/**
 * Discovery documents built from the served resource types: `/version`, the legacy `/api`, `/apis`,
 * `/api/v1`, `/apis/GROUP`, `/apis/GROUP/VERSION`, the aggregated `apidiscovery.k8s.io/v2` lists kubectl ≥ 1.30
 * asks `/api` and `/apis` for, and a small OpenAPI v3 (`/openapi/v3` and one document per group/version) that says
 * which PATCH endpoints take `fieldValidation`, so `kubectl apply` validates on the server instead of failing.
 * The OpenAPI documents do not list strategic merge patch as a PATCH body (kubectl then builds its strategic patch
 * from its built-in types instead of from schemas this server does not have) and their schemas are stubs with
 * descriptions only (enough for `kubectl explain KIND`, not for its fields).
 */
import { createHash } from 'node:crypto';
import { GROUPS, RESOURCE_TYPES, apiVersionOf, type ResourceType } from './resources.js';

/** The Kubernetes version the server claims. */
export const SERVER_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-warden-test' };

/** The media type of aggregated discovery v2. */
export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** `/version`. */
export function versionInfo(): object {
  return {
    ...SERVER_VERSION, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.23.0', compiler: 'gc', platform: 'linux/amd64',
  };
}

const typesOf = (group: string): ResourceType[] => RESOURCE_TYPES.filter((t) => t.group === group);

/** Legacy `/api`. */
export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupEntry(group: string): object {
  const gv = { groupVersion: `${group}/v1`, version: 'v1' };
  return { name: group, versions: [gv], preferredVersion: gv };
}

/** Legacy `/apis`. */
export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.filter((g) => g !== '').map(groupEntry) };
}

/** Legacy `/apis/GROUP`, or undefined when the group is not served. */
export function apiGroup(group: string): object | undefined {
  return GROUPS.includes(group) && group !== '' ? { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(group) } : undefined;
}

/** Legacy `/api/v1` or `/apis/GROUP/v1`, or undefined when not served. */
export function apiResourceList(group: string, version: string): object | undefined {
  const types = typesOf(group).filter((t) => t.version === version);
  if (types.length === 0) return undefined;
  const resources = types.flatMap((t) => [
    { name: t.resource, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: t.verbs,
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}), ...(t.categories.length ? { categories: t.categories } : {}) },
    ...t.subresources.map((s) => ({
      name: `${t.resource}/${s.name}`, singularName: '', namespaced: t.namespaced, kind: s.kind, verbs: s.verbs,
      ...(s.group !== t.group ? { group: s.group, version: s.version } : {}),
    })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

/** Aggregated discovery for `/api` (core) or `/apis` (every named group). */
export function aggregatedDiscovery(core: boolean): object {
  const groups = core ? [''] : GROUPS.filter((g) => g !== '');
  return {
    kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {},
    items: groups.map((group) => ({
      metadata: { name: group, creationTimestamp: null },
      versions: [{
        version: 'v1',
        freshness: 'Current',
        resources: typesOf(group).map((t) => ({
          resource: t.resource,
          responseKind: { group: t.group, version: t.version, kind: t.kind },
          scope: t.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: t.singular,
          verbs: t.verbs,
          ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
          ...(t.categories.length ? { categories: t.categories } : {}),
          ...(t.subresources.length ? {
            subresources: t.subresources.map((s) => ({
              subresource: s.name, responseKind: { group: s.group, version: s.version, kind: s.kind }, verbs: s.verbs,
            })),
          } : {}),
        })),
      }],
    })),
  };
}

/** Whether an Accept header asks for aggregated discovery v2 first (kubectl lists it before plain JSON). */
export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  const first = accept.split(',')[0].replace(/\s/g, '');
  return first.includes('as=APIGroupDiscoveryList') && first.includes('v=v2') && first.includes('g=apidiscovery.k8s.io');
}

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

/** The OpenAPI v3 document of one group/version, or undefined. */
export function openApiDocument(path: string): object | undefined {
  const types = RESOURCE_TYPES.filter((t) => gvPath(t.group, t.version) === path);
  if (types.length === 0) return undefined;
  const paths: Record<string, object> = {};
  const schemas: Record<string, object> = {};
  for (const t of types) {
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const schemaName = `io.k8s.api.${t.group === '' ? 'core' : t.group.split('.')[0]}.${t.version}.${t.kind}`;
    schemas[schemaName] = {
      description: `${t.kind} (served by the Warden test API server).`, type: 'object',
      properties: {
        apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
        kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
        metadata: { type: 'object', description: "Standard object's metadata." },
        spec: { type: 'object', description: `Spec of the ${t.kind}.` },
        status: { type: 'object', description: `Status of the ${t.kind}.` },
      },
      'x-kubernetes-group-version-kind': [gvk],
    };
    const ref = { $ref: `#/components/schemas/${schemaName}` };
    const json = { 'application/json': { schema: ref } };
    const itemPath = `/${gvPath(t.group, t.version)}/${t.namespaced ? 'namespaces/{namespace}/' : ''}${t.resource}/{name}`;
    const op = (action: string, extra: object = {}): object => ({
      description: `${action} the specified ${t.kind}`, operationId: `${action}${t.kind}`,
      responses: { 200: { description: 'OK', content: json } },
      'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk, ...extra,
    });
    const validated = (action: string, body: object): object => op(action, {
      parameters: [
        { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      ],
      requestBody: { content: body, required: true },
    });
    if (t.verbs.includes('get')) {
      paths[itemPath] = {
        get: op('get'),
        put: validated('put', json),
        patch: validated('patch', {
          'application/json-patch+json': { schema: { type: 'object' } },
          'application/merge-patch+json': { schema: { type: 'object' } },
          'application/apply-patch+yaml': { schema: { type: 'object' } },
        }),
        delete: op('delete'),
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } },
          ...(t.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }] : [])],
      };
    } else {
      paths[itemPath.replace(/\/\{name\}$/, '')] = { post: validated('post', json) };
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion }, paths, components: { schemas } };
}

/** `/openapi/v3`: where each group/version's document is, with a content hash as the real server gives. */
export function openApiRoot(): object {
  const paths: Record<string, object> = {};
  for (const t of RESOURCE_TYPES) {
    const p = gvPath(t.group, t.version);
    if (paths[p]) continue;
    const hash = createHash('sha512').update(JSON.stringify(openApiDocument(p))).digest('hex').toUpperCase().slice(0, 128);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}
