/**
 * OpenID Connect, server side: discovery of each provider (cached), verification of id_tokens against the provider's
 * JWKS, and `signInWithIdToken`, which turns an id_token the CLI obtained into a Warden token. What a sign-in yields
 * (groups, refusal of disabled users, the token) is decided by SignInService.complete; this module only proves who
 * the person is. Plain http:// is accepted only for loopback issuers (tests, a local provider), never elsewhere.
 * It must never log or echo an id_token, a code or a client secret.
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as client from 'openid-client';
import { WardenError } from '../errors.js';
import type { UserRecord } from '../store/types.js';
import type { OidcProvider } from './providers.js';
import type { LoadedProvider, ProvenIdentity, SignInService } from './signin.js';
import type { IssuedToken } from './tokens.js';

/** Accepted clock difference with a provider, in seconds. */
export const OIDC_CLOCK_SKEW_SECONDS = 60;
/** An id_token issued longer ago than this is refused (a stolen old token cannot be replayed for long). */
export const ID_TOKEN_MAX_AGE_SECONDS = 600;
/** Longer input is not an id_token; refusing it early bounds the work an anonymous caller can cause. */
const MAX_ID_TOKEN_LENGTH = 16_384;
const DISCOVERY_TTL_MS = 3_600_000;
const DISCOVERY_CACHE_MAX = 100;
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/** What Warden keeps of a provider's discovery document: the metadata, its key set and the algorithms it signs with. */
export interface DiscoveredProvider {
  metadata: client.ServerMetadata;
  jwks: JWTVerifyGetKey;
  /** id_token signature algorithms accepted: the provider's asymmetric ones (never `none`, never HMAC). */
  algorithms: string[];
  insecure: boolean;
}

/** True for loopback host names (127.0.0.0/8, ::1, localhost): the only hosts plain http is allowed to. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Whether `url` may be fetched: https anywhere, http only on loopback. Returns true when it is plain http. */
export function checkProviderUrl(url: string, what: string): boolean {
  const parsed = new URL(url);
  if (parsed.protocol === 'https:') return false;
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)) return true;
  throw new WardenError('WARDEN_ERR_BAD_REQUEST', `${what} must use https (plain http is allowed on loopback only)`);
}

const refused = (reason: string) => new WardenError('WARDEN_ERR_UNAUTHENTICATED', `id_token refused: ${reason}`);
const cache = new Map<string, { at: number; value: Promise<DiscoveredProvider> }>();

/** The provider's discovery document and key set, fetched once an hour per issuer. */
export function discover(issuer: string, clientId: string): Promise<DiscoveredProvider> {
  const hit = cache.get(issuer);
  if (hit !== undefined && Date.now() - hit.at < DISCOVERY_TTL_MS) return hit.value;
  const value = fetchDiscovery(issuer, clientId);
  cache.delete(issuer);
  if (cache.size >= DISCOVERY_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(issuer, { at: Date.now(), value });
  // A failed discovery is not cached: the next sign-in tries again.
  value.catch(() => { if (cache.get(issuer)?.value === value) cache.delete(issuer); });
  return value;
}

async function fetchDiscovery(issuer: string, clientId: string): Promise<DiscoveredProvider> {
  const insecure = checkProviderUrl(issuer, 'the issuer');
  let config: client.Configuration;
  try {
    config = await client.discovery(new URL(issuer), clientId, undefined, client.None(),
      { execute: insecure ? [client.allowInsecureRequests] : [], timeout: 10 });
  } catch (err) {
    throw new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `identity provider at ${issuer} could not be discovered`,
      { detail: err instanceof Error ? err.message : String(err) });
  }
  const metadata = { ...config.serverMetadata() };
  if (typeof metadata.jwks_uri !== 'string') {
    throw new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `identity provider at ${issuer} publishes no jwks_uri`);
  }
  // The key set must be as trustworthy as the issuer: an https issuer cannot point Warden at plain-http keys.
  if (checkProviderUrl(metadata.jwks_uri, 'the jwks_uri') && !insecure) {
    throw new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `identity provider at ${issuer} publishes an http jwks_uri`);
  }
  const advertised = metadata.id_token_signing_alg_values_supported ?? ['RS256'];
  const algorithms = advertised.filter((a) => ASYMMETRIC.test(a));
  if (algorithms.length === 0) {
    throw new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `identity provider at ${issuer} signs id_tokens with no asymmetric algorithm`);
  }
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: 10_000, cooldownDuration: 30_000 });
  return { metadata, jwks, algorithms, insecure };
}

