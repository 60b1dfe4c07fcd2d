/**
 * SAML 2.0 sign-in for people, as a service provider (SP-initiated, HTTP-Redirect AuthnRequest, HTTP-POST response),
 * built on node-saml. It only proves who signed in: the identity it returns goes to SignInService.complete, which
 * decides what a sign-in yields. Its rules, each one a refusal when broken:
 *  - the assertion itself must be signed by one of the provider's `idpCert` (a signed Response around an unsigned
 *    assertion is not enough, a signature by any other key is worthless);
 *  - the response must answer an AuthnRequest this process sent in the last 10 minutes, once (InResponseTo):
 *    unsolicited (IdP-initiated) and replayed responses are refused;
 *  - the audience must be our `spEntityId`, the validity window must hold within `clockSkew`, and the assertion's
 *    issuer must be `idpIssuer` when one is configured;
 *  - the assertion's bearer SubjectConfirmationData `Recipient` (signed) must be this provider's ACS URL, and the
 *    Response's `Destination`, when present, too: an assertion issued for another service provider's ACS is refused
 *    even when the audience matches. The ACS URL comes from Warden's public URL (set `--public-url`: without it, it
 *    is derived from the request).
 * The request-id memory is per process (saml-cache.ts): several replicas need a shared cache or sticky sessions.
 * This module must never log or return the assertion, the response XML or anything signed-in users could replay.
 */
import { randomBytes } from 'node:crypto';
import { SAML, SamlStatusError, ValidateInResponseTo, type Profile, type SamlConfig } from '@node-saml/node-saml';
import { parseDomFromString } from '@node-saml/node-saml/lib/xml.js';
import { WardenError } from '../errors.js';
import { certificatePem, type SamlProvider } from './providers.js';
import { RequestIdCache, type RequestCacheOptions } from './saml-cache.js';
import type { ProvenIdentity } from './signin.js';

