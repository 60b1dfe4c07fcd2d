/**
 * The "browser" of the sign-in tests (no Chromium here): an HTTP client that keeps cookies like a browser (per host,
 * path-scoped, Max-Age honoured), follows redirects (303 and 302 after a POST become GETs) and submits HTML forms
 * with their hidden fields. It runs no scripts, which the provider's pages and Warden's portal do not need.
 */

/** A page the browser ended on. */
export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

/** One HTML form of a page. */
export interface Form {
  id?: string;
  /** Absolute URL the form posts to. */
  action: string;
  method: 'GET' | 'POST';
  /** Inputs that carry a value (hidden fields, prefilled text). */
  fields: Record<string, string>;
  /** The names of every input. */
  inputs: string[];
}

interface Cookie { name: string; value: string; host: string; path: string; expires: number }

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'", '#x27': "'", '#x2F': '/' };
const decode = (text: string) => text.replace(/&(#x?[0-9a-f]+|[a-z]+);/gi, (m, e: string) => ENTITIES[e] ?? (e.startsWith('#x')
  ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : m));

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1].toLowerCase()] = decode(m[2] ?? m[3]);
  return out;
}

/** Every form of `page`, with its action made absolute. */
export function forms(page: Page): Form[] {
  return [...page.body.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map((m) => {
    const attrs = attributes(m[1]);
    const fields: Record<string, string> = {};
    const inputs: string[] = [];
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributes(input[1]);
      if (a.name === undefined) continue;
      inputs.push(a.name);
      if (a.value !== undefined) fields[a.name] = a.value;
    }
    return {
      id: attrs.id, action: new URL(attrs.action ?? page.url, page.url).href,
      method: (attrs.method ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET', fields, inputs,
    };
  });
}

/** The first form of `page` that `match` accepts. */
export function findForm(page: Page, match: (form: Form) => boolean): Form | undefined {
  return forms(page).find(match);
}

/** A cookie-keeping, redirect-following HTTP client. */
export class TestBrowser {
  readonly #cookies: Cookie[] = [];
  /** When it accepts a URL about to be visited, navigation stops there: a page with status 0 and that URL. */
  intercept?: (url: string) => boolean;

  /** The value of cookie `name` for `url`, if the browser holds one. */
  cookie(url: string, name: string): string | undefined {
    return this.#matching(new URL(url)).find((c) => c.name === name)?.value;
  }

  /** GETs `url` and follows redirects to the final page. */
  open(url: string, init: { headers?: Record<string, string> } = {}): Promise<Page> {
    return this.#navigate(url, { method: 'GET', headers: init.headers });
  }

  /** Submits `form` with its own fields overridden by `values`; follows redirects. */
  submit(form: Form, values: Record<string, string>): Promise<Page> {
    const body = new URLSearchParams({ ...form.fields, ...values });
    if (form.method === 'GET') {
      const url = new URL(form.action);
      url.search = body.toString();
      return this.open(url.href);
    }
    return this.#navigate(form.action, { method: 'POST', body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  /** Sends one request (no redirect following) with the browser's cookies; stores the cookies it sets. */
  async fetch(url: string, init: { method: string; body?: string; headers?: Record<string, string> }): Promise<Page> {
    const target = new URL(url);
    const cookie = this.#matching(target).map((c) => `${c.name}=${c.value}`).join('; ');
    const res = await fetch(target, {
      method: init.method, body: init.body, redirect: 'manual',
      headers: { accept: 'text/html,application/json;q=0.9', ...(cookie ? { cookie } : {}), ...init.headers },
    });
    for (const header of res.headers.getSetCookie()) this.#store(target, header);
    return { url: target.href, status: res.status, headers: res.headers, body: await res.text() };
  }

  async #navigate(url: string, init: { method: string; body?: string; headers?: Record<string, string> }): Promise<Page> {
    let request = init;
    let current = url;
    for (let hop = 0; hop < 20; hop++) {
      if (this.intercept?.(current)) return { url: current, status: 0, headers: new Headers(), body: '' };
      const page = await this.fetch(current, request);
      const location = page.headers.get('location');
      if (page.status < 300 || page.status >= 400 || location === null) return page;
      current = new URL(location, current).href;
      // 307/308 repeat the request; every other redirect becomes a GET, as browsers do.
      if (page.status !== 307 && page.status !== 308) request = { method: 'GET' };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  #matching(url: URL): Cookie[] {
    const now = Date.now();
    return this.#cookies.filter((c) => c.host === url.hostname && c.expires > now
      && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
  }

  #store(url: URL, header: string): void {
    const [pair, ...attrs] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const cookie: Cookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), host: url.hostname,
      path: url.pathname.replace(/\/[^/]*$/, '') || '/', expires: Infinity };
    for (const attr of attrs) {
      const [key, ...rest] = attr.split('=');
      const value = rest.join('=').trim();
      const name = key.trim().toLowerCase();
      if (name === 'path' && value.startsWith('/')) cookie.path = value;
      else if (name === 'max-age') cookie.expires = Date.now() + Number(value) * 1000;
      else if (name === 'expires' && cookie.expires === Infinity) cookie.expires = Date.parse(value);
    }
    const i = this.#cookies.findIndex((c) => c.name === cookie.name && c.host === cookie.host && c.path === cookie.path);
    if (i >= 0) this.#cookies.splice(i, 1);
    if (cookie.expires > Date.now()) this.#cookies.push(cookie);
  }
}
