/**
 * The resource types the test API server serves, described once: discovery, OpenAPI, tables and the store all read
 * this list, so a resource is either fully served or absent.
 */

/** One served resource type. */
export interface ResourceType {
  group: string;
  version: string;
  /** Plural, lower-case, as in URLs (`pods`). */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames: string[];
  categories: string[];
  /** Subresources and the verbs each supports. */
  subresources: { name: string; kind: string; group: string; version: string; verbs: string[] }[];
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Every resource type served, in discovery order. */
export const RESOURCE_TYPES: ResourceType[] = [
  {
    group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'], categories: [],
    subresources: [{ name: 'status', kind: 'Namespace', group: '', version: 'v1', verbs: ['get', 'patch', 'update'] }],
  },
  {
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, verbs: CRUD,
    shortNames: ['po'], categories: ['all'],
    subresources: [
      { name: 'exec', kind: 'PodExecOptions', group: '', version: 'v1', verbs: ['create', 'get'] },
      { name: 'attach', kind: 'PodAttachOptions', group: '', version: 'v1', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', group: '', version: 'v1', verbs: ['get'] },
      { name: 'portforward', kind: 'PodPortForwardOptions', group: '', version: 'v1', verbs: ['create', 'get'] },
      { name: 'status', kind: 'Pod', group: '', version: 'v1', verbs: ['get', 'patch', 'update'] },
    ],
  },
  {
    group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, verbs: CRUD,
    shortNames: [], categories: [], subresources: [],
  },
  {
    group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', namespaced: true, verbs: CRUD,
    shortNames: ['ev'], categories: [], subresources: [],
  },
  {
    group: 'apps', version: 'v1', resource: 'deployments', singular: 'deployment', kind: 'Deployment', namespaced: true,
    verbs: CRUD, shortNames: ['deploy'], categories: ['all'],
    subresources: [
      { name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
      { name: 'status', kind: 'Deployment', group: 'apps', version: 'v1', verbs: ['get', 'patch', 'update'] },
    ],
  },
  {
    group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview',
    kind: 'SelfSubjectAccessReview', namespaced: false, verbs: ['create'], shortNames: [], categories: [], subresources: [],
  },
  {
    group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectrulesreviews', singular: 'selfsubjectrulesreview',
    kind: 'SelfSubjectRulesReview', namespaced: false, verbs: ['create'], shortNames: [], categories: [], subresources: [],
  },
];

/** The API groups served, in discovery order (the core group is `''`). */
export const GROUPS = [...new Set(RESOURCE_TYPES.map((t) => t.group))];

/** The `apiVersion` of a type (`v1`, `apps/v1`). */
export function apiVersionOf(type: { group: string; version: string }): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** The type served at group/version/resource, if any. */
export function findType(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.resource === resource);
}

/** Whether a resource type is stored (the access reviews are answered, never stored). */
export function isStored(type: ResourceType): boolean {
  return type.group !== 'authorization.k8s.io';
}
