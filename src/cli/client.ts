/**
 * The CLI's client of the control API: where the server is (`--url`, `WARDEN_URL`, the URL of the stored login, the
 * port in the data dir's ports.json),
 * which token to present (`--token`, `WARDEN_TOKEN`, then the token `warden login` stored, refreshed first when it
 * is about to expire, then the admin.token file `warden start` writes) and one JSON request function that turns API
 * errors and network failures into CliErrors. It must never print or log the token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError, type Io } from './common.js';
import { needsRefresh, readCredentials, type StoredCredentials } from './credentials.js';

/** Where the control API listens unless told otherwise (the loopback default of `warden start`). */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** How long one request may take before the CLI gives up. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Where to reach the API and with which token. */
export interface Connection {
  url: string;
  token?: string;
  /** Where the token came from (`--token`, `$WARDEN_TOKEN`, the stored sign-in, the admin.token file), for status. */
  tokenSource?: string;
  /** Set when the token is a stored login about to expire: refreshes it (and the file) and returns the new one. */
  refresh?: () => Promise<string>;
}

/** The admin.token file of the data directory, the quick start's fallback credential. */
export function adminTokenPath(io: Pick<Io, 'env' | 'cwd'>): string {
  return join(resolve(io.cwd, io.env.WARDEN_DATA_DIR || '.warden'), 'admin.token');
}

/**
 * The control API's URL from `ports.json` in the data directory (`$WARDEN_DATA_DIR` or ./.warden), which
 * `warden start` writes with the ports it bound; undefined when there is no readable file. The API listens on
 * loopback unless told otherwise, and a wildcard listener answers there too.
 */
export function urlFromPortsFile(io: Pick<Io, 'env' | 'cwd'>): string | undefined {
  const file = join(resolve(io.cwd, io.env.WARDEN_DATA_DIR || '.warden'), 'ports.json');
  let ports: { api?: unknown; host?: unknown };
  try {
    ports = JSON.parse(readFileSync(file, 'utf8')) as { api?: unknown; host?: unknown };
  } catch {
    return undefined;
  }
  if (typeof ports.api !== 'number' || !Number.isInteger(ports.api) || ports.api < 1 || ports.api > 65535) return undefined;
  const host = typeof ports.host === 'string' && ports.host !== '' && ports.host !== '0.0.0.0' && ports.host !== '::'
    ? ports.host : '127.0.0.1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${ports.api}`;
}

/** Checks a URL given by flag or environment: it must name its scheme, else `localhost:8080` parses as a scheme. */
export function checkUrl(url: string): string {
  if (!/^https?:\/\//i.test(url)) {
    const hint = /^[\w.-]+(:\d+)?(\/.*)?$/.test(url) || url.startsWith('[') ? ` (e.g. http://${url})` : '';
    throw new CliError(`the Warden URL "${url}" needs http:// or https://${hint}`);
  }
  try {
    new URL(url);
  } catch {
    throw new CliError(`invalid Warden URL "${url}"`);
  }
  return url;
}

/** The stored login, when there is one for `url` (any URL when none was given); unreadable files are ignored. */
function storedLogin(url: string | undefined, io: Pick<Io, 'env'>): StoredCredentials | undefined {
  let stored: StoredCredentials | undefined;
  try {
    stored = readCredentials(io);
  } catch {
    return undefined; // `warden login` and `warden logout` report a broken file; other commands carry on without it
  }
  const trim = (u: string) => u.replace(/\/+$/, '');
  return stored !== undefined && (url === undefined || trim(url) === trim(stored.url)) ? stored : undefined;
}

/**
 * Resolves the URL (flag, environment, stored login, default) and the token (flag, environment, stored login for
 * that URL, then the admin.token file).
 */