/** An openid-client Configuration for `clientId` (with the secret, if any), built on the cached discovery. */
export function clientConfiguration(discovered: DiscoveredProvider, clientId: string, secret: string | null): client.Configuration {
  let auth = client.None();
  if (secret !== null) {
    const methods = discovered.metadata.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    auth = methods.includes('client_secret_basic') ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
  }
  const config = new client.Configuration(discovered.metadata, clientId, secret ?? undefined, auth);
  if (discovered.insecure) client.allowInsecureRequests(config);
  return config;
}

/** The client ids an id_token of `provider` may be addressed to. */
function clientIds(provider: OidcProvider): string[] {
  return [...new Set([provider.clientId, provider.cliClientId ?? provider.clientId])];
}

/**
 * Verifies an id_token of `provider`: signature by the provider's JWKS with an asymmetric algorithm, `iss`, an
 * `aud` naming one of its clients (and `azp`, when present, too), `exp` and an `iat` no older than 10 minutes (60 s
 * skew), and `nonce` when one is expected. Refusals are WARDEN_ERR_UNAUTHENTICATED naming the failed check.
 */
export async function verifyIdToken(provider: OidcProvider, discovered: DiscoveredProvider, idToken: string,
  options: { nonce?: string; now?: number } = {}): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, discovered.jwks, {
      issuer: discovered.metadata.issuer, audience: clientIds(provider), algorithms: discovered.algorithms,
      clockTolerance: OIDC_CLOCK_SKEW_SECONDS, maxTokenAge: ID_TOKEN_MAX_AGE_SECONDS,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      currentDate: options.now === undefined ? undefined : new Date(options.now),
    }));
  } catch (err) {
    throw refused(joseReason(err));
  }
  const typ = decodeProtectedHeader(idToken).typ;
  // An access token (at+jwt) or a logout token from the same provider can carry the same iss and aud.
  if (typ !== undefined && typ.toLowerCase() !== 'jwt') throw refused(`typ "${typ}" is not an id_token`);
  if (payload.events !== undefined) throw refused('a logout token is not an id_token');
  if (payload.azp !== undefined && (typeof payload.azp !== 'string' || !clientIds(provider).includes(payload.azp))) {
    throw refused('azp names another client');
  }
  // OIDC Core 3.1.3.7: with several audiences the authorized party must be named, and be this client.
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) {
    throw refused('aud names several audiences but azp is missing');
  }
  if (options.nonce !== undefined && payload.nonce !== options.nonce) throw refused('nonce does not match this sign-in');
  return payload;
}

