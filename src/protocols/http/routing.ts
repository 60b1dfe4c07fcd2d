/**
 * Which target a request is for and the path it reaches there. Two routes: the path prefix
 * `/t/<target>/<rest>` and the host name `<target>.<--http-domain>` (Host header, port ignored, case-insensitive;
 * the whole path is then the rest). The target segment must be a plain target name (no escapes), and the rest is
 * normalised by normaliseHttpPath (src/analysis/http/path.ts), so `/t/a/../b` and encoded slashes can never reach
 * another target or escape a path rule. Only origin-form request targets are served: absolute-form (`GET
 * http://x/...`, a proxy request) and asterisk-form are refused. Pure: no I/O.
 */
import { normaliseHttpPath } from '../../analysis/http/path.js';
import { WardenError } from '../../errors.js';

/** A plain target name, as the control API accepts it. */
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Where a request goes. */
export interface HttpRoute {
  target: string;
  /** How the target was named: the `/t/` prefix or the Host header. */
  via: 'prefix' | 'host';
  /** The normalised path as forwarded (relative to the target's URL), starting with `/`. */
  path: string;
  /** The caller's raw query string without `?` ('' when none). */
  query: string;
}

function bad(message: string): WardenError {
  return new WardenError('WARDEN_ERR_BAD_REQUEST', message);
}

/** The target a Host header names under `domain` (port dropped, case-insensitive), or undefined. */
export function hostTarget(host: string | undefined, domain: string | null): string | undefined {
  if (host === undefined || domain === null || domain === '') return undefined;
  const name = host.trim().toLowerCase().replace(/:\d*$/, '').replace(/\.$/, '');
  const suffix = `.${domain.toLowerCase().replace(/^\.|\.$/g, '')}`;
  if (!name.endsWith(suffix)) return undefined;
  const target = name.slice(0, -suffix.length);
  return target === '' ? undefined : target;
}

/** Routes one request (`url`: the request target as sent); throws WARDEN_ERR_BAD_REQUEST/NOT_FOUND when it cannot. */
export function routeRequest(url: string, host: string | undefined, domain: string | null): HttpRoute {
  if (!url.startsWith('/')) {
    throw bad('Warden is not a forward proxy: send the path only (http://WARDEN/t/<target>/...), not an absolute URL');
  }
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  let target = hostTarget(host, domain);
  let rest = rawPath;
  let via: HttpRoute['via'] = 'host';
  if (target === undefined) {
    const m = /^\/t\/([^/]*)(\/.*)?$/.exec(rawPath);
    if (m === null) {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', 'name a target: http://WARDEN/t/<target>/<path>'
        + (domain === null ? '' : ` or http://<target>.${domain}/<path>`));
    }
    target = m[1];
    rest = m[2] ?? '/';
    via = 'prefix';
  }
  if (!TARGET_NAME.test(target)) throw bad('the target name must be letters, digits, ".", "_" and "-" (no escapes)');
  const normalised = normaliseHttpPath(rest);
  if ('refusal' in normalised) throw bad(`the path was refused: ${normalised.refusal}`);
  if (/[\s#]/.test(query)) throw bad('the query holds a blank or a fragment');
  return { target, via, path: normalised.path, query };
}