/** NameID format Warden asks for: "unspecified" lets the IdP send what it is configured to send. */
const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/** Common attribute names of the email address and display name (plain, LDAP OIDs, ADFS/Entra claim URIs). */
const EMAIL_ATTRIBUTES = ['email', 'mail', 'urn:oid:0.9.2342.19200300.100.1.3',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'];
const NAME_ATTRIBUTES = ['displayName', 'urn:oid:2.16.840.1.113730.3.1.241',
  'http://schemas.microsoft.com/identity/claims/displayname', 'name', 'cn'];

/** The SP endpoints of one provider under Warden's public URL. */
export function samlEndpoints(publicUrl: string, providerName: string): { login: string; acs: string; metadata: string } {
  const base = `${publicUrl.replace(/\/+$/, '')}/auth/saml/${encodeURIComponent(providerName)}`;
  return { login: `${base}/login`, acs: `${base}/acs`, metadata: `${base}/metadata` };
}

/** SAML sign-in for every SAML provider, with one bounded request-id memory per provider. */
export class SamlSignIn {
  readonly #caches = new Map<string, RequestIdCache>();

  constructor(private readonly cacheOptions: RequestCacheOptions = {}) {}

  /**
   * The IdP URL (with SAMLRequest and RelayState) a browser is redirected to, and the id of that AuthnRequest, which
   * is remembered so the response to it is accepted once.
   */
  async authorize(provider: SamlProvider, publicUrl: string, relayState: string): Promise<{ url: string; requestId: string }> {
    const requestId = `_${randomBytes(20).toString('hex')}`;
    const url = await this.#saml(provider, publicUrl, () => requestId).getAuthorizeUrlAsync(relayState, undefined, {});
    return { url, requestId };
  }

  /** The SP metadata XML an IdP administrator imports (entity id, ACS URL, signed assertions wanted). */
  metadata(provider: SamlProvider, publicUrl: string): string {
    return this.#saml(provider, publicUrl).generateServiceProviderMetadata(null);
  }

  /**
   * Validates a base64 `SAMLResponse` posted to the ACS and returns who signed in. Every refusal is a
   * WARDEN_ERR_UNAUTHENTICATED with a sentence for the person and node-saml's reason in `detail` (for the log).
   * `boundRequestId`, when given, is the request this browser started: a response to any other request is refused.
   */
  async verify(provider: SamlProvider, publicUrl: string, samlResponse: string, boundRequestId?: string): Promise<ProvenIdentity> {
    const cache = this.#cache(provider.name);
    let profile: Profile | null;
    try {
      ({ profile } = await this.#saml(provider, publicUrl).validatePostResponseAsync({ SAMLResponse: samlResponse }));
    } catch (err) {
      throw refusal(provider.name, err);
    }
    if (profile === null) throw refused(provider.name, 'the identity provider sent no assertion', 'no profile');
    await checkRecipient(provider.name, profile, samlEndpoints(publicUrl, provider.name).acs);
    if (provider.idpIssuer !== undefined && profile.issuer !== provider.idpIssuer) {
      throw refused(provider.name, 'the assertion comes from another identity provider (issuer)',
        `issuer ${JSON.stringify(profile.issuer)} is not ${JSON.stringify(provider.idpIssuer)}`);
    }
    const answered = typeof profile.inResponseTo === 'string' ? profile.inResponseTo : '';
    // Login CSRF: someone's own valid response, posted from the victim's browser, answers someone else's request.
    if (boundRequestId !== undefined && answered !== boundRequestId) {
      throw refused(provider.name, 'this response answers a sign-in started in another browser; sign in again',
        boundRequestId === '' ? 'no request cookie' : 'InResponseTo is not the request of this browser');
    }
    if (answered === '' || !cache.claim(answered)) {
      throw refused(provider.name, 'this response was already used or answers no sign-in started here; sign in again',
        'InResponseTo already claimed');
    }
    return identityFromProfile(provider, profile);
  }

  #cache(name: string): RequestIdCache {
    let cache = this.#caches.get(name);
    if (cache === undefined) this.#caches.set(name, (cache = new RequestIdCache(this.cacheOptions)));
    return cache;
  }

  /** A node-saml SP for the provider as configured now; cheap, and built per call so re-applied settings apply at once. */
  #saml(provider: SamlProvider, publicUrl: string, generateUniqueId?: () => string): SAML {
    const cache = this.#cache(provider.name);
    const config: SamlConfig = {
      ...(generateUniqueId ? { generateUniqueId } : {}),
      entryPoint: provider.entryPoint,
      authnRequestBinding: 'HTTP-Redirect',
      callbackUrl: samlEndpoints(publicUrl, provider.name).acs,
      issuer: provider.spEntityId,
      audience: provider.spEntityId,
      idpCert: provider.idpCert.map(certificatePem),
      idpIssuer: provider.idpIssuer,
      wantAssertionsSigned: true,
      // What must be signed is the assertion (checked above); many IdPs sign only it, so the envelope may be unsigned.
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: provider.clockSkewSeconds * 1000,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: cache.ttlMs,
      cacheProvider: cache,
      identifierFormat: NAMEID_UNSPECIFIED,
      // Asking for "password" exactly makes IdPs that use MFA or passkeys refuse; their policy decides instead.
      disableRequestedAuthnContext: true,
      signatureAlgorithm: 'sha256',
    };
    return new SAML(config);
  }
}

type XmlNode = { $?: Record<string, string> } & Record<string, unknown>;

/**
 * The assertion must be addressed to `acs`: every bearer SubjectConfirmationData names it as `Recipient` (the
 * assertion is signed, so this is the IdP's word), and the Response's `Destination`, when it has one, is `acs` too.
 */
