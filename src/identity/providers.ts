/**
 * The IdentityProvider resource: an OIDC or SAML provider people sign in with, applied with `warden apply` like a
 * Policy. Its zod schema is strict (unknown fields are errors) and its normalised form fills in defaults. The OIDC
 * client secret is never part of the stored document: `apply` moves it into the vault (see resources.ts).
 * Group mapping lives here because both protocols share it: the provider's group names map to Warden groups, and
 * unmapped ones are dropped unless `passUnmappedGroups` is set, so a provider can never hand out `warden-admins`
 * unless the operator wrote that mapping. Pure: no I/O, no clock.
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { parseDuration } from './duration.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
const text = z.string().min(1);
const duration = text.refine((d) => { try { parseDuration(d); return true; } catch { return false; } },
  'must be a duration like 15m, 1h or 1d');

/** True for https URLs and for http URLs whose host is loopback (127.0.0.0/8, ::1, localhost). */
function secureOrLoopback(url: string): boolean {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return parsed.protocol === 'https:'
    || (parsed.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)));
}

/** Fields both provider types share. */
const common = {
  kind: z.literal('IdentityProvider'),
  name: z.string().regex(NAME, 'must be 1-63 letters, digits, dots, dashes or underscores'),
  description: text.optional(),
  /** Provider group name -> Warden groups. */
  groupMap: z.record(text, z.array(text).min(1)).optional(),
  /** Keep provider groups that have no mapping, under their own name (never the admin group or a look-alike). */
  passUnmappedGroups: z.boolean().optional(),
  /**
   * Provider user name -> Warden user name: an explicit binding of an external identity to a local one (e.g.
   * `alice@example.com: alice`). Unmapped people sign in as `<provider>:<name>`, in the provider's own namespace,
   * so `preferred_username: admin` never becomes the built-in `admin`.
   */
  userMap: z.record(text, z.string().regex(/^[^\s\p{Cc}]{1,256}$/u, 'must be 1 to 256 characters without spaces')).optional(),
  /** Lifetime of the Warden token a sign-in yields (default 1h; `warden login` refreshes before it ends). */
  tokenTtl: duration.optional(),
};

const oidcSchema = z.strictObject({
  ...common,
  type: z.literal('oidc'),
  /** https, or plain http on a loopback host only (a local provider, tests). */
  issuer: z.url().refine(secureOrLoopback, 'must be an https URL (plain http is allowed on loopback only)'),
  clientId: text,
  /** Write-only: stored in the vault, never returned. Absent for a public client. */
  clientSecret: text.optional(),
  /** A public client (no secret) the CLI uses for `warden login`; default: clientId. */
  cliClientId: text.optional(),
  scopes: z.array(text).min(1).optional(),
  /** The claim that names the user (default `email`, then `preferred_username`, then `sub`). */
  usernameClaim: text.optional(),
  /** The claim that carries groups (default `groups`). */
  groupsClaim: text.optional(),
  /**
   * The portal's callback URL registered at the provider (default: derived from the request, i.e.
   * `<scheme>://<host>/auth/oidc/<name>/callback`); set it when Warden is behind a proxy.
   */
  redirectUri: z.url().refine(secureOrLoopback, 'must be an https URL (plain http is allowed on loopback only)').optional(),
});

/** Largest accepted SAML clock skew: a larger one would keep accepting assertions long after they expired. */
export const MAX_SAML_CLOCK_SKEW_SECONDS = 600;

