/**
 * A real OpenID Provider for tests: `oidc-provider` on a free loopback port, with the clients Warden needs (a
 * confidential portal client, public CLI clients with loopback redirects, the device grant and refresh tokens),
 * accounts whose `groups` claim comes from a `groups` scope, and its own RS256 signing key (exposed so tests can also
 * sign hostile id_tokens with the provider's real key). Its sign-in pages are the development interactions
 * (a login form that takes any password, then a consent form); `completeSignIn` drives them, and the device pages,
 * with a TestBrowser. Owns its HTTP server only; `stop` closes it and every connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { findForm, type Page, type TestBrowser } from './browser.js';

/** A person the provider knows; `id` is the login name typed into its form and the `sub`. */
export interface IdpAccount {
  id: string;
  email?: string;
  /** The `email_verified` claim as the provider sends it (some send the string "false"). */
  emailVerified?: boolean | string;
  name?: string;
  preferredUsername?: string;
  /** Provider-side group names, released with the `groups` scope. */
  groups?: string[];
}

/** The portal client's id (confidential: it has a secret). */
export const PORTAL_CLIENT_ID = 'warden-portal';
/** The CLI client's id (public, native: loopback redirects, device grant). */
export const CLI_CLIENT_ID = 'warden-cli';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Client metadata of a confidential web client redirecting to `redirectUris`. */
export function portalClient(redirectUris: string[], secret: string, clientId = PORTAL_CLIENT_ID): Record<string, unknown> {
  return {
    client_id: clientId, client_secret: secret, redirect_uris: redirectUris, application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
  };
}

/** Client metadata of a public native client (any loopback port, RFC 8252) that may also use the device grant. */
export function cliClient(clientId = CLI_CLIENT_ID): Record<string, unknown> {
  return {
    client_id: clientId, application_type: 'native', token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback'], response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
  };
}

/** A running provider. */
export interface TestIdp {
  issuer: string;
  /** The provider's signing key, so tests can forge tokens the real JWKS would accept. */
  signingKey: { kid: string; alg: 'RS256'; privateKey: CryptoKey };
  stop(): Promise<void>;
}

/** Options of startIdp. */
export interface StartIdpOptions {
  accounts: IdpAccount[];
  clients: Record<string, unknown>[];
  /** Lifetimes in seconds (defaults are generous: tests never race them). */
  ttl?: { accessToken?: number; idToken?: number; refreshToken?: number };
}

const SCOPE_CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username'],
  groups: ['groups'],
};

/** Starts the provider on 127.0.0.1 with a port chosen by the kernel (the issuer URL carries it). */
export async function startIdp(options: StartIdpOptions): Promise<TestIdp> {
  // Listen first, so the issuer (which must name the port) is known without racing another process for a port.
  let handler: http.RequestListener = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `test-${randomBytes(6).toString('hex')}`;
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const accounts = new Map(options.accounts.map((a) => [a.id, a]));
  const ttl = options.ttl ?? {};
  const provider = new Provider(issuer, {
    clients: options.clients,
    jwks: { keys: [jwk] },
    claims: SCOPE_CLAIMS,
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    // Put the scope claims into the id_token itself: Warden reads the id_token, never the userinfo endpoint.
    conformIdTokenClaims: false,
    findAccount: async (_ctx: unknown, id: string) => {
      const account = accounts.get(id);
      if (account === undefined) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id, email: account.email, email_verified: account.emailVerified ?? (account.email !== undefined ? true : undefined),
          name: account.name, preferred_username: account.preferredUsername, groups: account.groups,
        }),
      };
    },
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true }, revocation: { enabled: true } },
    // Refresh tokens for every client allowed the grant, without the offline_access + prompt=consent dance.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(grant: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    ttl: {
      AccessToken: ttl.accessToken ?? 600, IdToken: ttl.idToken ?? 600, RefreshToken: ttl.refreshToken ?? 86_400,
      AuthorizationCode: 120, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 86_400,
    },
  });
  // The provider reports client and server errors as events; without listeners they would be printed as noise.
  provider.on('server_error', () => {});
  handler = provider.callback();
  return {
    issuer,
    signingKey: { kid, alg: 'RS256', privateKey },
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** What to type into the provider's pages. */
export interface SignInAnswers {
  /** The account id typed into the login form. */
  login: string;
  /** The device flow's user code, typed into the device page. */
  userCode?: string;
}

/**
 * Opens `startUrl` in `browser` and answers every provider page on the way (login form, consent form, the device
 * code input and confirmation), following redirects, until a page that is none of them: that page is returned
 * (the CLI's loopback answer, Warden's portal, the device success page or an error page).
 */
export async function completeSignIn(browser: TestBrowser, startUrl: string, answers: SignInAnswers): Promise<Page> {
  let page = await browser.open(startUrl);
  for (let step = 0; step < 12; step++) {
    const login = findForm(page, (f) => 'login' in f.fields || f.inputs.includes('login'));
    const consent = findForm(page, (f) => f.fields.prompt === 'consent');
    const deviceInput = findForm(page, (f) => f.id === 'op.deviceInputForm');
    const deviceConfirm = findForm(page, (f) => f.id === 'op.deviceConfirmForm');
    if (login) page = await browser.submit(login, { login: answers.login, password: 'any' });
    else if (consent) page = await browser.submit(consent, {});
    else if (deviceInput) {
      if (answers.userCode === undefined) throw new Error('the provider asks for a user code but none was given');
      page = await browser.submit(deviceInput, { user_code: answers.userCode });
    } else if (deviceConfirm) page = await browser.submit(deviceConfirm, {});
    else return page;
  }
  throw new Error(`sign-in did not finish; last page ${page.url}:\n${page.body.slice(0, 2000)}`);
}
