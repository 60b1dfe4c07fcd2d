/**
 * The kubernetes protocol as the shared pipeline sees it: its command classes, its target fields, its policy match
 * keys (`verbs`, `resources`, `namespaces`, `names`; semantics in match.ts) and its analyser (one API request to a
 * verb, resource and classes; src/analysis/kube). Registered by the server; the pipeline reaches it only through the
 * ProtocolRegistry. Pure: no I/O.
 *
 * A command is one API request: `kind` `request`, `text` `METHOD /path?query` exactly as the caller sent it, and
 * `attributes` the engine knows from headers and body (see KubeCommandAttributes).
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { analyseKubeRequest, unknownAnalysis } from '../../analysis/kube/analyse.js';
import { WardenError } from '../../errors.js';
import type { AnalysisState, ProtocolDefinition } from '../../session/protocol.js';
import type { Command, Credentials, KubernetesCredentials } from '../../session/types.js';
import type { ShellAnalyser } from '../ssh/definition.js';
import { KUBE_SECRETS_AGAIN, kubeRedirects, kubeTargetView } from './target-fields.js';
import { KUBE_MATCH_KEYS, kubeUnitMatches } from './match.js';

/**
 * Classes a Kubernetes request can have (issue 13), plus `unknown` for what the analyser cannot judge, and
 * `network`, which the shell analyser may find in an exec's command.
 */
export const KUBE_CLASSES = ['read', 'write', 'destructive', 'exec', 'privilege', 'secrets', 'network', 'unknown'] as const;

/**
 * What the engine puts in `Command.attributes` for a request besides its method and path (all optional):
 * - `impersonate`: the caller's `Impersonate-*` headers, one `Name: value` per line (the analyser adds `privilege`);
 * - `body`: the JSON text of a write's body when it is at most the engine's limit (e.g. a scale to zero is
 *   `destructive`); `bodyUnread`: `'true'` when a write's body was too large or not JSON, so the analyser must assume
 *   the worst of it (a write with neither is judged as unread). The analyser reads a JSON array as a JSON patch and
 *   an object as a whole object or a merge/strategic/apply patch, whatever the Content-Type says (the API server
 *   refuses a body that does not fit its type);
 * - `contentType`: the request's Content-Type (recorded; the analyser does not need it, see above).
 */
export interface KubeCommandAttributes {
  impersonate?: string;
  body?: string;
  bodyUnread?: 'true';
  contentType?: string;
}

const pem = z.string().min(1).max(1_000_000);

/** The fields of a kubernetes target besides name, type and labels. */
export const kubernetesTargetSpec = z.strictObject({
  server: z.string().url().refine((url) => url.startsWith('https://'), 'must be an https:// URL'),
  caCert: pem.nullable(),
  tlsServerName: z.string().min(1).max(255).nullable(),
  clientCert: pem.nullable(),
  impersonate: z.boolean(),
});

/**
 * Without a shell analyser an exec's command is `unknown` (never guessed): builtin.ts passes src/analysis/shell's.
 * Every other request is judged all the same.
 */
const UNANALYSED: ShellAnalyser = { analyse: (text) => unknownAnalysis(text, 'the shell analyser is not installed') };

/**
 * The kubernetes protocol with `shell` judging the command of an `exec` (so `kubectl exec p -- rm -rf /` is `exec`
 * and `destructive`). A command of another kind than `request` is `unknown`.
 */
export function createKubernetesProtocol(shell: ShellAnalyser = UNANALYSED): ProtocolDefinition {
  return {
    name: 'kubernetes',
    commandKind: 'request',
    unitsNoun: 'requests',
    classes: KUBE_CLASSES,
    targetSpec: kubernetesTargetSpec,
    secretFields: ['token', 'clientKey'],
    matchKeys: KUBE_MATCH_KEYS,
    unitMatches: (match, unit, _cls, restrictive) => kubeUnitMatches(match, unit, restrictive),
    targetView: kubeTargetView,
    redirects: kubeRedirects,
    secretsAgain: KUBE_SECRETS_AGAIN,
    analyse(command) {
      if (command.kind !== 'request') {
        return unknownAnalysis(command.text, `a kubernetes command of kind "${command.kind}" is not an API request`);
      }
      return analyseKubeRequest(command.text, command.attributes ?? {}, (text) => shell.analyse(text));
    },
    newState: () => new KubernetesAnalysisState(),
    init: shell.init === undefined ? undefined : () => shell.init!(),
  };
}

/**
 * A kubernetes session's analysis state: none is kept between requests, but an approval window must cover only the
 * very request approved, and a write's `METHOD /path` alone does not say what it writes. The body (as read before the
 * decision) and the caller's impersonation headers join the window's key; a body Warden did not read gets a key no
 * other request has, so a window never covers a write Warden could not see.
 */
export class KubernetesAnalysisState implements AnalysisState {
  remember(): void {}

  keyAlso(command: Command): string[] {
    const attributes = (command.attributes ?? {}) as KubeCommandAttributes;
    const body = attributes.bodyUnread === 'true' ? `unread:${randomUUID()}`
      : attributes.body === undefined ? '' : `sha256:${createHash('sha256').update(attributes.body).digest('hex')}`;
    return [body, attributes.impersonate ?? ''];
  }
}

/** The kubernetes protocol without a shell analyser (exec commands are `unknown`); builtin.ts wires the real one. */
export const kubernetesProtocol: ProtocolDefinition = createKubernetesProtocol();

/** The Kubernetes credentials of a kubernetes target's session; anything else is an internal error (fail closed). */
export function kubernetesCredentials(credentials: Credentials): KubernetesCredentials {
  if (!('token' in credentials) || !('clientKey' in credentials)) {
    throw new WardenError('WARDEN_ERR_INTERNAL', 'not the credentials of a kubernetes target', { public: false });
  }
  return credentials;
}
