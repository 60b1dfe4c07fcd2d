/**
 * Kubernetes request analysis: one API request (`METHOD /path?query` with the engine's attributes) to one analysed
 * unit with its classes and the match attributes `verbs`, `resources`, `namespaces`, `names`. Pure, synchronous,
 * never throws; a request it cannot judge is one `unknown` unit with `parseError`. The shell analyser is passed in
 * (the definition wires src/analysis/shell) and judges the argv of an `exec`.
 *
 * Attributes (an absent key means "not established", which makes restrictive rules hold and permissive ones fail):
 * - `verbs`: [the Warden verb] (classify.ts `wardenVerb`); `apiVerbs`: [the API server's own verb] (deny and
 *   approval rules also match it, so `verbs: [create]` still holds for an exec sent as a POST);
 * - `resources`: [`group/resource` or `group/resource/subresource`], the core group written `core`; for a
 *   non-resource URL its decoded path (`/version`, `/apis/apps/v1`: it starts with `/`, a resource never does);
 * - `namespaces`: [namespace]; for a namespace object itself its name; [] for a non-resource URL and for resources
 *   Warden knows to be cluster-scoped; absent for a request across all namespaces (or a cluster-scoped resource
 *   Warden does not know), since such a list may return objects of any namespace;
 * - `names`: [name] from the URL, a list's `metadata.name` field selector or a create's `metadata.name`; [] for a
 *   non-resource URL; absent otherwise (a list, a deletecollection, a create with `generateName`).
 * A proxy to anything but a pod (nodes, services) has neither namespaces nor names: it may reach any pod.
 */
import type { AnalysedUnit, Analysis } from '../../session/protocol.js';
import { createdName } from './body.js';
import { classifyRequest, groupName, wardenVerb, type BodyState } from './classify.js';
import { parseRequestInfo, type KubeRequestInfo } from './request-info.js';

/** What the engine tells the analyser about a request besides its text (see KubeCommandAttributes). */
export interface KubeRequestFacts {
  /** The caller's `Impersonate-*` headers, `Name: value` per line; empty or absent when none. */
  impersonate?: string;
  /** The JSON text of a write's body, when read. */
  body?: string;
  /** `'true'` when a write's body was too large or not JSON. */
  bodyUnread?: string;
}

/** Judges shell text (an exec's command): src/analysis/shell's `analyzeShell`. */
export type ShellJudge = (text: string) => Analysis;

/** The protocol's own analysis of a request (AnalysedUnit.detail), for the engine and recordings. */
export interface KubeUnitDetail {
  info: KubeRequestInfo;
  /** The Warden verb (`exec`, `log`, `list`, ...). */
  verb: string;
  /** An exec's command as argv, when it has one. */
  command?: string[];
}

/** Resources Warden knows are cluster-scoped (group/resource): they never have a namespace. */
const CLUSTER_SCOPED = new Set(['/nodes', '/persistentvolumes', '/componentstatuses',
  'rbac.authorization.k8s.io/clusterroles', 'rbac.authorization.k8s.io/clusterrolebindings',
  'apiextensions.k8s.io/customresourcedefinitions', 'storage.k8s.io/storageclasses', 'storage.k8s.io/csidrivers',
  'storage.k8s.io/csinodes', 'storage.k8s.io/volumeattachments', 'certificates.k8s.io/certificatesigningrequests',
  'scheduling.k8s.io/priorityclasses', 'admissionregistration.k8s.io/mutatingwebhookconfigurations',
  'admissionregistration.k8s.io/validatingwebhookconfigurations', 'admissionregistration.k8s.io/validatingadmissionpolicies',
  'admissionregistration.k8s.io/validatingadmissionpolicybindings', 'apiregistration.k8s.io/apiservices',
  'networking.k8s.io/ingressclasses', 'node.k8s.io/runtimeclasses', 'flowcontrol.apiserver.k8s.io/flowschemas',
  'flowcontrol.apiserver.k8s.io/prioritylevelconfigurations', 'authentication.k8s.io/tokenreviews',
  'authentication.k8s.io/selfsubjectreviews', 'authorization.k8s.io/selfsubjectaccessreviews',
  'authorization.k8s.io/selfsubjectrulesreviews', 'authorization.k8s.io/subjectaccessreviews']);

