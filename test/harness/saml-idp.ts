/**
 * A real SAML 2.0 identity provider for tests, built with samlify on a free loopback port. Its SSO endpoint takes
 * the HTTP-Redirect AuthnRequest a service provider sends (parsed and schema-checked by samlify), checks it comes
 * from the SP it trusts (entity id and ACS URL from the SP's metadata), and answers with the auto-posting HTML form
 * a browser would submit to the ACS. The response XML is samlify's login-response template, filled and signed by
 * samlify; options bend one fact at a time (signature, key, audience, issuer, clock, InResponseTo) so tests can prove
 * each refusal. Keys are generated when the IdP starts and never written anywhere.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as validator from '@authenio/samlify-node-xmllint';
import samlifyModule, { type ServiceProviderInstance } from 'samlify';
import { generate } from 'selfsigned';

// samlify is CommonJS: Node's ESM loader detects only some of its named exports, so use the module object itself.
const samlify = samlifyModule;
samlify.setSchemaValidator({ validate: (xml: string) => quietly(() => validator.validate(xml)) });

/**
 * node-xmllint (emscripten) leaves traps on every validation: a process 'uncaughtException' listener that rethrows,
 * a stdout 'drain' listener that calls process.exit, and a stray line on stdout. Its work is synchronous, so undoing
 * all three around the call is exact: the test runner keeps reporting errors itself and the process never exits early.
 */
function quietly<T>(run: () => Promise<T>): Promise<T> {
  const uncaught = new Set(process.listeners('uncaughtException'));
  const drain = new Set(process.stdout.listeners('drain'));
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof write;
  try {
    return run();
  } finally {
    process.stdout.write = write;
    for (const l of process.listeners('uncaughtException')) if (!uncaught.has(l)) process.off('uncaughtException', l);
    for (const l of process.stdout.listeners('drain')) if (!drain.has(l)) process.stdout.off('drain', l as () => void);
  }
}

const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
const BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';

/** The person the IdP signs in. */
export interface SamlUser {
  nameId: string;
  email?: string;
  displayName?: string;
  /** Sent as one multi-valued `groups` attribute. */
  groups?: string[];
  /** More attributes, each possibly multi-valued. */
  attributes?: Record<string, string[]>;
}

/** One fact of a response bent for a test; the default is a correct, assertion-signed response. */
export interface ResponseTweaks {
  /** What is signed: the assertion (default), only the Response around it, or nothing at all. */
  signing?: 'assertion' | 'response-only' | 'none';
  /** Sign with the IdP's key (default) or with another key the SP does not trust. */
  key?: 'idp' | 'other';
  /** The Audience (default: the SP's entity id). */
  audience?: string;
  /** The Issuer of the response and the assertion (default: the IdP's entity id). */
  issuer?: string;
  /** How far the IdP's clock is ahead (positive) or behind (negative) the real one. */
  clockOffsetMs?: number;
  /** NotOnOrAfter minus IssueInstant (default 5 minutes). */
  lifetimeMs?: number;
  /** InResponseTo: the request's id by default; another id, or null to leave it out (unsolicited). */
  inResponseTo?: string | null;
  /** The Response's Destination (default: the SP's ACS URL), e.g. another service provider's ACS. */
  destination?: string;
  /** The SubjectConfirmationData Recipient (default: the SP's ACS URL). */
  recipient?: string;
}

/** What the SSO endpoint hands the browser: the form's target and fields. */
export interface LoginResult {
  acsUrl: string;
  SAMLResponse: string;
  RelayState?: string;
  /** The AuthnRequest id the response answers. */
  requestId: string;
}

/** A running test IdP. */
export interface TestSamlIdp {
  entityId: string;
  ssoUrl: string;
  /** The IdP's signing certificate (PEM): what the SP must trust. */
  cert: string;
  /** A certificate of another key, for SPs configured to trust the wrong one. */
  otherCert: string;
  /** Trusts one SP, from its metadata XML (entity id and ACS URL). */
  trust(spMetadataXml: string): void;
  /** The user (and tweaks) the HTTP SSO endpoint signs in from now on. */
  setLogin(user: SamlUser, tweaks?: ResponseTweaks): void;
  /** What the SSO endpoint does with an SP's redirect URL, without HTTP (for unit tests). */
  login(authorizeUrl: string, user: SamlUser, tweaks?: ResponseTweaks): Promise<LoginResult>;
  /** How many AuthnRequests the SSO endpoint received. */
  requests(): number;
  close(): Promise<void>;
}

