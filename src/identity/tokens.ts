/**
 * Warden tokens: short JWTs signed with the gateway's Ed25519 key, carrying who the caller is (sub, kind,
 * groups) and which targets it may reach. Issuing stores a TokenRecord (never the token text) so tokens can be
 * listed and revoked; verifying checks signature, issuer, audience, type and times, then revocation in the store.
 * This module must never log, store or put into an error message the text of a token.
 */
import { randomBytes } from 'node:crypto';
import { compactVerify, errors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { WardenError } from '../errors.js';
import type { Actor, PrincipalKind, Subject } from '../session/types.js';
import type { Store, TokenRecord } from '../store/types.js';
import {
  MAX_CHAIN_LINKS, actClaimFor, asWardenClaims, isPrincipalKind, isStringList, subjectFromClaims, type WardenClaims,
} from './claims.js';
import { narrowClasses, narrowGroups, narrowTargets, narrowTtl } from './scope.js';
import { loadOrCreateSigningKey, SIGNING_ALG, type SigningKey } from './keys.js';

/** Members of this group administer Warden itself (the control API). */
export const ADMIN_GROUP = 'warden-admins';
/** The `iss` and `aud` of every Warden token. */
export const TOKEN_ISSUER = 'warden';
export const TOKEN_AUDIENCE = 'warden';
/** The JWT `typ` header of Warden tokens, so no other JWT signed by the same key can pass as one. */
export const TOKEN_TYPE = 'warden+jwt';
/** Default ceiling on a token's lifetime: 30 days. */
export const DEFAULT_MAX_TTL_SECONDS = 30 * 86_400;
/**
 * Tolerated clock skew between replicas (seconds). Warden both issues and checks its tokens, so skew is only
 * between its own replicas; a small value keeps an expired token from living on.
 */
const CLOCK_TOLERANCE_SECONDS = 5;
/** Longer input cannot be a Warden token; refusing it early bounds the work an anonymous caller can cause. */
const MAX_TOKEN_LENGTH = 8192;

/** What to put into a new token. */
export interface IssueRequest {
  subject: string;
  kind?: PrincipalKind;
  groups?: string[];
  /** Target name patterns; default `['*']`. */
  targets?: string[];
  ttlSeconds: number;
  /** The API key the token is traded for: revoking the key revokes the token. */
  apiKeyId?: string;
}

/** What a caller asks for when it mints a token for a sub-agent (every field can only narrow its own scope). */
export interface DelegateRequest {
  /** The sub-agent's name: it connects with `user=<to>`. */
  to: string;
  targets?: string[];
  /** Statement classes the sub-agent may run; default: the parent's (every class when the parent has no limit). */
  classes?: string[];
  groups?: string[];
  /** Default: 15 minutes, or what is left of the parent's life if that is shorter. */
  ttlSeconds?: number;
}

/** Default life of a delegated token. */
export const DEFAULT_DELEGATION_TTL_SECONDS = 900;

/** A newly issued token: `token` is shown once to whoever asked and never kept by Warden. */
export interface IssuedToken {
  token: string;
  id: string;
  expiresAt: string;
  record: TokenRecord;
}

/** Options of TokenService.create. */
export interface TokenServiceOptions {
  store: Store;
  dataDir: string;
  /** Ceiling on `ttlSeconds`; default 30 days. */
  maxTtlSeconds?: number;
  /** The clock in epoch milliseconds; tests inject one instead of sleeping. */
  now?: () => number;
  /**
   * Every command class a delegated token may be narrowed to: the registered protocols' (ProtocolRegistry.classes);
   * default PostgreSQL's statement classes.
   */
  classes?: readonly string[];
}

const invalid = (detail: string) => new WardenError('WARDEN_ERR_TOKEN_INVALID', 'invalid Warden token', { detail });
const badRequest = (message: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', message);

/** True when the text has the three dot-separated parts of a compact JWS (token ids never contain a dot). */
function looksLikeJwt(text: string): boolean {
  return text.split('.').length === 3;
}

/** Validates an IssueRequest and fills in defaults. */
function normalize(req: IssueRequest, maxTtl: number): Required<Omit<IssueRequest, 'apiKeyId'>> {
  if (typeof req.subject !== 'string' || !/^[^\s\p{Cc}]{1,256}$/u.test(req.subject)) {
    throw badRequest('token subject must be 1 to 256 characters without spaces or control characters');
  }
  const kind = req.kind ?? 'user';
  if (!isPrincipalKind(kind)) throw badRequest('token kind must be user, service or agent');
  const groups = req.groups ?? [];
  const targets = req.targets ?? ['*'];
  if (!isStringList(groups)) throw badRequest('token groups must be non-empty strings');
  if (!isStringList(targets) || targets.length === 0) throw badRequest('token targets must be non-empty strings');
  if (!Number.isSafeInteger(req.ttlSeconds) || req.ttlSeconds <= 0) throw badRequest('token lifetime must be positive');
  if (req.ttlSeconds > maxTtl) throw badRequest(`token lifetime must not exceed ${maxTtl} seconds`);
  return { subject: req.subject, kind, groups: [...new Set(groups)], targets: [...new Set(targets)], ttlSeconds: req.ttlSeconds };
}

/** Issues, verifies and revokes Warden tokens. */
export class TokenService {
  readonly #store: Store;
  readonly #key: SigningKey;
  readonly #maxTtl: number;
  readonly #now: () => number;
  readonly #classes: readonly string[] | undefined;

  private constructor(store: Store, key: SigningKey, maxTtl: number, now: () => number, classes?: readonly string[]) {
    this.#store = store;
    this.#key = key;
    this.#maxTtl = maxTtl;
    this.#now = now;
    this.#classes = classes;
  }

  /** Loads (or creates on first start) the signing key under `dataDir` and returns a ready service. */
  static async create(options: TokenServiceOptions): Promise<TokenService> {
    const maxTtl = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
    if (!Number.isSafeInteger(maxTtl) || maxTtl <= 0) throw badRequest('maximum token lifetime must be positive');
    const key = await loadOrCreateSigningKey(options.dataDir);
    return new TokenService(options.store, key, maxTtl, options.now ?? Date.now, options.classes);
  }

  /** The key id (`kid`) new tokens carry. */
  get keyId(): string {
    return this.#key.kid;
  }

  /**
   * Signs a token for `req` and records it; WARDEN_ERR_BAD_REQUEST for an invalid request, WARDEN_ERR_CONFLICT when
   * the subject is a sub-agent's name (delegated tokens hold it: a token of its own would pass for that agent).
   */
  async issue(req: IssueRequest): Promise<IssuedToken> {
    if (typeof req.subject === 'string' && (await this.#store.tokens.bySubject(req.subject)).some((t) => t.chain.length > 0)) {
      throw new WardenError('WARDEN_ERR_CONFLICT', `"${req.subject}" is the name of a sub-agent; choose another name`);
    }
    return this.#issue(req, { chain: [], classes: undefined, parentId: null, apiKeyId: req.apiKeyId ?? null });
  }

  /**
   * Mints a token for a sub-agent of `parent` (a verified subject) that is never wider than the parent's: targets
   * inside the parent's patterns, classes and groups subsets of the parent's, a life that ends no later. The chain
   * grows by the parent, and the new token records its parent so revoking any link revokes everything below it.
   * WARDEN_ERR_FORBIDDEN when the request would widen anything.
   */
  async delegate(parent: Subject, req: DelegateRequest): Promise<IssuedToken> {
    // A sub-agent is always an agent, under a name of its own: were it a person's or a service account's name, it
    // would match their policy rules, approver lists and grants.
    const kind: PrincipalKind = 'agent';
    const chain: Actor[] = [...parent.chain, { id: parent.id, kind: parent.kind }];
    if (chain.length + 1 > MAX_CHAIN_LINKS) {
      throw badRequest(`a delegation chain may have at most ${MAX_CHAIN_LINKS} links`);
    }
    if (chain.some((link) => link.id === req.to)) {
      throw badRequest(`"${req.to}" is already in the delegation chain (${chain.map((a) => a.id).join(' -> ')})`);
    }
    await this.#checkAgentName(req.to, chain[0]);
    const remaining = parent.expiresAt - Math.floor(this.#now() / 1000);
    const ttlSeconds = narrowTtl(remaining, req.ttlSeconds, DEFAULT_DELEGATION_TTL_SECONDS);
    return this.#issue(
      { subject: req.to, kind, groups: narrowGroups(parent.groups, req.groups), targets: narrowTargets(parent.targets, req.targets), ttlSeconds },
      { chain, classes: narrowClasses(parent.classes, req.classes, this.#classes), parentId: parent.tokenId, apiKeyId: null },
    );
  }

  /**
   * Refuses a sub-agent name that belongs to a user, a service account or a caller that ever held a token of its
   * own, or that a delegation from another origin already used: a delegated agent's name is reserved to the
   * principal at the origin of the chain that first used it, so mallory can never become alice's `helper`.
   * A `:` is refused too: it marks external identities (`provider:name`).
   */
  async #checkAgentName(name: string, origin: Actor): Promise<void> {
    if (typeof name !== 'string') throw badRequest('the sub-agent needs a name');
    if (name.includes(':')) throw badRequest('a sub-agent name must not contain ":" (reserved for external identities)');
    const held = await this.#store.tokens.bySubject(name);
    const taken = (await this.#store.users.get(name)) !== undefined
      || (await this.#store.serviceAccounts.get(name)) !== undefined
      || held.some((t) => t.chain.length === 0);
    if (taken) {
      throw new WardenError('WARDEN_ERR_FORBIDDEN',
        `"${name}" is the name of a user, service account or token holder; a sub-agent needs a name of its own`);
    }
    if (held.some((t) => t.chain[0]?.id !== origin.id || t.chain[0]?.kind !== origin.kind)) {
      throw new WardenError('WARDEN_ERR_FORBIDDEN',
        `the sub-agent name "${name}" is already used by another principal's delegation; choose another name`);
    }
  }

  async #issue(req: IssueRequest, delegation: {
    chain: Actor[]; classes: string[] | undefined; parentId: string | null; apiKeyId: string | null;
  }): Promise<IssuedToken> {
    const { subject, kind, groups, targets, ttlSeconds } = normalize(req, this.#maxTtl);
    const { chain, classes, parentId, apiKeyId } = delegation;
    const id = `tok_${randomBytes(16).toString('base64url')}`;
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + ttlSeconds;
    const record: TokenRecord = {
      id, subject, subjectKind: kind, groups, targets,
      issuedAt: new Date(iat * 1000).toISOString(), expiresAt: new Date(exp * 1000).toISOString(), revokedAt: null,
      parentId, chain, classes: classes ?? null, ...(apiKeyId === null ? {} : { apiKeyId }),
    };
    // RFC 8693: a delegated token's `sub` is the origin of the chain and `act` the actors since, the caller outermost.
    const origin = chain[0];
    const claims = origin === undefined
      ? { kind, groups, targets }
      : { kind: origin.kind, groups, targets, act: actClaimFor({ id: subject, kind }, chain) };
    const token = await new SignJWT({ ...claims, ...(classes === undefined ? {} : { classes }) })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: this.#key.kid, typ: TOKEN_TYPE })
      .setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setSubject(origin?.id ?? subject).setJti(id)
      .setIssuedAt(iat).setNotBefore(iat).setExpirationTime(exp)
      .sign(this.#key.privateKey);
    await this.#store.tokens.insert(record);
    return { token, id, expiresAt: record.expiresAt, record };
  }

  /**
   * Verifies signature, issuer, audience, type, expiry and not-before (5 s tolerance), then that the token is
   * known and not revoked. Throws WARDEN_ERR_TOKEN_INVALID / _EXPIRED / _REVOKED; a store failure propagates as
   * WARDEN_ERR_STORE_UNAVAILABLE so callers fail closed.
   */
  async verify(token: string): Promise<Subject> {
    const claims = await this.#verifyClaims(token);
    const subject = subjectFromClaims(claims);
    const chainGroups = await this.checkStanding(subject);
    // Delegation only narrows: the groups of every token of the chain travel with the subject, for restrictions.
    if (subject.chain.length > 0) subject.chainGroups = chainGroups;
    return subject;
  }

  /**
   * The store half of verification, also run on live sessions by the kill switch's sweep: the token is known and
   * issued to this caller, neither it nor any token it was delegated from is revoked, and no principal of the
   * chain (the caller included) is a disabled user or service account. Throws WARDEN_ERR_TOKEN_INVALID,
   * _TOKEN_REVOKED or _PRINCIPAL_DISABLED. Returns the groups of every token of the chain (the caller's included).
   */
  async checkStanding(subject: Subject): Promise<string[]> {
    const record = await this.#store.tokens.get(subject.tokenId);
    if (record === undefined || record.subject !== subject.id) throw invalid(`unknown token id ${subject.tokenId}`);
    const groups = new Set<string>();
    let link: TokenRecord | undefined = record;
    for (let depth = 0; link !== undefined; depth++) {
      for (const group of link.groups) groups.add(group);
      if (link.revokedAt !== null) {
        const which = depth === 0 ? 'Warden token revoked' : 'Warden token revoked: a token it was delegated from was revoked';
        throw new WardenError('WARDEN_ERR_TOKEN_REVOKED', which, { detail: `token ${link.id}` });
      }
      if (link.parentId === null || depth > MAX_CHAIN_LINKS) break;
      link = await this.#store.tokens.get(link.parentId);
      if (link === undefined) throw invalid(`token ${subject.tokenId} names an unknown parent`);
    }
    for (const principal of [...subject.chain, { id: subject.id, kind: subject.kind }]) {
      const disabled = principal.kind === 'user'
        ? (await this.#store.users.get(principal.id))?.disabledAt
        : (await this.#store.serviceAccounts.get(principal.id))?.disabledAt;
      if (disabled !== undefined && disabled !== null) {
        const what = principal.kind === 'user' ? 'user' : 'service account';
        throw new WardenError('WARDEN_ERR_PRINCIPAL_DISABLED', `${what} "${principal.id}" is disabled`);
      }
    }
    return [...groups].sort();
  }

  /**
   * Revokes a token and every token delegated from it, however deep; returns the ids now revoked (the root first).
   * Tokens already revoked below are included, so their live sessions are ended too.
   */
  async revokeTree(rootId: string): Promise<string[]> {
    const at = new Date(this.#now()).toISOString();
    const ids: string[] = [];
    const queue = [rootId];
    while (queue.length > 0) {
      const id = queue.shift()!;
      await this.#store.tokens.revoke(id, at);
      ids.push(id);
      for (const child of await this.#store.tokens.children(id)) queue.push(child.id);
    }
    return ids;
  }

  /**
   * Revokes a token given by id or as a whole token (its signature must verify; an expired one is accepted, so
   * a leaked token can always be revoked), with every token delegated from it. Returns the revoked record and the
   * ids revoked; WARDEN_ERR_NOT_FOUND when unknown.
   */
  async revoke(idOrToken: string): Promise<TokenRecord & { revokedIds: string[] }> {
    if (typeof idOrToken !== 'string' || idOrToken.length === 0) throw badRequest('a token id or token is required');
    const id = looksLikeJwt(idOrToken) ? await this.#idFromSignedToken(idOrToken) : idOrToken;
    if ((await this.#store.tokens.get(id)) === undefined) {
      throw new WardenError('WARDEN_ERR_NOT_FOUND', `token "${id.slice(0, 64)}" not found`);
    }
    const revokedIds = await this.revokeTree(id);
    return { ...(await this.#store.tokens.get(id))!, revokedIds };
  }

  /** Resolves the verification key from the header; only our own `kid` is accepted. */
  #keyFor = async (header: JWTHeaderParameters) => {
    if (header.kid !== this.#key.kid) throw new errors.JWKSNoMatchingKey();
    return this.#key.publicKey;
  };

  /** Runs jose's checks and the claim shape check, mapping every failure to a Warden code without the token. */
  async #verifyClaims(token: string): Promise<WardenClaims> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw invalid('empty or oversized token');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#keyFor, {
        algorithms: [SIGNING_ALG], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, typ: TOKEN_TYPE,
        clockTolerance: CLOCK_TOLERANCE_SECONDS, currentDate: new Date(this.#now()),
        requiredClaims: ['sub', 'jti', 'iat', 'nbf', 'exp'],
      }));
    } catch (err) {
      // jose reports expiry only after the signature verified, so EXPIRED never vouches for a forged token.
      if (err instanceof errors.JWTExpired) {
        throw new WardenError('WARDEN_ERR_TOKEN_EXPIRED', 'Warden token expired', { detail: err.message });
      }
      const code = (err as { code?: unknown }).code;
      throw invalid(`${typeof code === 'string' ? code : 'error'}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const claims = asWardenClaims(payload);
    if (claims === undefined) throw invalid('token claims have the wrong shape');
    return claims;
  }

  /** The `jti` of a token whose signature, type and issuer verify, ignoring its times. */
  async #idFromSignedToken(token: string): Promise<string> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalid('oversized token');
    let claims: Record<string, unknown>;
    try {
      const { payload, protectedHeader } = await compactVerify(token, this.#keyFor, { algorithms: [SIGNING_ALG] });
      if (protectedHeader.typ !== TOKEN_TYPE) throw new Error('wrong typ');
      claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    } catch (err) {
      throw invalid(`cannot verify token to revoke: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (claims?.iss !== TOKEN_ISSUER || typeof claims.jti !== 'string' || claims.jti.length === 0) {
      throw invalid('token to revoke has no Warden issuer or id');
    }
    return claims.jti;
  }
}
