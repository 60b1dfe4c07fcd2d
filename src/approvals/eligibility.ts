/**
 * Who may see and who may decide an approval request. Pure functions of a request and a Subject.
 * The rules, in the order they are checked:
 *  - nobody decides their own request: not the requester, nor anyone in the requester's delegation chain, nor a
 *    caller acting through a chain that contains one of them (an agent must not approve for the person it serves);
 *  - approving needs a person: only a user (kind `user`) acting for themself with no delegation chain may approve.
 *    A service account, an agent or any delegated token may deny but never approve, because the point of
 *    just-in-time approval is a human looking at the statement (and `count: 2` means two people, not one person
 *    and one API key);
 *  - statement requests need a member of one of the required groups or one of the required users; access requests
 *    need a member of the admin group;
 *  - each approver counts once (the same approver twice is a conflict, not a second approval).
 * This module must never read the store or the clock.
 */
import { WardenError } from '../errors.js';
import { principalKeys } from '../identity/principal.js';
import { ADMIN_GROUP } from '../identity/tokens.js';
import type { Subject } from '../session/types.js';
import type { ApprovalRequest } from '../store/types.js';

/** The decisions a person can give. */
export type DecisionKind = 'approve' | 'deny';

const forbidden = (message: string) => new WardenError('WARDEN_ERR_FORBIDDEN', message);

/**
 * True when the subject is (or acts through) the requester or anyone in the requester's chain. Principals are
 * compared with their delegation origin (identity/principal.ts): mallory's `helper` is not alice's `helper`.
 */
export function isOwnRequest(request: ApprovalRequest, subject: Subject): boolean {
  const ids = new Set(principalKeys(request.requester, request.chain));
  return principalKeys(subject.id, subject.chain).some((key) => ids.has(key));
}

/** True when the subject's groups or name satisfy the request's approver list (ignoring the other rules). */
export function isNamedApprover(request: ApprovalRequest, subject: Subject): boolean {
  const { groups, users } = request.approvers;
  // A named approver is a person acting for themself: a sub-agent's name only looks like one.
  const person = subject.kind === 'user' && subject.chain.length === 0;
  return (person && users.includes(subject.id)) || subject.groups.some((g) => groups.includes(g));
}

/** True for a person acting as themself: a user token that was not delegated (service accounts and agents are not). */
export function isPerson(subject: Subject): boolean {
  return subject.kind === 'user' && subject.chain.length === 0;
}

/** A readable sentence of who the request needs, e.g. `a member of dba or sre, or one of the users alice`. */
export function neededApprovers(request: ApprovalRequest): string {
  const { groups, users } = request.approvers;
  const parts: string[] = [];
  if (groups.length > 0) parts.push(`a member of ${groups.join(' or ')}`);
  if (users.length > 0) parts.push(`one of the users ${users.join(', ')}`);
  return parts.join(', or ') || 'an approver';
}

/**
 * Throws the WardenError that stops `subject` from giving `decision` on `request`, or returns when allowed.
 * Assumes the request is pending (the service checks that first, for the right CONFLICT message).
 */
export function checkCanDecide(request: ApprovalRequest, subject: Subject, decision: DecisionKind): void {
  if (isOwnRequest(request, subject)) throw forbidden(`you cannot ${decision} your own request`);
  if (decision === 'approve' && !isPerson(subject)) {
    const what = subject.kind === 'service' ? 'a service account' : subject.kind === 'agent' ? 'an agent' : 'a delegated token';
    throw forbidden(`${what} cannot approve requests: approval needs a person signed in as themself`);
  }
  const allowed = request.kind === 'access' ? subject.groups.includes(ADMIN_GROUP) : isNamedApprover(request, subject);
  if (!allowed) throw forbidden(`${decision === 'approve' ? 'approval' : 'denial'} of this request needs ${neededApprovers(request)}`);
  const again = request.decisions.some((d) => d.by === subject.id && d.decision === 'approve');
  if (again) throw new WardenError('WARDEN_ERR_CONFLICT', 'you already approved this request');
}

/**
 * True when the subject may see the request: administrators see everything, a requester sees their own requests
 * (and those made on their behalf), approvers see what they could decide. Statement text can hold data, so nobody
 * else sees it.
 */
export function canView(request: ApprovalRequest, subject: Subject): boolean {
  if (subject.groups.includes(ADMIN_GROUP)) return true;
  if (isOwnRequest(request, subject)) return true;
  return request.kind === 'statement' && isNamedApprover(request, subject);
}
