/**
 * The http protocol as the shared pipeline sees it: its command classes, its target fields, its policy match keys
 * (`methods`, `paths`, `query`, `jsonBody`; semantics in match.ts) and its analyser (one request to its method,
 * normalised path, query keys, JSON body fields and classes; src/analysis/http). Registered by the server; the
 * pipeline reaches it only through the ProtocolRegistry. Pure: no I/O.
 *
 * A command is one request: `kind` `request`, `text`
 * `METHOD /path?query` with the path normalised exactly as it is forwarded (relative to the target's URL: what the
 * caller sent after `/t/<target>`, or the whole path on a host-name route), and `attributes` what the engine knows
 * from headers and body (see HttpCommandAttributes).
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { analyseHttpRequest, unknownHttpAnalysis } from '../../analysis/http/analyse.js';
import { WardenError } from '../../errors.js';
import type { AnalysisState, ProtocolDefinition } from '../../session/protocol.js';
import type { Command, Credentials, HttpCredentials } from '../../session/types.js';
import { HTTP_MATCH_KEYS, httpUnitMatches } from './match.js';
import { HTTP_SECRETS_AGAIN, httpRedirects, httpTargetView } from './target-fields.js';

/** Classes an HTTP request can have (issue 14), plus `unknown` for what the analyser cannot judge. */
export const HTTP_CLASSES = ['read', 'write', 'destructive', 'unknown'] as const;

/**
 * What the engine puts in `Command.attributes` for a request besides its method, path and query (all optional):
 * - `body`: the JSON text of the request's body when it is JSON and at most the engine's limit;
 * - `bodyUnread`: `'true'` when a body was sent but not read as JSON (too large, another content type, bad JSON), so
 *   the analyser must assume the worst of it (`jsonBody` deny and approval rules hold, allow rules fail);
 * - `contentType`: the request's Content-Type (recorded);
 * - `upgrade`: `'websocket'` for a WebSocket upgrade: the caller may then send anything on it, so it is judged as
 *   `read` and `write` (its messages are recorded and masked, not judged one by one).
 */
export interface HttpCommandAttributes {
  body?: string;
  bodyUnread?: 'true';
  contentType?: string;
  upgrade?: 'websocket';
}

const pem = z.string().min(1).max(1_000_000);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers Warden sets or strips itself on every upstream request (the credential, Host, framing, hop-by-hop): a
 * static header may not name them (`auth` carries a credential, `hostHeader` the Host).
 */
export const RESERVED_STATIC_HEADERS: ReadonlySet<string> = new Set(['host', 'authorization', 'proxy-authorization', 'cookie',
  'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-connection', 'expect']);

/** Why `name` cannot be a static header of an http target, or undefined when it can. */
export function staticHeaderRefusal(name: string): string | undefined {
  if (name.length > 128 || !HEADER_NAME.test(name)) return `"${name}" must be an HTTP header name`;
  if (RESERVED_STATIC_HEADERS.has(name.toLowerCase())) {
    return `${name} is set by Warden itself (auth carries a credential, hostHeader the Host)`;
  }
  return undefined;
}

/** How the vaulted secret is injected upstream. */
export const httpAuthSchema = z.string().refine(
  (v) => v === 'none' || v === 'bearer' || v === 'basic' || /^(header|query):[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(v),
  'must be none, bearer, basic, header:NAME or query:NAME',
);

/** The fields of an http target besides name, type and labels. */
export const httpTargetSpec = z.strictObject({
  url: z.string().url().max(2048).refine((url) => /^https?:\/\//.test(url) && !/[?#]/.test(url), 'must be an http:// or https:// URL without query or fragment')
    // The URL is shown by the API: a credential belongs in the vault (auth basic), never in the URL's user info.
    .refine((url) => !/^https?:\/\/[^/]*@/.test(url), 'must not hold a user or password (use --auth basic with --secret-stdin)'),
  caCert: pem.nullable(),
  auth: httpAuthSchema,
  hostHeader: z.string().min(1).max(255).nullable(),
  headers: z.record(z.string(), z.string().max(8192).refine((v) => !/[\r\n\0]/.test(v), 'must not hold CR, LF or NUL'))
    .superRefine((headers, ctx) => {
      for (const name of Object.keys(headers)) {
        const why = staticHeaderRefusal(name);
        if (why !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: why });
      }
    }),
  clientCert: pem.nullable(),
});

/** The http protocol. A command of another kind than `request` is `unknown`. */
export function createHttpProtocol(): ProtocolDefinition {
  return {
    name: 'http',
    commandKind: 'request',
    unitsNoun: 'requests',
    classes: HTTP_CLASSES,
    targetSpec: httpTargetSpec,
    secretFields: ['secret', 'clientKey'],
    matchKeys: HTTP_MATCH_KEYS,
    unitMatches: (match, unit, _cls, restrictive) => httpUnitMatches(match, unit, restrictive),
    targetView: httpTargetView,
    redirects: httpRedirects,
    secretsAgain: HTTP_SECRETS_AGAIN,
    analyse(command) {
      if (command.kind !== 'request') {
        return unknownHttpAnalysis(command.text, `an http command of kind "${command.kind}" is not a request`);
      }
      return analyseHttpRequest(command.text, (command.attributes ?? {}) as HttpCommandAttributes);
    },
    newState: () => new HttpAnalysisState(),
  };
}

/**
 * An HTTP session's analysis state: nothing is kept between requests, but an approval window must cover only the
 * very request approved, so the body joins the window's key (a body Warden did not read gets a key no other request
 * has).
 */
export class HttpAnalysisState implements AnalysisState {
  remember(): void {}

  keyAlso(command: Command): string[] {
    const attributes = (command.attributes ?? {}) as HttpCommandAttributes;
    // The Content-Type (and so a Content-Encoding the engine judged unread) joins the key: the same bytes sent as
    // another type may be read otherwise by the upstream.
    return [attributes.bodyUnread === 'true' ? `unread:${randomUUID()}`
      : attributes.body === undefined ? '' : `sha256:${createHash('sha256').update(attributes.body).digest('hex')}`,
    attributes.contentType ?? ''];
  }
}

/** The built-in http protocol. */
export const httpProtocol: ProtocolDefinition = createHttpProtocol();

/** The HTTP credentials of an http target's session; anything else is an internal error (fail closed). */
export function httpCredentials(credentials: Credentials): HttpCredentials {
  if (!('secret' in credentials) || !('clientKey' in credentials)) {
    throw new WardenError('WARDEN_ERR_INTERNAL', 'not the credentials of an http target', { public: false });
  }
  return credentials;
}