/** A short, token-free reason for a jose failure. */
function joseReason(err: unknown): string {
  // jose reports an `iat` older than maxTokenAge as JWTExpired too; the claim tells them apart.
  if (err instanceof joseErrors.JWTExpired) return err.claim === 'iat' ? `issued more than ${ID_TOKEN_MAX_AGE_SECONDS / 60} minutes ago (iat)` : 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `${err.claim} check failed (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'signed by a key the provider does not publish';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'signature algorithm not allowed';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'malformed token';
  if (err instanceof joseErrors.JWKSTimeout) return 'the provider\'s key set did not answer';
  return 'cannot be verified';
}

const stringClaim = (claims: JWTPayload, name: string) =>
  typeof claims[name] === 'string' && (claims[name] as string).length > 0 ? claims[name] as string : undefined;

/**
 * Whether the provider vouches for the email: only `email_verified: true` (or the string `"true"`, which some
 * providers send) counts. `"false"`, absent, or anything else is not verified: strict parsing, failing closed.
 */
export function emailVerified(claims: JWTPayload): boolean {
  return claims.email_verified === true || claims.email_verified === 'true';
}

/**
 * Who verified claims name: the user from `usernameClaim` (default `email`, then `preferred_username`, then
 * `sub`), the groups from `groupsClaim` (an array of strings; absent means none, anything else is refused). An email
 * the provider does not mark verified (emailVerified) is refused as the user name rather than skipped: falling back
 * to another claim would give the same person a different Warden name, or someone else's. The name is the
 * provider's; SignInService.complete puts it into the provider's namespace.
 */
export function identityFromClaims(provider: OidcProvider, claims: JWTPayload): ProvenIdentity {
  const email = stringClaim(claims, 'email');
  const claim = provider.usernameClaim ?? (email !== undefined ? 'email' : stringClaim(claims, 'preferred_username') !== undefined
    ? 'preferred_username' : 'sub');
  const name = stringClaim(claims, claim);
  if (name === undefined) throw refused(`claim "${claim}" is missing`);
  if (claim === 'email' && !emailVerified(claims)) throw refused('its email is not verified by the provider');
  const raw = claims[provider.groupsClaim];
  if (raw !== undefined && (!Array.isArray(raw) || !raw.every((g) => typeof g === 'string'))) {
    throw refused(`claim "${provider.groupsClaim}" must be an array of strings`);
  }
  return {
    name, email: emailVerified(claims) ? email ?? null : null, displayName: stringClaim(claims, 'name') ?? null,
    groups: (raw as string[] | undefined) ?? [],
  };
}

/** Finds the one OIDC provider that issued `idToken` (by `iss`, then by `aud` when several share an issuer). */
async function providerFor(signIn: SignInService, idToken: string): Promise<OidcProvider> {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(idToken);
  } catch {
    throw refused('malformed token');
  }
  const trim = (s: string) => s.replace(/\/+$/, '');
  const iss = typeof claims.iss === 'string' ? trim(claims.iss) : undefined;
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  const byIssuer = (await signIn.list()).filter((p): p is OidcProvider => p.type === 'oidc' && iss !== undefined && trim(p.issuer) === iss);
  const matches = byIssuer.length <= 1 ? byIssuer : byIssuer.filter((p) => clientIds(p).some((id) => aud.includes(id)));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0 && byIssuer.length > 0) throw refused('no identity provider of its issuer accepts its audience');
  if (matches.length === 0) throw refused('no identity provider is configured for its issuer');
  throw refused(`several identity providers match it (${matches.map((p) => p.name).join(', ')})`);
}

/**
 * Signs a person in with an id_token their client obtained from a configured OIDC provider (the CLI's `warden
 * login`): the issuing provider is found by `iss`, the token verified (verifyIdToken), the user and groups taken from
 * its claims, and SignInService.complete issues the Warden token.
 */
export async function signInWithIdToken(signIn: SignInService, idToken: string): Promise<IssuedToken & { user: UserRecord }> {
  if (typeof idToken !== 'string' || idToken.length === 0 || idToken.length > MAX_ID_TOKEN_LENGTH) throw refused('empty or oversized');
  const provider = await providerFor(signIn, idToken);
  const discovered = await discover(provider.issuer, provider.clientId);
  const claims = await verifyIdToken(provider, discovered, idToken);
  return signIn.complete(provider, identityFromClaims(provider, claims));
}

/** Loads provider `name` and insists it is an OIDC one (WARDEN_ERR_NOT_FOUND otherwise). */
export async function loadOidcProvider(signIn: SignInService, name: string): Promise<LoadedProvider & { provider: OidcProvider }> {
  const loaded = await signIn.load(name);
  if (loaded.provider.type !== 'oidc') throw new WardenError('WARDEN_ERR_NOT_FOUND', `identity provider "${name}" is not an OIDC provider`);
  return loaded as LoadedProvider & { provider: OidcProvider };
}
