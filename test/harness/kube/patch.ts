/**
 * The three patch formats `kubectl apply`, `patch`, `scale` and `edit` send: JSON merge patch (RFC 7386), JSON
 * patch (RFC 6902) and strategic merge patch. Written by hand because no installed package does strategic merge
 * patch; it follows the server's rules for what kubectl produces on pods and deployments: maps merge, `null`
 * deletes, lists of objects merge by their merge key (`containers` by `name`, `ports` by `containerPort`, ...) and
 * other lists are replaced, with the directives `$patch` (replace, delete, merge), `$retainKeys`,
 * `$setElementOrder/FIELD` and `$deleteFromPrimitiveList/FIELD`. The merge key is chosen by field name, not by the
 * schema's path: good enough for the served types, where no field name has two meanings.
 */
import { badRequest, ApiError, failure } from './status.js';

type Json = unknown;
type Obj = Record<string, Json>;

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const result: Obj = isObj(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Decodes one RFC 6901 pointer into its reference tokens. */
function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, tokens: string[]): { parent: Obj | Json[]; key: string } {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(token)] : isObj(node) ? node[token] : undefined;
    if (node === undefined) throw jsonPatchFailed(`missing path component ${token}`);
  }
  if (!isObj(node) && !Array.isArray(node)) throw jsonPatchFailed('path does not name a container');
  return { parent: node, key: tokens[tokens.length - 1] };
}

function jsonPatchFailed(message: string): ApiError {
  return new ApiError(failure(422, 'Invalid', `the server rejected our request due to an error in our request: ${message}`));
}

function getAt(doc: Json, path: string): Json {
  let node = doc;
  for (const token of pointer(path)) {
    node = Array.isArray(node) ? node[Number(token)] : isObj(node) ? node[token] : undefined;
    if (node === undefined) throw jsonPatchFailed(`path ${path} not found`);
  }
  return node;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, key } = parentOf(doc, pointer(path));
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw jsonPatchFailed(`index ${key} out of range`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw jsonPatchFailed(`path ${path} not found`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length - (replace ? 1 : 0))) throw jsonPatchFailed(`index ${key} out of range`);
    parent.splice(i, replace ? 1 : 0, value);
  } else {
    if (replace && !(key in parent)) throw jsonPatchFailed(`path ${path} not found`);
    parent[key] = value;
  }
  return doc;
}

/** RFC 6902 JSON patch (add, remove, replace, move, copy, test). */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = structuredClone(target);
  for (const op of ops as Obj[]) {
    const path = String(op.path ?? '');
    switch (op.op) {
      case 'add': doc = addAt(doc, path, structuredClone(op.value), false); break;
      case 'replace': doc = addAt(doc, path, structuredClone(op.value), true); break;
      case 'remove': removeAt(doc, path); break;
      case 'move': doc = addAt(doc, path, removeAt(doc, String(op.from)), false); break;
      case 'copy': doc = addAt(doc, path, structuredClone(getAt(doc, String(op.from))), false); break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) throw jsonPatchFailed(`test failed at ${path}`);
        break;
      default: throw badRequest(`unexpected json patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}

/** Merge keys of the lists of objects in the served types, by field name (see the module comment). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name', initContainers: 'name', ephemeralContainers: 'name', env: 'name', volumes: 'name',
  volumeMounts: 'mountPath', volumeDevices: 'devicePath', ports: 'containerPort', imagePullSecrets: 'name',
  hostAliases: 'ip', conditions: 'type', ownerReferences: 'uid', topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
};
/** Primitive lists the server merges instead of replacing. */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

/** Strategic merge patch of `original` with `patch`. */
export function strategicMergePatch(original: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  return mergeMap(isObj(original) ? original : {}, patch);
}

function mergeMap(original: Obj, patch: Obj): Obj | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  const body: Obj = {};
  const orders: Record<string, Json[]> = {};
  const deletions: Record<string, Json[]> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys') continue;
    if (key.startsWith('$setElementOrder/')) orders[key.slice(17)] = value as Json[];
    else if (key.startsWith('$deleteFromPrimitiveList/')) deletions[key.slice(25)] = value as Json[];
    else body[key] = value;
  }
  if (directive === 'replace') return structuredClone(body);
  const result: Obj = { ...original };
  for (const [key, value] of Object.entries(body)) {
    if (value === null) {
      delete result[key];
    } else if (isObj(value)) {
      const merged = mergeMap(isObj(result[key]) ? result[key] : {}, value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      result[key] = mergeList(key, Array.isArray(result[key]) ? result[key] : [], value);
    } else {
      result[key] = value;
    }
  }
  for (const [key, values] of Object.entries(deletions)) {
    if (Array.isArray(result[key])) result[key] = (result[key] as Json[]).filter((v) => !values.includes(v));
  }
  for (const [key, order] of Object.entries(orders)) {
    if (Array.isArray(result[key])) result[key] = reorder(key, result[key] as Json[], order);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys as string[]);
    for (const key of Object.keys(result)) if (!keep.has(key)) delete result[key];
  }
  return result;
}

function mergeList(field: string, original: Json[], patch: Json[]): Json[] {
  const mergeKey = MERGE_KEYS[field];
  if (patch.some((e) => isObj(e) && e.$patch === 'replace')) {
    return patch.filter((e) => !(isObj(e) && e.$patch === 'replace'));
  }
  if (mergeKey === undefined) {
    if (MERGED_PRIMITIVE_LISTS.has(field)) return [...original, ...patch.filter((v) => !original.includes(v))];
    return structuredClone(patch);
  }
  const result = original.map((e) => structuredClone(e));
  for (const element of patch) {
    if (!isObj(element)) throw badRequest(`strategic merge patch: ${field} elements must be objects`);
    const at = result.findIndex((e) => isObj(e) && e[mergeKey] === element[mergeKey]);
    if (element.$patch === 'delete') {
      if (at >= 0) result.splice(at, 1);
    } else if (at >= 0) {
      result[at] = mergeMap(result[at] as Obj, element);
    } else {
      result.push(mergeMap({}, element));
    }
  }
  return result.filter((e) => e !== undefined);
}

/** Puts the elements named in `$setElementOrder` first, in that order; the others keep their place after them. */
function reorder(field: string, list: Json[], order: Json[]): Json[] {
  const mergeKey = MERGE_KEYS[field];
  const keyOf = (e: Json): Json => (mergeKey && isObj(e) ? e[mergeKey] : e);
  const wanted = order.map(keyOf);
  const ranked = list.map((e, i) => ({ e, rank: wanted.indexOf(keyOf(e)), i }));
  ranked.sort((a, b) => (a.rank < 0 ? Infinity : a.rank) - (b.rank < 0 ? Infinity : b.rank) || a.i - b.i);
  return ranked.map((r) => r.e);
}
