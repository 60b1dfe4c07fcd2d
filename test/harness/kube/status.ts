/**
 * Kubernetes `Status` objects as the real API server words them, and the error type the handlers throw to answer
 * with one.
 */

/** A `meta/v1 Status`. */
export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] };
  code: number;
}

/** Thrown by a handler to answer with a Status (its `code` is the HTTP status). */
export class ApiError extends Error {
  constructor(readonly status: StatusObject) {
    super(status.message);
  }
}

/** A Failure Status with `code`, `reason` and `message`. */
export function failure(code: number, reason: string, message: string,
  details?: StatusObject['details']): StatusObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** `group/resource` as the real server prints it in messages (`pods`, `deployments.apps`). */
function qualified(group: string, resource: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

/** 404 `pods "x" not found`. */
export function notFound(group: string, resource: string, name: string): ApiError {
  return new ApiError(failure(404, 'NotFound', `${qualified(group, resource)} "${name}" not found`,
    { name, ...(group ? { group } : {}), kind: resource }));
}

/** 409 `pods "x" already exists`. */
export function alreadyExists(group: string, resource: string, name: string): ApiError {
  return new ApiError(failure(409, 'AlreadyExists', `${qualified(group, resource)} "${name}" already exists`,
    { name, ...(group ? { group } : {}), kind: resource }));
}

/** 409 Conflict on a stale resourceVersion. */
export function conflict(group: string, resource: string, name: string): ApiError {
  return new ApiError(failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(group, resource)} "${name}": ` +
    'the object has been modified; please apply your changes to the latest version and try again',
  { name, ...(group ? { group } : {}), kind: resource }));
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(failure(400, 'BadRequest', message));
}

/** 403 as the real RBAC authorizer words it. */
export function forbidden(user: string, verb: string, group: string, resource: string, namespace: string, name: string): ApiError {
  const what = name ? `${qualified(group, resource)} "${name}"` : qualified(group, resource);
  const where = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
  return new ApiError(failure(403, 'Forbidden',
    `${what} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}"${where}`,
    { ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource }));
}

/** 401 as the real server answers a missing or wrong credential. */
export function unauthorized(): ApiError {
  return new ApiError(failure(401, 'Unauthorized', 'Unauthorized'));
}
