/**
 * The test API server's object store: one map per resource type keyed by `namespace/name`, a global
 * resourceVersion counter, a bounded history of watch events (so a watch can resume from a list's
 * resourceVersion, and gets 410 Gone when it is too old), and the defaults the real control plane would fill in
 * (a pod is Running and Ready on node `node-1` at once; a deployment reports all its replicas ready at once and owns
 * no ReplicaSets or Pods; a Secret's `stringData` is folded into `data`). Each stored object is kept with its JSON
 * text, so listing 10,000 objects only joins strings.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { alreadyExists, badRequest, conflict, notFound, ApiError, failure } from './status.js';
import { apiVersionOf, type ResourceType } from './resources.js';

/** A JSON object. */
export type Obj = Record<string, unknown>;

/** A stored object and its JSON text (never mutated once stored). */
export interface Entry {
  obj: Obj;
  json: string;
}

/** One change, as a watch delivers it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: string;
  namespace: string;
  entry: Entry;
  rv: number;
}

const HISTORY_LIMIT = 50_000;

/** `2026-12-03T16:00:00Z` (the server's timestamps have no fraction). */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

function meta(obj: Obj): Obj {
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {};
  return obj.metadata as Obj;
}

/** The object store (see the module comment). */
export class Store {
  private rv = 1;
  private readonly maps = new Map<string, Map<string, Entry>>();
  private readonly sortedKeys = new Map<string, string[]>();
  /** The joined JSON of whole lists (`resource|namespace`), valid while the resource's `changes` count is unchanged. */
  private readonly joined = new Map<string, { changes: number; bytes: Buffer }>();
  private readonly changes = new Map<string, number>();
  private readonly history: WatchEvent[] = [];
  private readonly watchers = new Set<(event: WatchEvent) => void>();
  private podIp = 10;

  /** The current resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  private map(resource: string): Map<string, Entry> {
    let m = this.maps.get(resource);
    if (!m) {
      m = new Map();
      this.maps.set(resource, m);
    }
    return m;
  }

  /** The stored object, or undefined. */
  get(resource: string, namespace: string, name: string): Entry | undefined {
    return this.maps.get(resource)?.get(`${namespace}/${name}`);
  }

  /** The stored object, or a 404 Status. */
  mustGet(type: ResourceType, namespace: string, name: string): Entry {
    const entry = this.get(type.resource, namespace, name);
    if (!entry) throw notFound(type.group, type.resource, name);
    return entry;
  }

  /** Every object of a type (in one namespace when given), ordered by key as etcd lists them. */
  list(resource: string, namespace: string): Entry[] {
    const m = this.map(resource);
    let keys = this.sortedKeys.get(resource);
    if (!keys) {
      keys = [...m.keys()].sort();
      this.sortedKeys.set(resource, keys);
    }
    const entries: Entry[] = [];
    for (const key of keys) {
      if (namespace && !key.startsWith(`${namespace}/`)) continue;
      entries.push(m.get(key)!);
    }
    return entries;
  }

  /**
   * The stored objects' JSON joined by commas, as `list` orders them, as UTF-8 bytes (cached until the resource
   * changes: a bench lists 10,000 pods again and again, and should measure the gateway, not this server).
   */
  listJson(resource: string, namespace: string): Buffer {
    const key = `${resource}|${namespace}`;
    const changes = this.changes.get(resource) ?? 0;
    const cached = this.joined.get(key);
    if (cached && cached.changes === changes) return cached.bytes;
    const bytes = Buffer.from(this.list(resource, namespace).map((e) => e.json).join(','));
    this.joined.set(key, { changes, bytes });
    return bytes;
  }