/** The PEM form of a certificate given as PEM or as its bare base64 body (as IdP metadata shows it). */
export function certificatePem(text: string): string {
  if (text.includes('-----BEGIN')) return text;
  const body = text.replace(/\s+/g, '').match(/.{1,64}/g)?.join('\n') ?? '';
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** Whether `text` parses as an X.509 certificate, so a pasted key or a truncated PEM fails at apply time. */
function isCertificate(text: string): boolean {
  try { new X509Certificate(certificatePem(text)); return true; } catch { return false; }
}
const certificate = text.refine(isCertificate, 'must be a PEM certificate (or its base64 body)');
const clockSkew = text.refine((d) => {
  try { return parseDuration(d) <= MAX_SAML_CLOCK_SKEW_SECONDS; } catch { return false; }
}, 'must be a duration of at most 10m, like 30s or 2m');

const samlSchema = z.strictObject({
  ...common,
  type: z.literal('saml'),
  /** The IdP's single sign-on URL (HTTP-Redirect binding). */
  entryPoint: z.url(),
  /** The IdP's entity id; when set, responses from another issuer are refused. */
  idpIssuer: text.optional(),
  /** PEM certificate(s) the IdP signs with; assertions must be signed by one of them. */
  idpCert: z.union([certificate, z.array(certificate).min(1)]),
  /** Warden's SP entity id (default `warden`). */
  spEntityId: text.optional(),
  /** The attribute that names the user (default: the NameID). */
  usernameAttribute: text.optional(),
  /** The attribute that carries groups (default `groups`). */
  groupsAttribute: text.optional(),
  /** Accepted clock difference with the IdP (default 60s, at most 10m). */
  clockSkew: clockSkew.optional(),
});

/** The schema of one IdentityProvider document as written. */
export const identityProviderSchema = z.discriminatedUnion('type', [oidcSchema, samlSchema]);

/** An IdentityProvider document as written and validated (may hold the OIDC client secret). */
export type IdentityProviderDocument = z.infer<typeof identityProviderSchema>;
/** An OIDC provider with defaults filled in and without its secret. */
export type OidcProvider = Omit<z.infer<typeof oidcSchema>, 'clientSecret' | 'scopes' | 'groupsClaim' | 'tokenTtl'> & {
  scopes: string[];
  groupsClaim: string;
  tokenTtlSeconds: number;
};
/** A SAML provider with defaults filled in. */
export type SamlProvider = Omit<z.infer<typeof samlSchema>, 'idpCert' | 'spEntityId' | 'groupsAttribute' | 'clockSkew' | 'tokenTtl'> & {
  idpCert: string[];
  spEntityId: string;
  groupsAttribute: string;
  clockSkewSeconds: number;
  tokenTtlSeconds: number;
};
/** A normalised provider (what the sign-in code reads). */
export type IdentityProvider = OidcProvider | SamlProvider;

/** Default Warden token lifetime after a sign-in. */
export const DEFAULT_SIGNIN_TTL_SECONDS = 3600;

/** Splits a validated document into its stored form (no secret) and the secret, if any. */
export function splitSecret(doc: IdentityProviderDocument): { document: Record<string, unknown>; secret: string | null } {
  if (doc.type !== 'oidc') return { document: { ...doc }, secret: null };
  const { clientSecret, ...rest } = doc;
  return { document: rest, secret: clientSecret ?? null };
}

/** Fills in defaults of a validated document (stored documents are re-validated with the same schema first). */
export function normalizeProvider(doc: IdentityProviderDocument): IdentityProvider {
  const tokenTtlSeconds = doc.tokenTtl === undefined ? DEFAULT_SIGNIN_TTL_SECONDS : parseDuration(doc.tokenTtl);
  if (doc.type === 'oidc') {
    const { clientSecret: _secret, scopes, groupsClaim, tokenTtl: _ttl, ...rest } = doc;
    return { ...rest, scopes: scopes ?? ['openid', 'email', 'profile'], groupsClaim: groupsClaim ?? 'groups', tokenTtlSeconds };
  }
  const { idpCert, spEntityId, groupsAttribute, clockSkew, tokenTtl: _ttl, ...rest } = doc;
  return {
    ...rest, idpCert: Array.isArray(idpCert) ? idpCert : [idpCert], spEntityId: spEntityId ?? 'warden',
    groupsAttribute: groupsAttribute ?? 'groups', clockSkewSeconds: clockSkew === undefined ? 60 : parseDuration(clockSkew),
    tokenTtlSeconds,
  };
}

/**
 * The Warden user name of an external identity: the operator's explicit `userMap` binding, else `<provider>:<name>`
 * (an external identity never shares a local principal's name by accident).
 */
export function userNameFor(provider: Pick<IdentityProvider, 'name' | 'userMap'>, externalName: string): string {
  const mapped = provider.userMap !== undefined && Object.hasOwn(provider.userMap, externalName) ? provider.userMap[externalName] : undefined;
  return mapped ?? `${provider.name}:${externalName}`;
}

/** A provider's group name in canonical form: Unicode NFKC, format characters (zero-width, BOM) removed, trimmed. */
export function normalizeGroupName(group: string): string {
  return group.normalize('NFKC').replace(/\p{Cf}/gu, '').trim();
}

/** Latin look-alikes of letters from other scripts that NFKC leaves alone (Cyrillic and Greek), for reserved names. */
const CONFUSABLES: Record<string, string> = {
  'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ո': 'n',
  'α': 'a', 'ε': 'e', 'ο': 'o', 'ρ': 'p', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'τ': 't', 'м': 'm', 'н': 'h', 'т': 't', 'ԝ': 'w',
  'ѡ': 'w', 'ɑ': 'a', 'ı': 'i', '‐': '-', '‑': '-', '‒': '-', '–': '-', '—': '-', '−': '-', '_': '-',
};

/** What a group name looks like: canonical, lower case, no spaces, look-alike letters folded. */
function skeleton(group: string): string {
  return [...normalizeGroupName(group).toLowerCase().replace(/\s+/gu, '')].map((c) => CONFUSABLES[c] ?? c).join('');
}

/** True when `group` is, or looks like, one of `reserved` (other case, spaces, zero-width or look-alike letters). */
export function looksLikeReserved(group: string, reserved: readonly string[]): boolean {
  const s = skeleton(group);
  return reserved.some((r) => skeleton(r) === s);
}

/**
 * Maps the provider's group names to Warden groups. Names are normalised first (normalizeGroupName), so a group
 * written with a zero-width character or surrounding spaces maps (or passes) as its plain form. Mapped names become
 * their targets; unmapped names are kept only with `passUnmappedGroups`, and never when they are or look like
 * `adminGroup` (other case, zero-width characters, look-alike letters): that needs an explicit mapping.
 */
export function mapGroups(provider: Pick<IdentityProvider, 'groupMap' | 'passUnmappedGroups'>, groups: readonly string[],
  adminGroup: string): string[] {
  const out = new Set<string>();
  for (const raw of groups) {
    const group = normalizeGroupName(raw);
    if (group.length === 0) continue;
    const mapped = provider.groupMap !== undefined && Object.hasOwn(provider.groupMap, group) ? provider.groupMap[group] : undefined;
    if (mapped !== undefined) for (const g of mapped) out.add(g);
    else if (provider.passUnmappedGroups === true && !looksLikeReserved(group, [adminGroup])) out.add(group);
  }
  return [...out].sort();
}