/** One `unknown` unit with `error` as the parse error: a request (or command) the analyser cannot judge. */
export function unknownAnalysis(text: string, error: string): Analysis {
  return { units: [{ text, classes: ['unknown'], attributes: {} }], classes: ['unknown'], parseError: error };
}

/** Characters a shell reads literally in a word (no expansion, globbing, quoting or word splitting). */
const PLAIN_WORD = /^[A-Za-z0-9_./:@+,-]+$/;

/**
 * One argv word as shell text meaning exactly that word: bare when every character is literal to a shell (so the
 * shell analyser sees `rm`, not a quoted program name it cannot trust to be the program), else single-quoted
 * (`it's` → `'it'\''s'`). An exec runs argv without a shell, so no alias, function or expansion applies.
 */
export function shellWord(word: string): string {
  return PLAIN_WORD.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

function bodyState(facts: KubeRequestFacts): BodyState {
  if (facts.bodyUnread === 'true') return { kind: 'unread' };
  if (facts.body === undefined) return { kind: 'none' };
  try {
    return { kind: 'json', value: JSON.parse(facts.body) as unknown };
  } catch {
    return { kind: 'unread' };
  }
}

/** The match attributes of a request (see the module comment). */
function attributesOf(info: KubeRequestInfo, verb: string, body: BodyState): Record<string, string[]> {
  if (!info.resourceRequest) {
    return { verbs: [verb], apiVerbs: [info.verb], resources: [`/${info.segments.join('/')}`], namespaces: [], names: [] };
  }
  const resource = `${groupName(info)}/${info.resource}${info.subresource === '' ? '' : `/${info.subresource}`}`;
  const attributes: Record<string, string[]> = { verbs: [verb], apiVerbs: [info.verb], resources: [resource] };
  // A proxy to a node (the kubelet: exec in any pod on it) or a service (its endpoints may be any address) reaches
  // something Warden cannot name: neither namespace nor name is established. A pod's proxy reaches that pod.
  if ((info.verb === 'proxy' || info.subresource === 'proxy') && !(info.apiGroup === '' && info.resource === 'pods')) {
    return attributes;
  }
  let name = info.name;
  if (name === '' && info.verb === 'create' && info.subresource === '' && body.kind === 'json') name = createdName(body.value) ?? '';
  if (name !== '') attributes.names = [name];
  if (info.namespace !== '') attributes.namespaces = [info.namespace];
  else if (info.apiGroup === '' && info.resource === 'namespaces' && name !== '') attributes.namespaces = [name];
  else if (CLUSTER_SCOPED.has(`${info.apiGroup}/${info.resource}`)) attributes.namespaces = [];
  return attributes;
}

/**
 * Analyses one request: `text` is `METHOD /path?query` exactly as the engine built it, `facts` its attributes,
 * `shell` the analyser of an exec's command. Never throws.
 */
export function analyseKubeRequest(text: string, facts: KubeRequestFacts, shell: ShellJudge): Analysis {
  const space = text.indexOf(' ');
  if (space <= 0) return unknownAnalysis(text, 'a request must read "METHOD /path"');
  const parsed = parseRequestInfo(text.slice(0, space), text.slice(space + 1));
  if (!parsed.ok) return unknownAnalysis(text, parsed.error);
  const info = parsed.info;
  const verb = wardenVerb(info);
  const body = bodyState(facts);
  const classes = new Set(classifyRequest(info, body, (facts.impersonate ?? '').trim() !== ''));
  const detail: KubeUnitDetail = { info, verb };
  if (info.resourceRequest && info.subresource === 'exec') {
    const command = [...(info.query.get('command') ?? [])];
    detail.command = command;
    if (command.length > 0) for (const cls of shell(command.map(shellWord).join(' ')).classes) classes.add(cls);
    // `Command=...` or `COMMAND=...`: if the server's parameter decoding ever read those too, the argv would not be
    // the one judged above.
    if ([...info.query.keys()].some((key) => key !== 'command' && key.toLowerCase() === 'command')) classes.add('unknown');
  }
  const sorted = [...classes].sort();
  const unit: AnalysedUnit = { text, classes: sorted, attributes: attributesOf(info, verb, body), detail };
  return { units: [unit], classes: sorted };
}
