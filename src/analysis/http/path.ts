/**
 * Path normalisation of HTTP requests (issue 14): the path Warden judges is exactly the path the upstream receives.
 * Percent-escapes of unreserved characters are decoded, others kept with upper-case hex; an encoded `/` or `\`, a
 * raw `\`, NUL or control characters and bad escapes are refused; `//` collapses; `.` and `..` are resolved and `..`
 * above the root is refused. Pure.
 *
 * INTERIM (helper hb): a minimal version with the agreed signature until helper ha's lands on this path.
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** The path Warden forwards and judges, or why the request is refused (400). */
export function normaliseHttpPath(raw: string): { path: string } | { refusal: string } {
  if (/[\\\0-\x1f\x7f]/.test(raw)) return { refusal: 'the path holds a backslash or a control character' };
  let decoded = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== '%') {
      decoded += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { refusal: 'the path holds a bad percent-escape' };
    const ch = String.fromCharCode(parseInt(hex, 16));
    if (ch === '/' || ch === '\\') return { refusal: 'the path holds an encoded slash or backslash' };
    if (/[\0-\x1f\x7f]/.test(ch)) return { refusal: 'the path holds an encoded control character' };
    decoded += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  const out: string[] = [];
  const segments = decoded.split('/');
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (segment === '' && !last) continue;
    if (segment === '.') {
      if (last) out.push('');
      continue;
    }
    if (segment === '..') {
      if (out.length === 0) return { refusal: 'the path climbs above its root with ..' };
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return { path: `/${out.join('/')}` };
}
