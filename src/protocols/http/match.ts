/**
 * What the HTTP policy match keys mean for one analysed request (src/analysis/http/analyse.ts sets the attributes),
 * with the object semantics of the other protocols: a deny or require_approval rule (restrictive) holds when the
 * request MAY match; an allow rule (permissive) only when everything it establishes matches. A request the analyser
 * could not read (no attributes) may be anything: restrictive rules hold, allow rules fail.
 *
 * - `methods`: method names, case-insensitive, globs (`*` any method).
 * - `paths`: globs on the normalised path (src/analysis/http/path.ts: what the upstream receives), by segments: `*`
 *   is one non-empty segment (or part of one: `inv-*`), `?` one character other than `/`, `**` any number of
 *   segments (`/v1/**` is `/v1` and everything below it). Restrictive rules match case-insensitively, also the
 *   percent-decoded path, the path without `;params` in its segments and without its trailing slash (an upstream
 *   may read `/ADMIN/`, `/%41dmin`, `/admin;x=1` or `/admin/` as `/admin`); allow rules match the path exactly as
 *   it is forwarded.
 * - `query`: globs on the parameter names (decoded). Restrictive: some name matches (case-insensitively); allow: the
 *   request has at least one parameter and every name matches (as written).
 * - `jsonBody`: field selector → value. A selector is a dotted path of keys from the top of the body (`role`,
 *   `user.role`), optionally written `$.user.role`; `*` is any one key, `**` any number of keys (`**.role` is a `role`
 *   at any depth); arrays are transparent (`users.role` reads every element of `users`; `users[*].role` and
 *   `users[0].role` say the same). The value is a JSON scalar the field must have; `'*'` means the field is present
 *   with any value. A body sending a field twice has both values (JSON.parse keeps the last, an upstream may read
 *   the first). Restrictive: some field the selector may name (keys compared case-insensitively, as Go's
 *   encoding/json reads them) has the value (strings compared case-insensitively and trimmed, scalars by their text:
 *   `true` is `"true"`), and a body Warden did not read (`body: unread`, not JSON) always may. Allow: the body was
 *   read as JSON, the selector names at least one field, and every field it may name (same case-insensitive reading)
 *   has exactly the value. Several entries must all hold. A request without a body has no fields.
 * Pure; compiled patterns cached.
 */
import { z } from 'zod';
import type { HttpUnitDetail } from '../../analysis/http/analyse.js';
import type { JsonField, JsonFieldValue } from '../../analysis/http/json-body.js';
import { globMatch } from '../../policy/glob.js';
import type { AnalysedUnit, MatchConditions } from '../../session/protocol.js';

const globs = z.array(z.string().min(1)).min(1);
const SELECTOR = /^(?:\$\.?)?(?:\*\*|\*|[^.[\]*]+)(?:\[(?:\*|\d+)\])*(?:\.(?:\*\*|\*|[^.[\]*]+)(?:\[(?:\*|\d+)\])*)*$/;

/** The HTTP match keys and the schema of each value. */
export const HTTP_MATCH_KEYS = {
  methods: globs,
  paths: globs,
  query: globs,
  jsonBody: z.record(z.string().min(1).max(512).regex(SELECTOR, 'must be a field selector: role, user.role, items[*].id, **.role'),
    z.union([z.string(), z.number(), z.boolean(), z.null()])).refine((v) => Object.keys(v).length > 0, 'must name a field'),
} as const;

/** The HTTP match conditions of a rule. */
export interface HttpMatch {
  methods?: readonly string[];
  paths?: readonly string[];
  query?: readonly string[];
  jsonBody?: Readonly<Record<string, string | number | boolean | null>>;
}

/** True when the HTTP conditions of `match` hold for `unit` (one request). */
export function httpUnitMatches(conditions: MatchConditions, unit: AnalysedUnit, restrictive: boolean): boolean {
  const match = conditions as HttpMatch;
  const { attributes } = unit;
  if (match.methods && !holds(match.methods, attributes.methods, restrictive, restrictive ? methodMayBe : methodIs)) return false;
  if (match.paths && !holds(match.paths, attributes.paths, restrictive, restrictive ? pathMayBe : pathIs)) return false;
  if (match.query && !holds(match.query, attributes.query, restrictive, restrictive ? nameMayBe : globMatch)) return false;
  if (match.jsonBody && !bodyHolds(match.jsonBody, unit.detail as HttpUnitDetail | undefined, restrictive)) return false;
  return true;
}

type Test = (pattern: string, value: string) => boolean;

function holds(patterns: readonly string[], values: readonly string[] | undefined, restrictive: boolean, test: Test): boolean {
  if (values === undefined) return restrictive;
  if (restrictive) return values.some((value) => patterns.some((pattern) => test(pattern, value)));
  return values.length > 0 && values.every((value) => patterns.some((pattern) => test(pattern, value)));
}

function methodIs(pattern: string, method: string): boolean {
  return globMatch(pattern.toUpperCase(), method.toUpperCase());
}

/**
 * A restrictive method rule also holds for HEAD when it names GET: most frameworks run a GET's handler for a HEAD
 * (and send its headers), so `deny methods: [GET]` must not be stepped around with HEAD.
 */
function methodMayBe(pattern: string, method: string): boolean {
  return methodIs(pattern, method) || (method.toUpperCase() === 'HEAD' && methodIs(pattern, 'GET'));
}

/**
 * A restrictive query rule also holds for the name without a trailing `[...]` (PHP, Rails and qs read `debug[]=1`
 * and `debug[x]=1` as parameter `debug`).
 */
