/**
 * `as=Table` answers (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, what `kubectl get` asks for): the
 * columns the real server's printers define for pods, deployments, namespaces, secrets and events (the rest get
 * its default Name / Created At), with `includeObject` None, Metadata (the default) or Object.
 */
import type { Obj } from './store.js';

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

function col(name: string, type = 'string', priority = 0, format = ''): Column {
  return { name, type, format, description: `${name} column`, priority };
}

const NAME = col('Name', 'string', 0, 'name');
const AGE = col('Age');

/** kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration), which the server's Age cells use. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${days / 365}y` : `${Math.floor(days / 365)}y${days % 365}d`;
  return `${Math.floor(days / 365)}y`;
}

function age(obj: Obj): string {
  const created = (obj.metadata as Obj | undefined)?.creationTimestamp;
  return typeof created === 'string' ? humanDuration(Date.now() - Date.parse(created)) : '<unknown>';
}

const get = (obj: Obj, ...path: string[]): unknown => path.reduce<unknown>((v, p) => (v as Obj | undefined)?.[p], obj);
const str = (v: unknown, none = '<none>'): string => (v === undefined || v === null || v === '' ? none : String(v));

interface Printer {
  columns: Column[];
  cells(obj: Obj): unknown[];
}

const PRINTERS: Record<string, Printer> = {
  pods: {
    columns: [NAME, col('Ready'), col('Status'), col('Restarts'), AGE, col('IP', 'string', 1), col('Node', 'string', 1),
      col('Nominated Node', 'string', 1), col('Readiness Gates', 'string', 1)],
    cells: (o) => {
      const statuses = (get(o, 'status', 'containerStatuses') ?? []) as Obj[];
      const containers = (get(o, 'spec', 'containers') ?? []) as Obj[];
      const deleting = get(o, 'metadata', 'deletionTimestamp') !== undefined;
      const restarts = statuses.reduce((n, s) => n + Number(s.restartCount ?? 0), 0);
      return [get(o, 'metadata', 'name'), `${statuses.filter((s) => s.ready).length}/${containers.length}`,
        deleting ? 'Terminating' : str(get(o, 'status', 'reason') ?? get(o, 'status', 'phase'), 'Pending'), String(restarts),
        age(o), str(get(o, 'status', 'podIP')), str(get(o, 'spec', 'nodeName')), str(get(o, 'status', 'nominatedNodeName')),
        '<none>'];
    },
  },
  deployments: {
    columns: [NAME, col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), AGE,
      col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    cells: (o) => {
      const containers = (get(o, 'spec', 'template', 'spec', 'containers') ?? []) as Obj[];
      const labels = (get(o, 'spec', 'selector', 'matchLabels') ?? {}) as Obj;
      return [get(o, 'metadata', 'name'), `${Number(get(o, 'status', 'readyReplicas') ?? 0)}/${Number(get(o, 'spec', 'replicas') ?? 0)}`,
        Number(get(o, 'status', 'updatedReplicas') ?? 0), Number(get(o, 'status', 'availableReplicas') ?? 0), age(o),
        containers.map((c) => c.name).join(','), containers.map((c) => c.image).join(','),
        Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`).join(',')];
    },
  },
  namespaces: {
    columns: [NAME, col('Status'), AGE],
    cells: (o) => [get(o, 'metadata', 'name'), str(get(o, 'status', 'phase'), ''), age(o)],
  },
  secrets: {
    columns: [NAME, col('Type'), col('Data', 'integer'), AGE],
    cells: (o) => [get(o, 'metadata', 'name'), str(o.type, ''), Object.keys((o.data ?? {}) as Obj).length, age(o)],
  },
  events: {
    columns: [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Message'), NAME],
    cells: (o) => [str(o.lastTimestamp, ''), str(o.type, ''), str(o.reason, ''),
      `${String(get(o, 'involvedObject', 'kind') ?? '').toLowerCase()}/${String(get(o, 'involvedObject', 'name') ?? '')}`,
      str(o.message, ''), get(o, 'metadata', 'name')],
  },
};

const DEFAULT_PRINTER: Printer = {
  columns: [NAME, col('Created At', 'date', 0, 'date-time')],
  cells: (o) => [get(o, 'metadata', 'name'), get(o, 'metadata', 'creationTimestamp')],
};

/** What a row carries besides its cells (`?includeObject=`). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** A `meta.k8s.io/v1 Table` of `objects`; `withColumns` false leaves out the column definitions (watch events after the first). */
export function toTable(resource: string, objects: Obj[], include: IncludeObject, resourceVersion: string,
  withColumns = true, continueToken = ''): Obj {
  const printer = PRINTERS[resource] ?? DEFAULT_PRINTER;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...(continueToken ? { continue: continueToken } : {}) },
    columnDefinitions: withColumns ? printer.columns : [],
    rows: objects.map((o) => ({
      cells: printer.cells(o),
      ...(include === 'None' ? {} : {
        object: include === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
      }),
    })),
  };
}
