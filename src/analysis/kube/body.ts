/**
 * Cheap judgements of a write's JSON body: does it scale a workload to zero, does it ask for a privileged pod, what
 * name does it create. Pure, never throws. Each judgement reads the body as the API server would after decoding
 * (JSON.parse keeps the last of duplicate keys, as Go's decoders do) and treats key names case-insensitively, so a
 * spelling Go's case-insensitive struct decoding might accept is never a way around it. A JSON patch (an array of
 * operations) is judged by the paths it touches. Whatever the body cannot settle counts as the worse answer.
 */

/** The most nested levels walked; deeper bodies are judged the worse way. */
const MAX_DEPTH = 64;

/** Pod-spec fields that give a container the node's powers (any value but false/null/empty counts). */
const PRIVILEGED_KEYS = new Set(['privileged', 'hostpath', 'hostpid', 'hostipc', 'hostnetwork', 'procmount']);

/** True when `value` is JSON's "nothing": false, null, an empty string or an empty array or object. */
function isNothing(value: unknown): boolean {
  if (value === false || value === null || value === '' || value === undefined) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}

/**
 * Whether a body asks for node-level powers anywhere: `privileged`, `hostPath`, `hostPID`, `hostIPC`,
 * `hostNetwork`, `procMount` set to anything but false/null/empty, or `capabilities.add` non-empty; in a JSON patch
 * also an operation whose path names one of them. Walks any object (pods, templates of workloads, custom resources
 * that embed pod specs), so it may also flag an unrelated field of the same name: the safe direction.
 */
export function asksForPrivilege(body: unknown): boolean {
  return walkPrivilege(body, 0);
}

function walkPrivilege(value: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return true;
  if (Array.isArray(value)) return value.some((item) => walkPrivilege(item, depth + 1) || patchPathPrivileged(item));
  if (value === null || typeof value !== 'object') return false;
  for (const [key, child] of Object.entries(value)) {
    const lower = key.toLowerCase();
    if (PRIVILEGED_KEYS.has(lower) && !isNothing(child)) {
      if (lower !== 'procmount' || String(child).toLowerCase() !== 'default') return true;
    }
    if (lower === 'capabilities' && child !== null && typeof child === 'object' && capabilitiesAdded(child)) return true;
    if (walkPrivilege(child, depth + 1)) return true;
  }
  return false;
}

function capabilitiesAdded(capabilities: object): boolean {
  return Object.entries(capabilities).some(([key, value]) => key.toLowerCase() === 'add' && !isNothing(value));
}

/** A JSON patch operation whose path (or `from`) names a privileged field or capabilities, unless it removes it. */
function patchPathPrivileged(op: unknown): boolean {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return false;
  const record = op as Record<string, unknown>;
  if (typeof record.op === 'string' && ['remove', 'test'].includes(record.op.toLowerCase())) return false;
  return [record.path, record.from].some((path) => typeof path === 'string'
    && pointer(path).some((part) => PRIVILEGED_KEYS.has(part) || part === 'capabilities'));
}

/** A JSON pointer's parts, unescaped and lower-cased. */
function pointer(path: string): string[] {
  return path.split('/').slice(1).map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~').toLowerCase());
}

/**
 * Whether a write of `body` may leave a workload with zero replicas (or unset replicas where that means zero).
 * `scaleObject` is true for the `scale` subresource, whose `spec.replicas` is zero when absent; for a deployment,
 * statefulset, replicaset or replication controller an absent count keeps or defaults it (not zero).
 * A JSON patch may do it through any operation on ``, `/spec` or `/spec/replicas` but a `test` or an add/replace of
 * `/spec/replicas` with a positive number.
 */
export function mayScaleToZero(body: unknown, scaleObject: boolean): boolean {
  if (Array.isArray(body)) return body.some(patchMayZero);
  if (body === null || typeof body !== 'object') return true;
  return readings(body, 'spec').some((spec) => {
    if (spec === undefined) return scaleObject;
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return true;
    return readings(spec, 'replicas').some((replicas) =>
      replicas === undefined ? scaleObject : !(typeof replicas === 'number' && replicas >= 1));
  });
}

function patchMayZero(op: unknown): boolean {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return true;
  const record = op as Record<string, unknown>;
  const kind = typeof record.op === 'string' ? record.op.toLowerCase() : '';
  if (kind === 'test') return false;
  const touches = (path: unknown) => typeof path !== 'string' || touchesReplicas(pointer(path));
  if (!touches(record.path) && !(record.from !== undefined && touches(record.from))) return false;
  const exact = typeof record.path === 'string' && pointer(record.path).join('/') === 'spec/replicas';
  return !(exact && (kind === 'add' || kind === 'replace') && typeof record.value === 'number' && record.value >= 1
    && record.from === undefined);
}

/** True for the pointers ``, `/spec` and `/spec/replicas` (and anything below them). */
function touchesReplicas(parts: string[]): boolean {
  if (parts.length === 0) return true;
  if (parts[0] !== 'spec') return false;
  return parts.length === 1 || parts[1] === 'replicas';
}

/**
 * The values a Go decoder may read for `key` in `object`: the exact key (the API server's case-sensitive decoder) and
 * the last key of any case (encoding/json's case-insensitive matching); undefined where a reading finds none.
 */
function readings(object: object, key: string): unknown[] {
  const lower = key.toLowerCase();
  let anyCase: unknown;
  for (const [name, value] of Object.entries(object)) if (name.toLowerCase() === lower) anyCase = value;
  return [(object as Record<string, unknown>)[key], anyCase];
}

/** `metadata.name` of a created object, when it names one plainly (no `generateName`); undefined otherwise. */
export function createdName(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const [metadata, anyCase] = readings(body, 'metadata');
  if (metadata !== anyCase || metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return undefined;
  const [name, nameAnyCase] = readings(metadata, 'name');
  if (name !== nameAnyCase || readings(metadata, 'generateName').some((g) => g !== undefined)) return undefined;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** True when a Secret body asks for a service-account token (`type: kubernetes.io/service-account-token`). */
export function mintsServiceAccountToken(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return true;
  if (Array.isArray(body)) return body.some((op) => op !== null && typeof op === 'object'
    && [(op as Record<string, unknown>).path].some((p) => typeof p !== 'string' || pointer(p)[0] === 'type' || p === ''));
  return readings(body, 'type').some((type) => typeof type === 'string' && type.toLowerCase().includes('service-account-token'));
}
