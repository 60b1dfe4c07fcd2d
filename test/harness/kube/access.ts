/**
 * Who a request is and what it may do: bearer tokens and client certificates signed by the server's CA,
 * `Impersonate-User` / `Impersonate-Group` / `Impersonate-Uid` / `Impersonate-Extra-*` (checked as the real server
 * does: the authenticated user needs verb `impersonate` on `users`, `groups`, `uids`, `userextras/KEY`), and
 * RBAC-like allow rules (no deny rules, as in RBAC) that decide requests and answer the access reviews
 * `kubectl auth can-i` sends.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ApiError, failure, unauthorized } from './status.js';

/** An authenticated (or impersonated) user. */
export interface Identity {
  user: string;
  groups: string[];
}

/** One allow rule, RBAC-style: every listed field must match (`*` matches anything). */
export interface AccessRule {
  /** User names the rule applies to (default: everyone authenticated). */
  users?: string[];
  /** Groups the rule applies to (a user in any of them). */
  groups?: string[];
  verbs: string[];
  apiGroups: string[];
  /** `pods`, `pods/log`, `users` (for impersonate), `*` (all), or `*` + `/scale` (every scale subresource). */
  resources: string[];
  /** Namespaces the rule applies in (default: all, and cluster scope). */
  namespaces?: string[];
  resourceNames?: string[];
}

/** What a request asks to do, for authorization. */
export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** The default: everyone authenticated may do everything. */
export const ALLOW_ALL: AccessRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }];

const matches = (list: string[] | undefined, value: string): boolean => list === undefined || list.includes('*') || list.includes(value);

function appliesTo(rule: AccessRule, who: Identity): boolean {
  if (rule.users === undefined && rule.groups === undefined) return true;
  return (rule.users?.includes(who.user) ?? false) || who.groups.some((g) => rule.groups?.includes(g));
}

/** What the bootstrap role `system:basic-user` grants every authenticated user: asking what it may do. */
const BASIC_USER: AccessRule = { verbs: ['create'], apiGroups: ['authorization.k8s.io'],
  resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] };

/** Whether any rule (or the bootstrap `system:basic-user` role) allows `attrs` for `who`. */
export function allowed(rules: AccessRule[], who: Identity, attrs: Attributes): boolean {
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  return [...rules, BASIC_USER].some((r) => appliesTo(r, who) && matches(r.verbs, attrs.verb) && matches(r.apiGroups, attrs.group) &&
    (r.resources.includes('*') || r.resources.includes(resource) ||
      (attrs.subresource !== '' && r.resources.includes(`*/${attrs.subresource}`))) &&
    (r.namespaces === undefined || r.namespaces.includes('*') || r.namespaces.includes(attrs.namespace)) &&
    (r.resourceNames === undefined || r.resourceNames.includes(attrs.name)));
}

/** The rules that apply to `who` in `namespace`, as a SelfSubjectRulesReview lists them. */
export function rulesFor(rules: AccessRule[], who: Identity, namespace: string): object[] {
  return rules.filter((r) => appliesTo(r, who) && (r.namespaces === undefined || r.namespaces.includes('*') ||
    r.namespaces.includes(namespace))).map((r) => ({
    verbs: r.verbs, apiGroups: r.apiGroups, resources: r.resources, ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
  }));
}

/**
 * Authenticates as the real server's union of authenticators does, in its order: a verified client certificate
 * (CN user, O groups) first, then the bearer token; 401 when neither succeeds.
 */
export function authenticate(req: IncomingMessage, tokens: Map<string, Identity>): Identity {
  const socket = req.socket as TLSSocket;
  if (socket.authorized) {
    const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[]> | undefined;
    const cn = subject?.CN;
    if (typeof cn === 'string' && cn !== '') {
      const o = subject?.O;
      return { user: cn, groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
    }
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  const who = m ? tokens.get(m[1]) : undefined;
  if (!who) throw unauthorized();
  return { user: who.user, groups: [...who.groups, 'system:authenticated'] };
}

function headerValues(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === name) values.push(...req.rawHeaders[i + 1].split(',').map((v) => v.trim()));
  }
  return values;
}

/** Applies `Impersonate-*` headers (403 when `who` may not impersonate); returns the effective identity. */
export function impersonate(req: IncomingMessage, who: Identity, rules: AccessRule[]): Identity {
  const user = req.headers['impersonate-user'];
  const groups = headerValues(req, 'impersonate-group');
  const uid = req.headers['impersonate-uid'];
  const extras = Object.keys(req.headers).filter((h) => h.startsWith('impersonate-extra-'));
  if (user === undefined) {
    if (groups.length > 0 || uid !== undefined || extras.length > 0) {
      throw new ApiError(failure(500, 'InternalError', 'requested impersonation of groups, uid or extras without impersonating a user'));
    }
    return who;
  }
  const check = (resource: string, name: string, group = ''): void => {
    if (!allowed(rules, who, { verb: 'impersonate', group, resource, subresource: '', namespace: '', name })) {
      throw new ApiError(failure(403, 'Forbidden',
        `${resource} "${name}" is forbidden: User "${who.user}" cannot impersonate resource "${resource}" in API group "${group}" at the cluster scope`));
    }
  };
  const userName = String(user);
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(userName);
  if (sa) check('serviceaccounts', sa[2]);
  else check('users', userName);
  for (const g of groups) check('groups', g);
  if (uid !== undefined) check('uids', String(uid), 'authentication.k8s.io');
  for (const h of extras) check(`userextras/${h.slice('impersonate-extra-'.length)}`, String(req.headers[h]), 'authentication.k8s.io');
  return { user: userName, groups: [...groups, 'system:authenticated'] };
}