interface KeyPair { cert: string; key: string }

async function keyPair(commonName: string): Promise<KeyPair> {
  const pair = await generate([{ name: 'commonName', value: commonName }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256' });
  return { cert: pair.cert, key: pair.private };
}

/** Starts an IdP on 127.0.0.1 (port chosen by the kernel) that signs `user` in when none was set with setLogin. */
export async function startSamlIdp(options: { entityId?: string; user?: SamlUser } = {}): Promise<TestSamlIdp> {
  const [own, other] = await Promise.all([keyPair('Test SAML IdP'), keyPair('Untrusted key')]);
  let current: { user: SamlUser; tweaks: ResponseTweaks } = { user: options.user ?? { nameId: 'alice' }, tweaks: {} };
  let trusted: { entityId: string; acsUrl: string } | null = null;
  let received = 0;
  const server = http.createServer((req, res) => { serve(req, res).catch((err: unknown) => res.destroy(err as Error)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = options.entityId ?? `${base}/metadata`;
  const ssoUrl = `${base}/sso`;
  const idpFor = (pair: KeyPair) => samlify.IdentityProvider({
    entityID: entityId, privateKey: pair.key, signingCert: pair.cert, nameIDFormat: [UNSPECIFIED],
    wantAuthnRequestsSigned: false,
    singleSignOnService: [{ Binding: REDIRECT, Location: ssoUrl }],
    singleLogoutService: [{ Binding: REDIRECT, Location: `${base}/slo` }],
  });
  const idps = { idp: idpFor(own), other: idpFor(other) };

  async function login(authorizeUrl: string, user: SamlUser, tweaks: ResponseTweaks = {}): Promise<LoginResult> {
    if (trusted === null) throw new Error('the test IdP trusts no SP yet: call trust(metadata) first');
    const url = new URL(authorizeUrl);
    const query = Object.fromEntries(url.searchParams);
    const sp = spEntity(trusted, tweaks);
    const parsed = await idps.idp.parseLoginRequest(sp, 'redirect', { query, octetString: url.search.slice(1) });
    const request = parsed.extract.request as Record<string, string>;
    if (parsed.extract.issuer !== trusted.entityId) throw new Error(`AuthnRequest from an unknown SP: ${String(parsed.extract.issuer)}`);
    if (request.assertionConsumerServiceUrl !== trusted.acsUrl) throw new Error(`AuthnRequest with an unknown ACS URL: ${request.assertionConsumerServiceUrl}`);
    const SAMLResponse = await respond(sp, request.id, user, tweaks);
    return { acsUrl: trusted.acsUrl, SAMLResponse, RelayState: query.RelayState, requestId: request.id };
  }

  async function respond(sp: ServiceProviderInstance, requestId: string, user: SamlUser, tweaks: ResponseTweaks): Promise<string> {
    const fill = (template: string) => fillResponse(template, { entityId, acsUrl: trusted!.acsUrl, spEntityId: trusted!.entityId,
      requestId, user, tweaks });
    if (tweaks.signing === 'none') return Buffer.from(fill(samlify.SamlLib.defaultLoginResponseTemplate.context).context).toString('base64');
    const idp = tweaks.key === 'other' ? idps.other : idps.idp;
    const result = await idp.createLoginResponse(sp, { extract: { request: { id: requestId } } }, 'post', { email: user.email },
      { customTagReplacement: fill });
    return result.context;
  }

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname !== '/sso' || req.method !== 'GET') return void res.writeHead(404).end('not found');
    received++;
    try {
      const result = await login(url.href, current.user, current.tweaks);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(autoPostForm(result));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`SAML request refused: ${(err as Error).message}`);
    }
  }

  return {
    entityId, ssoUrl, cert: own.cert, otherCert: other.cert,
    trust(metadata) {
      const meta = samlify.SPMetadata(metadata);
      const acs = meta.getAssertionConsumerService('post');
      trusted = { entityId: meta.getEntityID(), acsUrl: Array.isArray(acs) ? acs[0] : acs };
    },
    setLogin: (user, tweaks = {}) => void (current = { user, tweaks }),
    login,
    requests: () => received,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** samlify signs the assertion when the SP wants signed assertions, and the Response when it does not. */
function spEntity(sp: { entityId: string; acsUrl: string }, tweaks: ResponseTweaks): ServiceProviderInstance {
  return samlify.ServiceProvider({
    entityID: sp.entityId, wantAssertionsSigned: tweaks.signing !== 'response-only', wantMessageSigned: false,
    assertionConsumerService: [{ Binding: POST, Location: sp.acsUrl }],
  });
}

interface FillInput {
  entityId: string; acsUrl: string; spEntityId: string; requestId: string; user: SamlUser; tweaks: ResponseTweaks;
}

/** Fills samlify's login-response template (values are XML-escaped by samlify), with a multi-valued attribute statement. */
function fillResponse(template: string, input: FillInput): { id: string; context: string } {
  const { tweaks, user } = input;
  const now = Date.now() + (tweaks.clockOffsetMs ?? 0);
  const until = new Date(now + (tweaks.lifetimeMs ?? 5 * 60_000)).toISOString();
  const id = `_${crypto.randomUUID()}`;
  const attributes: Record<string, string[]> = { ...user.attributes };
  if (user.email !== undefined) attributes.email = [user.email];
  if (user.displayName !== undefined) attributes.displayName = [user.displayName];
  if (user.groups !== undefined) attributes.groups = user.groups;
  const statement = attributeStatement(attributes);
  const issuedAt = new Date(now).toISOString();
  const context = samlify.SamlLib.replaceTagsByValue(template.replace('{AttributeStatement}', statement.xml), {
    ID: id, AssertionID: `_${crypto.randomUUID()}`, Destination: tweaks.destination ?? input.acsUrl,
    Audience: tweaks.audience ?? input.spEntityId,
    EntityID: input.spEntityId, SubjectRecipient: tweaks.recipient ?? input.acsUrl, Issuer: tweaks.issuer ?? input.entityId, IssueInstant: issuedAt,
    AssertionConsumerServiceURL: input.acsUrl, StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
    ConditionsNotBefore: issuedAt, ConditionsNotOnOrAfter: until, SubjectConfirmationDataNotOnOrAfter: until,
    NameIDFormat: UNSPECIFIED, NameID: user.nameId,
    InResponseTo: tweaks.inResponseTo === undefined ? input.requestId : tweaks.inResponseTo,
    AuthnStatement: '', ...statement.tags,
  });
  return { id, context };
}

/**
 * An AttributeStatement with one Attribute per name and one AttributeValue per value, built by samlify's
 * attributeStatementBuilder from its own attribute template (split into the Attribute wrapper and the value part).
 */
function attributeStatement(attributes: Record<string, string[]>): { xml: string; tags: Record<string, string> } {
  const lib = samlify.SamlLib;
  const template = lib.defaultAttributeTemplate.context;
  const valueAt = template.indexOf('<saml:AttributeValue');
  const endAt = template.lastIndexOf('</saml:Attribute>');
  const valueTemplate = { context: template.slice(valueAt, endAt) };
  const tags: Record<string, string> = {};
  let n = 0;
  const xml = Object.entries(attributes).map(([name, values]) => {
    const wrapper = { context: `${template.slice(0, valueAt).replace('{Name}', name).replace('{NameFormat}', BASIC)}{Attributes}${template.slice(endAt)}` };
    const descriptors = values.map((value) => {
      const key = n++;
      tags[`attrV${key}`] = value; // samlify names the placeholder of valueTag `vN` as `attrVN`
      return { name, nameFormat: BASIC, valueTag: `v${key}`, valueXsiType: 'xs:string' };
    });
    return lib.attributeStatementBuilder(descriptors, valueTemplate, wrapper);
  }).join('');
  return { xml: lib.defaultAttributeStatementTemplate.context.replace('{Attributes}', xml), tags };
}

/** The page an IdP sends a browser: a form that posts the response to the ACS by itself. */
export function autoPostForm(result: LoginResult): string {
  const field = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  return `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${escapeHtml(result.acsUrl)}">`
    + field('SAMLResponse', result.SAMLResponse) + (result.RelayState === undefined ? '' : field('RelayState', result.RelayState))
    + '<noscript><button type="submit">Continue</button></noscript></form></body></html>';
}

/** Reads the auto-posting form back (what a browser would submit): its action and hidden fields. */
export function parseAutoPostForm(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (action === undefined) throw new Error(`no form in the IdP page: ${html.slice(0, 200)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = unescapeHtml(m[2]);
  return { action: unescapeHtml(action), fields };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function unescapeHtml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
