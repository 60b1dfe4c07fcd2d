/**
 * `warden login`'s conversation with the identity provider, as a public client (the provider's `cliClientId`) with
 * PKCE: the authorization code flow with a loopback redirect (RFC 8252: a one-shot listener on 127.0.0.1 and a
 * random port), the device authorization grant (RFC 8628), the refresh_token grant, and the exchange of the
 * resulting id_token for a Warden token at `POST /api/auth/oidc/exchange`. Plain http is used only with a loopback
 * provider. It must never print a token, a code or a refresh token: only URLs and the device's user code.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { ApiClient } from './client.js';
import { CliError, type Io } from './common.js';
import { needsRefresh, readCredentials, withCredentialsLock, writeCredentials, type StoredCredentials } from './credentials.js';

/** How long `warden login` waits for the browser to come back. */
const BROWSER_TIMEOUT_MS = 5 * 60_000;

/** A provider as `GET /api/auth/providers` describes it. */
export interface ProviderInfo {
  name: string;
  type: 'oidc' | 'saml';
  issuer?: string;
  clientId?: string;
  scopes?: string[];
}

/** What Warden answers to an id_token exchange. */
export interface ExchangedToken {
  token: string;
  expiresAt: string;
  user: string;
  groups: string[];
}

/** What the provider gave at the end of a flow. */
export interface ProviderTokens {
  idToken: string;
  refreshToken: string | null;
}

const isLoopback = (host: string) => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(host);

/** The provider's configuration for the public client `clientId` (http allowed for a loopback issuer only). */
export async function discoverPublicClient(issuer: string, clientId: string, timeoutSeconds = 30): Promise<client.Configuration> {
  const url = new URL(issuer);
  const insecure = url.protocol === 'http:' && isLoopback(url.hostname);
  try {
    return await client.discovery(url, clientId, undefined, client.None(),
      { execute: insecure ? [client.allowInsecureRequests] : [], timeout: timeoutSeconds });
  } catch (err) {
    throw new CliError(`cannot reach the identity provider at ${issuer}: ${reason(err)}`);
  }
}

/** A token-free description of an openid-client failure. */
function reason(err: unknown): string {
  if (err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) {
    return `${err.error}${err.error_description ? ` (${err.error_description})` : ''}`;
  }
  const cause = (err as { cause?: { code?: string } })?.cause?.code;
  return `${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ''}`;
}

/** The scopes to ask for: the provider's, plus offline_access when the provider offers it (for a refresh token). */
function scopesFor(config: client.Configuration, scopes: string[]): string {
  const wanted = new Set(scopes.length > 0 ? scopes : ['openid']);
  if (config.serverMetadata().scopes_supported?.includes('offline_access')) wanted.add('offline_access');
  return [...wanted].join(' ');
}

/** Opens `url` in the desktop's browser; failures are ignored (the URL is printed anyway). */
function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : 'xdg-open';
  try {
    const child = spawn(command, [url], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No opener on this machine: the printed URL is the way.
  }
}

