/**
 * The classes of one Kubernetes API request from its request info (and, for writes, what its body asks for): read,
 * write, destructive, exec, privilege, secrets; `unknown` when no verb applies. Pure, never throws. The mapping is
 * documented in docs/kubernetes.md ("Classes"); the shell classes of an exec's command are added by analyse.ts.
 */
import { asksForPrivilege, mayScaleToZero, mintsServiceAccountToken } from './body.js';
import type { KubeRequestInfo } from './request-info.js';

/** What the engine could tell about a write's body. */
export type BodyState = { kind: 'none' } | { kind: 'unread' } | { kind: 'json'; value: unknown };

/** Subresources that open a stream into a container or a node (the verbs Warden names after them). */
export const STREAM_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

const READ_VERBS = new Set(['get', 'list', 'watch']);
const WRITE_VERBS = new Set(['create', 'update', 'patch']);
const SCALABLE = new Set(['deployments', 'statefulsets', 'replicasets', 'replicationcontrollers']);
/** Resources whose objects hold a pod template or are pods: a privileged one runs with the node's powers. */
const POD_BEARING = new Set(['pods', 'podtemplates', 'deployments', 'statefulsets', 'daemonsets', 'replicasets',
  'replicationcontrollers', 'jobs', 'cronjobs']);
/** Groups whose writes change who may do what, or route the API itself. */
const PRIVILEGE_GROUPS = new Set(['rbac.authorization.k8s.io', 'admissionregistration.k8s.io', 'apiregistration.k8s.io',
  'certificates.k8s.io']);
/** Create-only review requests that answer a question and change nothing. */
const REVIEWS = new Set(['authorization.k8s.io/selfsubjectaccessreviews', 'authorization.k8s.io/selfsubjectrulesreviews',
  'authorization.k8s.io/subjectaccessreviews', 'authorization.k8s.io/localsubjectaccessreviews',
  'authentication.k8s.io/selfsubjectreviews']);

/**
 * The verb Warden names a request by: the API server's verb, except that a request on the `exec`, `attach`,
 * `portforward`, `proxy` or `log` subresource is named after it (`kubectl exec` is `exec`, not `create` or `get`).
 */
export function wardenVerb(info: KubeRequestInfo): string {
  if (info.resourceRequest && (STREAM_SUBRESOURCES.has(info.subresource) || info.subresource === 'log')) return info.subresource;
  return info.verb;
}

/** The group as policies write it: `core` for the core (legacy) group. */
export function groupName(info: KubeRequestInfo): string {
  return info.apiGroup === '' ? 'core' : info.apiGroup;
}

/** The classes of a request (sorted, never empty). */
export function classifyRequest(info: KubeRequestInfo, body: BodyState, impersonates: boolean): string[] {
  const classes = new Set<string>(info.resourceRequest ? resourceClasses(info, body) : nonResourceClasses(info));
  if (impersonates) classes.add('privilege');
  return [...classes].sort();
}

function nonResourceClasses(info: KubeRequestInfo): string[] {
  // GET/HEAD of discovery, /version, /openapi, /healthz; anything else on a non-resource URL has no known meaning.
  return info.method === 'GET' || info.method === 'HEAD' ? ['read'] : ['unknown'];
}

function resourceClasses(info: KubeRequestInfo, body: BodyState): string[] {
  const verb = info.verb;
  const qualified = `${info.apiGroup}/${info.resource}`;
  if (verb === 'proxy' || STREAM_SUBRESOURCES.has(info.subresource)) return ['exec'];
  if (READ_VERBS.has(verb)) {
    // Any read on Secrets (a subresource a newer or aggregated server may serve included) may show their data.
    return info.apiGroup === '' && info.resource === 'secrets' ? ['read', 'secrets'] : ['read'];
  }
  if (verb === 'delete' || verb === 'deletecollection') return ['destructive'];
  if (!WRITE_VERBS.has(verb)) return ['unknown'];
  if (verb === 'create' && REVIEWS.has(qualified) && info.subresource === '') return ['read'];
  const classes = ['write'];
  if (PRIVILEGE_GROUPS.has(info.apiGroup) || qualified === 'authentication.k8s.io/tokenreviews') classes.push('privilege');
  if (info.apiGroup === '' && info.resource === 'serviceaccounts' && info.subresource === 'token') classes.push('privilege');
  if (info.apiGroup === '' && info.resource === 'pods' && info.subresource === 'ephemeralcontainers') {
    classes.push('exec');
    if (body.kind !== 'json' || asksForPrivilege(body.value)) classes.push('privilege');
  }
  if (info.apiGroup === '' && info.resource === 'pods' && info.subresource === 'eviction') classes.push('destructive');
  if (info.subresource === '' || info.subresource === 'scale') classes.push(...bodyClasses(info, body, verb));
  return classes;
}

/** What a write's body adds: destructive for a scale to zero, privilege for a privileged pod or a minted token. */
function bodyClasses(info: KubeRequestInfo, body: BodyState, verb: string): string[] {
  const classes: string[] = [];
  const scaling = info.subresource === 'scale' || (SCALABLE.has(info.resource) && verb !== 'create');
  const unread = body.kind !== 'json';
  // No body at all on a write: the API server rejects it, but nothing here may rely on that.
  if (scaling && (unread || mayScaleToZero(body.value, info.subresource === 'scale'))) classes.push('destructive');
  if (info.subresource === '' && (POD_BEARING.has(info.resource) || info.apiGroup.includes('.'))) {
    if (unread ? POD_BEARING.has(info.resource) : asksForPrivilege(body.value)) classes.push('privilege');
  }
  if (info.apiGroup === '' && info.resource === 'secrets' && info.subresource === ''
    && (unread || mintsServiceAccountToken(body.value))) classes.push('privilege');
  return classes;
}