export async function checkRecipient(providerName: string, profile: Profile, acs: string): Promise<void> {
  const assertion = (profile.getAssertion?.() as { Assertion?: XmlNode } | undefined)?.Assertion;
  const subject = (assertion?.Subject as XmlNode[] | undefined)?.[0];
  const confirmations = (subject?.SubjectConfirmation as XmlNode[] | undefined) ?? [];
  const data = confirmations.flatMap((c) => (c.SubjectConfirmationData as XmlNode[] | undefined) ?? []);
  const recipients = data.map((d) => d.$?.Recipient);
  if (recipients.length === 0 || recipients.some((r) => r !== acs)) {
    throw refused(providerName, 'the assertion is meant for another service (recipient)',
      `SubjectConfirmationData Recipient ${JSON.stringify(recipients).slice(0, 200)} is not ${JSON.stringify(acs)}`);
  }
  const destination = await responseDestination(profile.getSamlResponseXml?.() ?? '');
  if (destination !== undefined && destination !== acs) {
    throw refused(providerName, 'the response is meant for another service (destination)',
      `Destination ${JSON.stringify(destination.slice(0, 200))} is not ${JSON.stringify(acs)}`);
  }
}

/** The `Destination` attribute of the root Response element, read with an XML parser (never a regex over text). */
async function responseDestination(xml: string): Promise<string | undefined> {
  if (xml === '') return undefined;
  const root = (await parseDomFromString(xml)).documentElement;
  if (root === null || root.localName !== 'Response') return undefined;
  return root.hasAttribute('Destination') ? root.getAttribute('Destination') ?? undefined : undefined;
}

/** Reads who signed in from a validated profile: user name, email, display name and the provider's groups. */
export function identityFromProfile(provider: SamlProvider, profile: Profile): ProvenIdentity {
  const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
  const name = provider.usernameAttribute === undefined ? profile.nameID : firstString(attributes[provider.usernameAttribute]);
  if (typeof name !== 'string' || name.trim() === '') {
    const where = provider.usernameAttribute === undefined ? 'NameID' : `attribute "${provider.usernameAttribute}"`;
    throw refused(provider.name, `the assertion carries no user name (${where})`, 'no user name');
  }
  return {
    name: name.trim(),
    email: pick(attributes, EMAIL_ATTRIBUTES) ?? (typeof profile.email === 'string' ? profile.email : null),
    displayName: pick(attributes, NAME_ATTRIBUTES),
    groups: strings(attributes[provider.groupsAttribute]),
  };
}

/** An attribute value as node-saml gives it (a string, a list, or an object for complex values) as strings. */
function strings(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

function firstString(value: unknown): string | undefined {
  return strings(value)[0];
}

function pick(attributes: Record<string, unknown>, names: readonly string[]): string | null {
  for (const name of names) {
    const value = firstString(attributes[name]);
    if (value !== undefined) return value;
  }
  return null;
}

function refused(provider: string, why: string, detail: string): WardenError {
  return new WardenError('WARDEN_ERR_UNAUTHENTICATED', `SAML sign-in with "${provider}" refused: ${why}`, { detail });
}

/**
 * Translates node-saml's failure into a sentence for the person signing in. node-saml's own message goes to `detail`:
 * it names the check that failed (and at most issuer or audience values), not the assertion's content.
 */
function refusal(provider: string, err: unknown): WardenError {
  // First line, bounded: an XML parser's complaint about malformed input could otherwise quote some of it.
  const detail = (err instanceof Error ? err.message : String(err)).split('\n', 1)[0].slice(0, 160);
  if (err instanceof SamlStatusError) return refused(provider, 'the identity provider did not sign you in', detail);
  const rules: Array<[RegExp, string]> = [
    [/InResponseTo/i, 'this response was already used or answers no sign-in started here; sign in again'],
    [/signature/i, 'the assertion is not signed by the identity provider\'s certificate'],
    [/expired|not yet valid|subject confirmation/i, 'the assertion is outside its validity period (check the clocks)'],
    [/audience/i, 'the assertion is meant for another service (audience)'],
    [/issuer/i, 'the assertion comes from another identity provider (issuer)'],
  ];
  const why = rules.find(([pattern]) => pattern.test(detail))?.[1] ?? 'the SAML response is invalid';
  return refused(provider, why, detail);
}