  /** Calls `listener` with every change from now on; returns the unsubscribe function. */
  subscribe(listener: (event: WatchEvent) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /** The changes after resourceVersion `rv`, or undefined when the history no longer reaches back that far. */
  eventsSince(rv: number): WatchEvent[] | undefined {
    if (rv >= this.rv) return [];
    const first = this.history[0];
    if (!first || first.rv > rv + 1) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  private commit(type: ResourceType, namespace: string, name: string, obj: Obj | undefined, kind: WatchEvent['type'],
    dryRun: boolean, deleted?: Entry): Entry {
    const m = this.map(type.resource);
    const key = `${namespace}/${name}`;
    if (obj === undefined) {
      if (dryRun) return deleted!;
      this.rv++;
      m.delete(key);
      this.sortedKeys.delete(type.resource);
      const gone = deleted!;
      this.emit({ type: kind, resource: type.resource, namespace, entry: gone, rv: this.rv });
      return gone;
    }
    const rv = dryRun ? this.rv : this.rv + 1;
    meta(obj).resourceVersion = String(rv);
    const entry: Entry = { obj, json: JSON.stringify(obj) };
    if (dryRun) return entry;
    this.rv = rv;
    if (!m.has(key)) this.sortedKeys.delete(type.resource);
    m.set(key, entry);
    this.emit({ type: kind, resource: type.resource, namespace, entry, rv });
    return entry;
  }

  private emit(event: WatchEvent): void {
    this.changes.set(event.resource, (this.changes.get(event.resource) ?? 0) + 1);
    this.history.push(event);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    for (const w of this.watchers) w(event);
  }

  /** Creates an object (404 when its namespace is missing, 409 when it exists). */
  create(type: ResourceType, namespace: string, body: Obj, dryRun = false): Entry {
    const obj = structuredClone(body);
    const m = meta(obj);
    if (!m.name && typeof m.generateName === 'string') m.name = m.generateName + randomBytes(3).toString('hex').slice(0, 5);
    const name = m.name;
    if (typeof name !== 'string' || name === '') {
      throw new ApiError(failure(422, 'Invalid', `${type.kind} "" is invalid: metadata.name: Required value: name or generateName is required`));
    }
    if (type.namespaced) {
      if (m.namespace !== undefined && m.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      if (!this.get('namespaces', '', namespace)) {
        throw new ApiError(failure(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' }));
      }
      m.namespace = namespace;
    } else {
      delete m.namespace;
    }
    if (this.get(type.resource, type.namespaced ? namespace : '', name)) throw alreadyExists(type.group, type.resource, name);
    obj.apiVersion = apiVersionOf(type);
    obj.kind = type.kind;
    m.uid = randomUUID();
    m.creationTimestamp = timestamp();
    delete m.resourceVersion;
    this.applyDefaults(type, obj, undefined);
    return this.commit(type, type.namespaced ? namespace : '', name, obj, 'ADDED', dryRun);
  }

  /** Replaces an object (409 on a stale resourceVersion); the server-owned metadata is kept. */
  update(type: ResourceType, namespace: string, name: string, body: Obj, dryRun = false): Entry {
    const ns = type.namespaced ? namespace : '';
    const current = this.mustGet(type, ns, name);
    const obj = structuredClone(body);
    const m = meta(obj);
    if (m.name !== undefined && m.name !== name) {
      throw badRequest(`the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
    }
    const old = current.obj.metadata as Obj;
    if (m.resourceVersion !== undefined && m.resourceVersion !== '' && m.resourceVersion !== old.resourceVersion) {
      throw conflict(type.group, type.resource, name);
    }
    Object.assign(m, { name, uid: old.uid, creationTimestamp: old.creationTimestamp, generation: old.generation });
    if (type.namespaced) m.namespace = namespace;
    else delete m.namespace;
    obj.apiVersion = apiVersionOf(type);
    obj.kind = type.kind;
    this.applyDefaults(type, obj, current.obj);
    return this.commit(type, ns, name, obj, 'MODIFIED', dryRun);
  }

  /** Deletes an object at once (no graceful termination); deleting a namespace deletes everything in it. */
  delete(type: ResourceType, namespace: string, name: string, dryRun = false): Entry {
    const ns = type.namespaced ? namespace : '';
    const current = this.mustGet(type, ns, name);
    if (type.resource === 'namespaces' && !dryRun) {
      for (const [resource, m] of this.maps) {
        for (const [key, entry] of [...m]) {
          if (!key.startsWith(`${name}/`)) continue;
          this.rv++;
          m.delete(key);
          this.sortedKeys.delete(resource);
          this.emit({ type: 'DELETED', resource, namespace: name, entry, rv: this.rv });
        }
      }
    }
    return this.commit(type, ns, name, undefined, 'DELETED', dryRun, current);
  }

  /** What the control plane fills in: status and defaults, generation bumps on spec changes. */
  private applyDefaults(type: ResourceType, obj: Obj, previous: Obj | undefined): void {
    const m = meta(obj);
    if (type.resource === 'namespaces') {
      m.labels = { ...(m.labels as Obj | undefined), 'kubernetes.io/metadata.name': m.name };
      obj.spec = { finalizers: ['kubernetes'], ...(obj.spec as Obj | undefined) };
      obj.status = { phase: 'Active' };
    } else if (type.resource === 'secrets') {
      const data: Obj = { ...(obj.data as Obj | undefined) };
      for (const [k, v] of Object.entries((obj.stringData ?? {}) as Obj)) data[k] = Buffer.from(String(v)).toString('base64');
      delete obj.stringData;
      if (Object.keys(data).length > 0) obj.data = data;
      if (!obj.type) obj.type = 'Opaque';
    } else if (type.resource === 'pods') {
      this.podDefaults(obj, previous);
    } else if (type.resource === 'deployments') {
      deploymentDefaults(obj, previous);
    }
  }

  private podDefaults(obj: Obj, previous: Obj | undefined): void {
    const spec = (obj.spec ??= {}) as Obj;
    const containers = spec.containers;
    if (!Array.isArray(containers) || containers.length === 0) {
      throw new ApiError(failure(422, 'Invalid',
        `Pod "${String(meta(obj).name)}" is invalid: spec.containers: Required value`));
    }
    spec.nodeName ??= 'node-1';
    spec.restartPolicy ??= 'Always';
    spec.dnsPolicy ??= 'ClusterFirst';
    spec.schedulerName ??= 'default-scheduler';
    spec.terminationGracePeriodSeconds ??= 30;
    const oldStatus = previous?.status as Obj | undefined;
    if (obj.status && previous && JSON.stringify(obj.status) !== JSON.stringify(oldStatus)) return; // a status write
    const started = (oldStatus?.startTime as string | undefined) ?? timestamp();
    const ip = (oldStatus?.podIP as string | undefined) ?? `10.244.${(this.podIp >> 8) & 255}.${this.podIp++ & 255}`;
    obj.status = {
      phase: 'Running',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((t) => ({
        type: t, status: 'True', lastProbeTime: null, lastTransitionTime: started,
      })),
      hostIP: '172.18.0.2',
      podIP: ip,
      podIPs: [{ ip }],
      startTime: started,
      containerStatuses: (containers as Obj[]).map((c) => ({
        name: c.name, ready: true, restartCount: 0, started: true, image: c.image, imageID: `docker.io/library/${String(c.image)}`,
        containerID: `containerd://${randomBytes(32).toString('hex')}`, state: { running: { startedAt: started } },
      })),
      qosClass: 'BestEffort',
    };
  }
}

function deploymentDefaults(obj: Obj, previous: Obj | undefined): void {
  const m = meta(obj);
  const spec = (obj.spec ??= {}) as Obj;
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
  if (!spec.selector) throw new ApiError(failure(422, 'Invalid', `Deployment.apps "${String(m.name)}" is invalid: spec.selector: Required value`));
  const oldGeneration = (previous?.metadata as Obj | undefined)?.generation as number | undefined;
  const specChanged = !previous || JSON.stringify(previous.spec) !== JSON.stringify(spec);
  m.generation = (oldGeneration ?? 0) + (specChanged ? 1 : 0);
  m.annotations = { 'deployment.kubernetes.io/revision': '1', ...(m.annotations as Obj | undefined) };
  const replicas = spec.replicas as number;
  const now = timestamp();
  obj.status = {
    observedGeneration: m.generation,
    replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
    conditions: [
      { type: 'Available', status: 'True', lastUpdateTime: now, lastTransitionTime: now, reason: 'MinimumReplicasAvailable',
        message: 'Deployment has minimum availability.' },
      { type: 'Progressing', status: 'True', lastUpdateTime: now, lastTransitionTime: now, reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${String(m.name)}-5d4f8b7c9" has successfully progressed.` },
    ],
  };
  if (replicas === 0) {
    const status = obj.status as Obj;
    delete status.readyReplicas;
    delete status.availableReplicas;
  }
}