function nameMayBe(pattern: string, name: string): boolean {
  const lower = pattern.toLowerCase();
  const bare = name.replace(/\[[^\]]*\].*$/s, '');
  return globMatch(lower, name.toLowerCase()) || (bare !== '' && globMatch(lower, bare.toLowerCase()));
}

const compiled = new Map<string, RegExp>();

/** The RegExp of a path glob (segments: `*` within one, `**` any number of them); `i` for case-insensitive. */
function pathRegExp(pattern: string, flags: '' | 'i'): RegExp {
  const key = `${flags}\u0000${pattern}`;
  let re = compiled.get(key);
  if (re) return re;
  const segments = pattern.split('/');
  let body = '';
  segments.forEach((segment, k) => {
    if (segment === '**') {
      // `/a/**` is `/a` and below; `**/b` (no leading slash) any prefix; a middle `/**/` zero or more segments.
      body += k === 0 ? (segments.length === 1 ? '.*' : '(?:[^/]*(?:/[^/]*)*)?') : '(?:/.*)?';
      return;
    }
    const part = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+').replace(/\?/g, '[^/]');
    body += k === 0 ? part : `/${part}`;
  });
  // Consecutive `**` segments or `/**/` in the middle: `(?:/.*)?` followed by `/x` covers zero or more segments.
  re = new RegExp(`^${body}$`, `s${flags}`);
  compiled.set(key, re);
  return re;
}

/** An allow rule's path: the forwarded path as it is. */
function pathIs(pattern: string, path: string): boolean {
  return pathRegExp(pattern, '').test(path);
}

/** A restrictive rule's path: also the path as a lenient upstream may read it. */
function pathMayBe(pattern: string, path: string): boolean {
  const re = pathRegExp(pattern, 'i');
  for (const form of readings(path)) if (re.test(form)) return true;
  return false;
}

function readings(path: string): string[] {
  const forms = [path];
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // The normaliser only lets UTF-8 escapes through; keep the encoded form alone otherwise.
  }
  if (decoded !== path) forms.push(decoded);
  // Servlet containers drop `;params` of a segment (`/admin;x=1/users` is `/admin/users` to them).
  for (const form of [...forms]) if (form.includes(';')) forms.push(form.replace(/;[^/]*/g, ''));
  for (const form of [...forms]) if (form.length > 1 && form.endsWith('/')) forms.push(form.slice(0, -1));
  return forms;
}

/** A parsed selector: keys, `*` (any one key) and `**` (any number of keys). */
function selectorKeys(selector: string): string[] {
  const plain = selector.replace(/^\$\.?/, '').replace(/\[(?:\*|\d+)\]/g, '');
  const keys: string[] = [];
  for (const key of plain.split('.')) if (key !== '**' || keys.at(-1) !== '**') keys.push(key);
  return keys;
}

const selectors = new Map<string, string[]>();

/** True when `path` (the keys of a field) is a field `selector` names; keys compared case-insensitively when `loose`. */
export function selectorMatches(selector: string, path: readonly string[], loose: boolean): boolean {
  let keys = selectors.get(selector);
  if (!keys) {
    keys = selectorKeys(selector);
    selectors.set(selector, keys);
  }
  // reach[j]: the first j path keys are matched by the selector keys seen so far.
  let reach = new Array<boolean>(path.length + 1).fill(false);
  reach[0] = true;
  for (const key of keys) {
    const next = new Array<boolean>(path.length + 1).fill(false);
    if (key === '**') {
      let any = false;
      for (let j = 0; j <= path.length; j++) next[j] = any = any || reach[j];
    } else {
      for (let j = 1; j <= path.length; j++) {
        next[j] = reach[j - 1] && (key === '*' || (loose ? foldKey(key) === foldKey(path[j - 1]) : key === path[j - 1]));
      }
    }
    reach = next;
  }
  return reach[path.length];
}

type Expected = string | number | boolean | null;

function bodyHolds(conditions: Readonly<Record<string, Expected>>, detail: HttpUnitDetail | undefined, restrictive: boolean): boolean {
  // No detail: the analyser could not read the request at all.
  if (detail === undefined || detail.body === 'unread') return restrictive;
  const fields: readonly JsonField[] = detail.body === 'json' ? detail.fields : [];
  for (const [selector, expected] of Object.entries(conditions)) {
    const named = fields.filter((field) => selectorMatches(selector, field.path, true));
    if (restrictive) {
      if (!named.some((field) => valueMayBe(expected, field.value))) return false;
    } else if (named.length === 0 || !named.every((field) => valueIs(expected, field.value))) return false;
  }
  return true;
}

function valueIs(expected: Expected, value: JsonFieldValue): boolean {
  if (expected === '*') return true;
  return (typeof value !== 'object' || value === null) && value === expected;
}

function valueMayBe(expected: Expected, value: JsonFieldValue): boolean {
  if (expected === '*') return true;
  if (typeof value === 'object' && value !== null) return false;
  if (value === expected) return true;
  return String(value).trim().toLowerCase() === String(expected).trim().toLowerCase();
}

/**
 * A member name as case-insensitive JSON decoders compare it: lower-cased, with the two characters Go's
 * encoding/json also folds into ASCII letters (U+017F long s to `s`, U+212A Kelvin sign to `k`), so `{"iſ_admin":
 * true}` is `is_admin` to a restrictive rule as it is to a Go upstream.
 */
function foldKey(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's').replace(/\u212a/g, 'k');
}