/** A tiny page for the browser tab that comes back to the loopback listener. */
function answer(res: http.ServerResponse, status: number, message: string): void {
  const text = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Warden</title></head><body><p>${text}</p></body></html>\n`);
}

/**
 * The authorization code flow with a loopback redirect. `finish` turns the provider's tokens into the message the
 * browser tab shows (it runs while the tab waits, so the tab tells the truth about the whole sign-in).
 */
export async function codeFlow(provider: ProviderInfo, io: Io, options: { browser: boolean },
  finish: (tokens: ProviderTokens) => Promise<string>): Promise<void> {
  const config = await discoverPublicClient(provider.issuer!, provider.clientId!);
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: scopesFor(config, provider.scopes ?? []), response_type: 'code', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    io.stderr(`To sign in with ${provider.name}, open this URL in a browser:\n  ${url.href}\n`);
    if (options.browser) openBrowser(url.href);
    const { callback, res } = await waitForCallback(server, redirectUri, state);
    try {
      const tokens = await client.authorizationCodeGrant(config, callback,
        { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
      if (tokens.id_token === undefined) throw new CliError('the identity provider returned no id_token');
      answer(res, 200, await finish({ idToken: tokens.id_token, refreshToken: tokens.refresh_token ?? null }));
    } catch (err) {
      const message = err instanceof CliError ? err.message : `the identity provider refused the sign-in: ${reason(err)}`;
      answer(res, 400, `Sign-in failed: ${message}`);
      throw err instanceof CliError ? err : new CliError(message);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** Waits for the browser to come back to `/callback` with our state (other requests are answered and ignored). */
function waitForCallback(server: http.Server, redirectUri: string, state: string): Promise<{ callback: URL; res: http.ServerResponse }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CliError('no answer from the browser within 5 minutes')), BROWSER_TIMEOUT_MS);
    server.on('request', (req, res) => {
      // The redirect URI itself plus the query: the token request must repeat exactly the URI the provider saw.
      const callback = new URL(req.url ?? '/', redirectUri);
      if (callback.pathname !== '/callback') return answer(res, 404, 'Not found.');
      if (callback.searchParams.get('state') !== state) {
        return answer(res, 400, 'This is not the sign-in `warden login` is waiting for.');
      }
      clearTimeout(timer);
      resolve({ callback, res });
    });
  });
}

/** The device authorization grant: prints where to go and the code to enter, then polls until the person is done. */
export async function deviceFlow(provider: ProviderInfo, io: Io): Promise<ProviderTokens> {
  const config = await discoverPublicClient(provider.issuer!, provider.clientId!);
  let tokens: client.TokenEndpointResponse;
  try {
    const device = await client.initiateDeviceAuthorization(config, { scope: scopesFor(config, provider.scopes ?? []) });
    io.stderr(`To sign in with ${provider.name}, open ${device.verification_uri} in a browser and enter the code:\n`
      + `  ${device.user_code}\n${device.verification_uri_complete ? `(or open ${device.verification_uri_complete})\n` : ''}`
      + 'Waiting for the sign-in to finish...\n');
    tokens = await client.pollDeviceAuthorizationGrant(config, device);
  } catch (err) {
    throw new CliError(`device sign-in failed: ${reason(err)}`);
  }
  if (tokens.id_token === undefined) throw new CliError('the identity provider returned no id_token');
  return { idToken: tokens.id_token, refreshToken: tokens.refresh_token ?? null };
}

/** Exchanges an id_token for a Warden token at `url`. */
export function exchangeIdToken(url: string, idToken: string): Promise<ExchangedToken> {
  return new ApiClient({ url }).request<ExchangedToken>('POST', '/api/auth/oidc/exchange', { idToken }, { anonymous: true });
}

/**
 * Refreshes the stored login when its Warden token ends within 5 minutes: the provider's refresh_token grant, then
 * the new id_token exchanged at Warden. Serialised by the credentials lock; the rotated refresh token is saved
 * before anything else can fail, since the old one is spent.
 */
export async function refreshStoredLogin(io: Io | Pick<Io, 'env'>): Promise<StoredCredentials> {
  return withCredentialsLock(io, async () => {
    const current = readCredentials(io);
    if (current === undefined) throw new CliError('not signed in: run `warden login`');
    if (!needsRefresh(current)) return current; // another process refreshed it while we waited for the lock
    if (current.refreshToken === null) {
      throw new CliError('your Warden sign-in has expired and the provider gave no refresh token: run `warden login`');
    }
    const config = await discoverPublicClient(current.issuer, current.clientId);
    let tokens: client.TokenEndpointResponse;
    try {
      tokens = await client.refreshTokenGrant(config, current.refreshToken);
    } catch (err) {
      throw new CliError(`the identity provider refused to refresh your sign-in (${reason(err)}): run \`warden login\``);
    }
    const refreshed = { ...current, refreshToken: tokens.refresh_token ?? current.refreshToken };
    writeCredentials(io, refreshed);
    if (tokens.id_token === undefined) throw new CliError('the identity provider returned no id_token on refresh: run `warden login`');
    const exchanged = await exchangeIdToken(current.url, tokens.id_token);
    const next = { ...refreshed, token: exchanged.token, expiresAt: exchanged.expiresAt, user: exchanged.user, groups: exchanged.groups };
    writeCredentials(io, next);
    return next;
  });
}

/** Revokes the stored refresh token at the provider, best effort and briefly (sign-out must not hang on it). */
export async function revokeRefreshToken(credentials: StoredCredentials): Promise<boolean> {
  if (credentials.refreshToken === null) return false;
  try {
    const config = await discoverPublicClient(credentials.issuer, credentials.clientId, 5);
    if (config.serverMetadata().revocation_endpoint === undefined) return false;
    config.timeout = 5;
    await client.tokenRevocation(config, credentials.refreshToken, { token_type_hint: 'refresh_token' });
    return true;
  } catch {
    return false;
  }
}
