/**
 * The one spelling of a request path that Warden judges and forwards (issue 14). Policy `paths` rules match this
 * path and the upstream receives exactly it, so a path trick can neither slip past a rule nor reach another target:
 * - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, every other escape is kept with
 *   upper-case hex (`%c3%a9` → `%C3%A9`), and characters outside RFC 3986 path characters (raw non-ASCII, space,
 *   quotes) are encoded as UTF-8 escapes;
 * - `//` collapses to `/`; `.` and `..` segments (also spelled `%2e`) are resolved as RFC 3986 `remove_dot_segments`
 *   does (so `/a/.` is `/a/` and `/a/b/..` is `/a/`), and a trailing slash is kept;
 * - refused: `..` above the root (so `/t/a/../b` can never reach target b), an encoded `/` or `\` (`%2F`, `%5C`),
 *   a raw `\`, NUL and other control characters (raw or encoded), a bad escape (`%zz`, `%4`), escapes that are not
 *   UTF-8 once decoded (`%C0%AE` is an overlong `.` some servers still decode), segments `..;x` or `.;x` (servlet
 *   containers drop the `;x` and read them as dot segments), and paths longer than MAX_HTTP_PATH.
 * Pure, never throws.
 */

/** The longest raw path read, in characters; a longer one is refused. */
export const MAX_HTTP_PATH = 65_536;

/** The path Warden forwards and judges, or why the request is refused (400). */
export type NormalisedPath = { path: string } | { refusal: string };

// RFC 3986 pchar without '%' (handled apart): unreserved, sub-delims, ':' and '@'. Anything else is encoded.
const PCHAR = /[A-Za-z0-9\-._~!$&'()*+,;=:@]/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** `byte` as an upper-case percent-escape. */
function escapeByte(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * One segment (no `/` in it) in its canonical spelling, or a refusal. The escaped bytes of a run of escapes must
 * decode as UTF-8, so a multi-byte character split over escapes is checked whole.
 */
function canonicalSegment(raw: string): { text: string } | { refusal: string } {
  let out = '';
  let pending: number[] = [];
  const flush = (): string | undefined => {
    if (pending.length === 0) return undefined;
    try {
      utf8.decode(Uint8Array.from(pending));
    } catch {
      return 'the path has percent-escapes that are not UTF-8';
    }
    for (const byte of pending) {
      const ch = String.fromCharCode(byte);
      out += byte < 0x80 && UNRESERVED.test(ch) ? ch : escapeByte(byte);
    }
    pending = [];
    return undefined;
  };
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    const code = raw.charCodeAt(i);
    if (ch === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return { refusal: 'the path has a bad percent-escape' };
      const byte = parseInt(hex, 16);
      if (byte === 0x2f || byte === 0x5c) return { refusal: 'the path has an encoded "/" or "\\"' };
      if (byte < 0x20 || byte === 0x7f) return { refusal: 'the path has an encoded control character' };
      pending.push(byte);
      i += 2;
      continue;
    }
    const bad = flush();
    if (bad !== undefined) return { refusal: bad };
    if (ch === '\\') return { refusal: 'the path has a "\\"' };
    if (code < 0x20 || code === 0x7f) return { refusal: 'the path has a control character' };
    if (code < 0x80 && PCHAR.test(ch)) {
      out += ch;
      continue;
    }
    // Outside path characters: encode its UTF-8 bytes (a lone surrogate is not a character: refused).
    const point = raw.codePointAt(i)!;
    const text = String.fromCodePoint(point);
    if (point >= 0xd800 && point <= 0xdfff) return { refusal: 'the path has a lone UTF-16 surrogate' };
    for (const byte of encoder.encode(text)) out += escapeByte(byte);
    i += text.length - 1;
  }
  const bad = flush();
  if (bad !== undefined) return { refusal: bad };
  return { text: out };
}

/**
 * The path Warden forwards and judges, or why the request is refused (400). `raw` is the path after `/t/<target>`
 * (or the whole path on a host-name route), without the query; `''` is the root. The result starts with `/`.
 */
export function normaliseHttpPath(raw: string): NormalisedPath {
  if (typeof raw !== 'string') return { refusal: 'the path is not text' };
  if (raw.length > MAX_HTTP_PATH) return { refusal: `the path is longer than ${MAX_HTTP_PATH} characters` };
  if (raw === '') return { path: '/' };
  if (!raw.startsWith('/')) return { refusal: 'the path does not start with "/"' };
  const parts = raw.slice(1).split('/');
  const out: string[] = [];
  let trailingSlash = false;
  for (let k = 0; k < parts.length; k++) {
    const last = k === parts.length - 1;
    const segment = canonicalSegment(parts[k]);
    if ('refusal' in segment) return segment;
    const text = segment.text;
    if (text === '') {
      // `//` collapses; an empty last part is a trailing slash (kept, it can name another resource).
      if (last) trailingSlash = out.length > 0;
      continue;
    }
    if (/^\.\.?;/.test(text)) return { refusal: 'the path has a "." or ".." segment with a ";" parameter' };
    if (text === '.') {
      if (last) trailingSlash = out.length > 0;
      continue;
    }
    if (text === '..') {
      if (out.length === 0) return { refusal: 'the path climbs above its root ("..")' };
      out.pop();
      if (last) trailingSlash = out.length > 0;
      continue;
    }
    out.push(text);
    trailingSlash = false;
  }
  return { path: `/${out.join('/')}${trailingSlash ? '/' : ''}` };
}
