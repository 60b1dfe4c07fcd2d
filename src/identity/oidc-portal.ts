/**
 * The portal's OIDC sign-in: authorization code with PKCE (S256), state and nonce, as a confidential client when the
 * provider has a client secret. What a sign-in in progress needs (PKCE verifier, nonce, redirect URI) stays on the
 * server, in memory, for 10 minutes at most and for a bounded number of sign-ins; the browser only carries the
 * `state`, in the URL and in a cookie that ties the callback to the browser that started it. Sign-ins in progress are
 * therefore per process: behind several replicas, route a browser back to the one it started on.
 * It must never log or return a code, a verifier, a token or the client secret.
 */
import * as client from 'openid-client';
import { WardenError } from '../errors.js';
import type { UserRecord } from '../store/types.js';
import { clientConfiguration, discover, identityFromClaims, loadOidcProvider, verifyIdToken } from './oidc.js';
import type { SignInService } from './signin.js';
import type { IssuedToken } from './tokens.js';

/** How long a started sign-in may take. */
export const PENDING_TTL_MS = 10 * 60_000;
/** At most this many sign-ins in progress are remembered; the oldest is forgotten first. */
export const PENDING_MAX = 10_000;

/** What Warden remembers of a sign-in in progress. */
export interface PendingSignIn {
  provider: string;
  verifier: string;
  nonce: string;
  redirectUri: string;
  expiresAt: number;
}

/** Sign-ins in progress by state: single use, expiring, bounded. */
export class PendingSignIns {
  readonly #entries = new Map<string, PendingSignIn>();
  constructor(private readonly max = PENDING_MAX, private readonly now: () => number = Date.now) {}

  /** Remembers a sign-in; drops expired ones and, when full, the oldest. */
  add(state: string, entry: Omit<PendingSignIn, 'expiresAt'>): void {
    const now = this.now();
    for (const [key, value] of this.#entries) {
      // Insertion order is expiry order, so the scan stops at the first live entry.
      if (value.expiresAt > now && this.#entries.size < this.max) break;
      this.#entries.delete(key);
    }
    this.#entries.set(state, { ...entry, expiresAt: now + PENDING_TTL_MS });
  }

  /** The sign-in started with `state`, removed so it cannot be completed twice; undefined when unknown or expired. */
  take(state: string): PendingSignIn | undefined {
    const entry = this.#entries.get(state);
    this.#entries.delete(state);
    return entry !== undefined && entry.expiresAt > this.now() ? entry : undefined;
  }

  /** How many sign-ins are remembered (tests). */
  get size(): number {
    return this.#entries.size;
  }
}

/** Starts a sign-in with provider `name`: returns the provider's authorization URL and the state to bind. */
export async function beginPortalSignIn(signIn: SignInService, pending: PendingSignIns, name: string,
  defaultRedirectUri: string): Promise<{ url: string; state: string }> {
  const { provider, clientSecret } = await loadOidcProvider(signIn, name);
  const discovered = await discover(provider.issuer, provider.clientId);
  const config = clientConfiguration(discovered, provider.clientId, clientSecret);
  const redirectUri = provider.redirectUri ?? defaultRedirectUri;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: provider.scopes.join(' '), response_type: 'code', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  pending.add(state, { provider: name, verifier, nonce, redirectUri });
  return { url: url.href, state };
}

const badRequest = (message: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', message);
const clip = (text: string) => text.replace(/[\p{Cc}]/gu, ' ').slice(0, 200);

/**
 * Completes a sign-in at the callback: the state must be one this process started for this provider and for this
 * browser (`browserState`, from its cookie), the code is exchanged with the PKCE verifier, the id_token verified
 * (nonce included) and SignInService.complete issues the Warden token.
 */
export async function finishPortalSignIn(signIn: SignInService, pending: PendingSignIns, name: string,
  query: URLSearchParams, browserState: string | undefined): Promise<IssuedToken & { user: UserRecord }> {
  const state = query.get('state') ?? '';
  const entry = state === '' ? undefined : pending.take(state);
  const error = query.get('error');
  if (error !== null) {
    const description = query.get('error_description');
    throw new WardenError('WARDEN_ERR_UNAUTHENTICATED',
      `the identity provider refused the sign-in: ${clip(error)}${description ? ` (${clip(description)})` : ''}`);
  }
  if (entry === undefined || entry.provider !== name) {
    throw badRequest('this sign-in expired or was not started here: start it again');
  }
  // Without this check a link carrying someone else's code would sign this browser in as them (login CSRF).
  if (browserState !== state) throw badRequest('this sign-in was started in another browser: start it again');
  const { provider, clientSecret } = await loadOidcProvider(signIn, name);
  const discovered = await discover(provider.issuer, provider.clientId);
  const config = clientConfiguration(discovered, provider.clientId, clientSecret);
  const currentUrl = new URL(entry.redirectUri);
  currentUrl.search = query.toString();
  let idToken: string | undefined;
  try {
    const tokens = await client.authorizationCodeGrant(config, currentUrl,
      { pkceCodeVerifier: entry.verifier, expectedState: state, expectedNonce: entry.nonce, idTokenExpected: true });
    idToken = tokens.id_token;
  } catch (err) {
    throw grantError(err);
  }
  if (idToken === undefined) throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'the identity provider returned no id_token');
  const claims = await verifyIdToken(provider, discovered, idToken, { nonce: entry.nonce });
  return signIn.complete(provider, identityFromClaims(provider, claims));
}

/** Maps an openid-client failure of the code exchange to a WardenError with the provider's error code only. */
function grantError(err: unknown): WardenError {
  if (err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) {
    return new WardenError('WARDEN_ERR_UNAUTHENTICATED', `the identity provider refused the sign-in: ${clip(err.error)}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'the sign-in could not be completed with the identity provider',
    { detail: message });
}
