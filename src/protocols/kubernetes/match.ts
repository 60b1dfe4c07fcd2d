/**
 * What the Kubernetes policy match keys mean for one analysed API request (src/analysis/kube/analyse.ts sets the
 * attributes), with the object semantics of SQL and SSH: a deny or require_approval rule (restrictive) holds when
 * the request MAY concern a matching value; an allow rule (permissive) holds only when the request establishes
 * values and EVERY one matches. An attribute the analyser could not establish (absent, e.g. the namespace of a list
 * across all namespaces) may be anything: restrictive rules naming it hold, permissive ones fail. An attribute
 * established as empty (a non-resource URL is in no namespace and names no object) satisfies neither.
 *
 * - `verbs`: the Warden verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
 *   `exec`, `attach`, `portforward`, `proxy`, `log`; a non-resource URL's lower-cased method). Restrictive rules also
 *   match the API server's own verb (`create` for an exec sent as POST, `get` for a log), so `deny verbs: [create]`
 *   covers every creation; allow rules match the Warden verb only, so `allow verbs: [get]` never allows an exec.
 * - `resources`: `group/resource` or `group/resource/subresource`, the core group written `core` (`core/pods`,
 *   `apps/deployments`, `core/pods/exec`, `apps/deployments/scale`); globs where `*` also crosses `/` (`core/*` is
 *   every core resource and subresource). A restrictive `core/pods` also holds for the pods' subresources (an exec
 *   acts on a pod) and for the same resource under another group (`core/events` and `events.k8s.io/events`,
 *   `apps/deployments` and the `extensions` group of old clusters); an allow rule matches the value as written
 *   (`core/pods` does not allow `core/pods/exec`). A non-resource URL is its path (`/version`, `/apis/apps/v1`,
 *   `/openapi/v3`), so `resources: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi/*']` names discovery.
 *   A pattern starting with `/` never matches a resource, one starting with a letter never a non-resource URL.
 * - `namespaces`, `names`: globs on the namespace and the object's name.
 * Pure; globs compiled once (policy/glob.ts).
 */
import { z } from 'zod';
import { globMatch } from '../../policy/glob.js';
import type { AnalysedUnit, MatchConditions } from '../../session/protocol.js';

const globs = z.array(z.string().min(1)).min(1);

/** The Kubernetes match keys and the schema of each value. */
export const KUBE_MATCH_KEYS = { verbs: globs, resources: globs, namespaces: globs, names: globs } as const;

/** The Kubernetes match conditions of a rule. */
export interface KubeMatch {
  verbs?: readonly string[];
  resources?: readonly string[];
  namespaces?: readonly string[];
  names?: readonly string[];
}

/** True when the Kubernetes conditions of `match` hold for `unit` (one API request). */
export function kubeUnitMatches(conditions: MatchConditions, unit: AnalysedUnit, restrictive: boolean): boolean {
  const match = conditions as KubeMatch;
  const { attributes } = unit;
  if (match.verbs && !holds(match.verbs, verbsOf(attributes, restrictive), restrictive, globMatch)) return false;
  if (match.resources && !holds(match.resources, attributes.resources, restrictive, restrictive ? resourceMayBe : globMatch)) return false;
  if (match.namespaces && !holds(match.namespaces, attributes.namespaces, restrictive, globMatch)) return false;
  if (match.names && !holds(match.names, attributes.names, restrictive, globMatch)) return false;
  return true;
}

/** The verbs a rule sees: restrictive rules also see the API server's verb. */
function verbsOf(attributes: Record<string, string[]>, restrictive: boolean): string[] | undefined {
  const verbs = attributes.verbs;
  if (!restrictive || verbs === undefined) return verbs;
  return [...verbs, ...(attributes.apiVerbs ?? [])];
}

function holds(patterns: readonly string[], values: readonly string[] | undefined, restrictive: boolean,
  matches: (pattern: string, value: string) => boolean): boolean {
  if (values === undefined) return restrictive;
  if (restrictive) return values.some((value) => patterns.some((pattern) => matches(pattern, value)));
  return values.length > 0 && values.every((value) => patterns.some((pattern) => matches(pattern, value)));
}

/**
 * The same objects served under two groups (`kubectl get events` reads core events, newer clients events.k8s.io;
 * clusters before 1.16/1.22 serve workloads and ingresses under `extensions` too): a restrictive rule on one name
 * also holds for the other.
 */
const ALIASES: Record<string, string> = {
  'core/events': 'events.k8s.io/events', 'events.k8s.io/events': 'core/events',
  'extensions/deployments': 'apps/deployments', 'extensions/daemonsets': 'apps/daemonsets',
  'extensions/replicasets': 'apps/replicasets', 'extensions/ingresses': 'networking.k8s.io/ingresses',
  'extensions/networkpolicies': 'networking.k8s.io/networkpolicies',
  'apps/deployments': 'extensions/deployments', 'apps/daemonsets': 'extensions/daemonsets',
  'apps/replicasets': 'extensions/replicasets', 'networking.k8s.io/ingresses': 'extensions/ingresses',
  'networking.k8s.io/networkpolicies': 'extensions/networkpolicies',
};

/**
 * A restrictive resource pattern also covers the subresources of the resources it names, and the same resource
 * under its other group (ALIASES).
 */
function resourceMayBe(pattern: string, value: string): boolean {
  if (value.startsWith('/')) return globMatch(pattern, value);
  const parts = value.split('/');
  const resource = `${parts[0]}/${parts[1]}`;
  const sub = parts.length === 3 ? `/${parts[2]}` : '';
  for (const name of ALIASES[resource] === undefined ? [resource] : [resource, ALIASES[resource]]) {
    if (globMatch(pattern, `${name}${sub}`) || (sub !== '' && globMatch(pattern, name))) return true;
  }
  return false;
}