export function resolveConnection(flags: { url?: string; token?: string }, io: Pick<Io, 'env' | 'cwd'>): Connection {
  const explicitUrl = flags.url || io.env.WARDEN_URL || undefined;
  // Tokens are pasted and read from files: surrounding whitespace is never part of one.
  let token = flags.token?.trim() || io.env.WARDEN_TOKEN?.trim() || undefined;
  const stored = token ? undefined : storedLogin(explicitUrl, io);
  const url = checkUrl((explicitUrl || stored?.url || urlFromPortsFile(io) || DEFAULT_URL).replace(/\/+$/, ''));
  if (!token && stored !== undefined) {
    const refresh = needsRefresh(stored)
      ? async () => (await (await import('./oidc-login.js')).refreshStoredLogin(io)).token : undefined;
    return { url, token: stored.token, refresh, tokenSource: 'the stored sign-in (warden login)' };
  }
  let tokenSource = flags.token?.trim() ? '--token' : token ? '$WARDEN_TOKEN' : undefined;
  if (!token) {
    const file = adminTokenPath(io);
    if (existsSync(file)) token = readFileSync(file, 'utf8').trim() || undefined;
    if (token) tokenSource = file;
  }
  return { url, token, tokenSource };
}

/** The error code of a failed fetch (ECONNREFUSED, ENOTFOUND, ...), looking through undici's wrapping. */
function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } })?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code;
}

/** The one message for a Warden that does not answer, with the network error's code (ECONNREFUSED, ...). */
export function unreachable(url: string, err: unknown): CliError {
  const code = networkCode(err);
  return new CliError(`cannot reach Warden at ${url}: is it running?${code ? ` (${code})` : ''}`);
}

/** Turns a non-2xx response into a CliError carrying the API's code and message. */
async function apiError(res: Response, url: string): Promise<CliError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.code === 'string' && typeof body.error.message === 'string') {
      return new CliError(body.error.message, body.error.code);
    }
  } catch {
    // Not JSON: probably not Warden answering; say so below.
  }
  return new CliError(`unexpected answer from ${url}: HTTP ${res.status} (is this a Warden control API?)`);
}

/** A small JSON client of the control API. */
export class ApiClient {
  constructor(readonly connection: Connection) {}

  /**
   * Sends one request; resolves to the parsed JSON body (undefined for 204), throws CliError otherwise. `anonymous`
   * requests (the public sign-in routes) carry no token. `accept` asks for another type (the body is then returned
   * as text, e.g. an asciicast file).
   */
  async request<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown,
    options: { anonymous?: boolean; accept?: string } = {}): Promise<T> {
    const { url } = this.connection;
    const token = options.anonymous ? undefined : await this.#token();
    if (!token && !options.anonymous) {
      throw new CliError(
        'no Warden token: pass --token, set WARDEN_TOKEN, or run `warden start` in this directory (it writes .warden/admin.token)',
      );
    }
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      if ((err as Error)?.name === 'TimeoutError') {
        throw new CliError(`Warden at ${url} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`);
      }
      throw unreachable(url, err);
    }
    if (!res.ok) throw await apiError(res, url);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (options.accept !== undefined) return text as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`unexpected answer from ${url}: not JSON (is this a Warden control API?)`);
    }
  }

  /** The token to present, refreshing a stored login first when it is about to expire (once per client). */
  async #token(): Promise<string | undefined> {
    const { refresh } = this.connection;
    if (refresh !== undefined) {
      this.connection.refresh = undefined;
      this.connection.token = await refresh();
    }
    return this.connection.token;
  }

  /** GET a JSON resource. */
  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** POST a JSON body. */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** PATCH with a JSON body (partial updates). */
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  /** DELETE a resource (204 expected). */
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }
}

/** Builds a client from a command's connection flags and the environment. */
export function clientFor(flags: { url?: string; token?: string }, io: Pick<Io, 'env' | 'cwd'>): ApiClient {
  return new ApiClient(resolveConnection(flags, io));
}

/** Encodes one path segment (target names are safe already; session ids from users may not be). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
