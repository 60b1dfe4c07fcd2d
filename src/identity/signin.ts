/**
 * Sign-in for people: the identity provider resources (validated, with the OIDC client secret in the vault) and the
 * one step every protocol ends with, `complete`, which maps the provider's groups, records the user and issues a
 * short-lived Warden token. OIDC (oidc.ts) and SAML (saml.ts) only prove who the person is; what a sign-in yields is
 * decided here, once. A disabled user is refused whichever provider vouches for them.
 */
import { WardenError } from '../errors.js';
import type { Store, UserRecord } from '../store/types.js';
import type { Vault } from '../vault/vault.js';
import {
  identityProviderSchema, mapGroups, normalizeProvider, splitSecret, userNameFor, type IdentityProvider, type IdentityProviderDocument,
} from './providers.js';
import { ADMIN_GROUP, type IssuedToken, type TokenService } from './tokens.js';

/** Who a provider says signed in. */
export interface ProvenIdentity {
  /** The Warden user name (from the provider's username claim or attribute). */
  name: string;
  email?: string | null;
  displayName?: string | null;
  /** The provider's own group names, before mapping. */
  groups: readonly string[];
}

/** A provider ready for a protocol module: its normalised resource and, for OIDC, the decrypted client secret. */
export interface LoadedProvider {
  provider: IdentityProvider;
  clientSecret: string | null;
}

/** The vault context of a provider's client secret, so a ciphertext cannot be moved to another provider. */
const secretContext = (name: string) => `idp:${name}`;
const USER_NAME = /^[^\s\p{Cc}]{1,256}$/u;

/** Identity provider resources and the end of every sign-in. */
export class SignInService {
  constructor(private readonly deps: { store: Store; tokens: TokenService; vault: Vault; now?: () => number }) {}

  /**
   * Validates and stores IdentityProvider documents (all are validated before the first write). A document without
   * `clientSecret` keeps the stored one, so secrets need not live in files that are committed.
   */
  async apply(docs: IdentityProviderDocument[]): Promise<Array<{ name: string; status: 'created' | 'updated' }>> {
    const at = new Date(this.now()).toISOString();
    const out: Array<{ name: string; status: 'created' | 'updated' }> = [];
    for (const doc of docs) {
      const { document, secret } = splitSecret(doc);
      const existing = await this.deps.store.identityProviders.get(doc.name);
      const secretEnc = secret !== null ? this.deps.vault.encrypt(secret, secretContext(doc.name))
        : existing?.type === doc.type ? existing.secretEnc : null;
      const status = await this.deps.store.identityProviders.put({
        name: doc.name, type: doc.type, document, secretEnc, createdAt: at, updatedAt: at,
      });
      out.push({ name: doc.name, status });
    }
    return out;
  }

  /** A provider by name; WARDEN_ERR_NOT_FOUND when unknown. */
  async load(name: string): Promise<LoadedProvider> {
    const record = await this.deps.store.identityProviders.get(name);
    if (!record) throw new WardenError('WARDEN_ERR_NOT_FOUND', `identity provider "${name}" not found`);
    // Stored documents are re-validated: a row written by an older Warden must not yield a malformed provider.
    const parsed = identityProviderSchema.safeParse(record.document);
    if (!parsed.success) {
      throw new WardenError('WARDEN_ERR_INTERNAL', `identity provider "${name}" is stored in an invalid form`, { public: false });
    }
    const clientSecret = record.secretEnc === null ? null : this.deps.vault.decrypt(record.secretEnc, secretContext(name));
    return { provider: normalizeProvider(parsed.data), clientSecret };
  }

  /** Every provider (normalised, no secrets), e.g. for the portal's sign-in page. */
  async list(): Promise<IdentityProvider[]> {
    const records = await this.deps.store.identityProviders.list();
    return records.flatMap((r) => {
      const parsed = identityProviderSchema.safeParse(r.document);
      return parsed.success ? [normalizeProvider(parsed.data)] : [];
    });
  }

  /**
   * Ends a sign-in: names the user in the provider's namespace (`<provider>:<name>`, or the operator's explicit
   * `userMap` binding), maps groups, records the user (refusing a disabled one with WARDEN_ERR_PRINCIPAL_DISABLED)
   * and issues a Warden token for every target (policies decide what the user may do) with the provider's lifetime.
   */
  async complete(provider: IdentityProvider, identity: ProvenIdentity): Promise<IssuedToken & { user: UserRecord }> {
    if (typeof identity.name !== 'string' || !USER_NAME.test(identity.name)) {
      throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', `identity provider "${provider.name}" gave no usable user name`);
    }
    const name = userNameFor(provider, identity.name);
    // A name that sub-agents were delegated under is theirs; a person signing in must not inherit their grants.
    if ((await this.deps.store.tokens.bySubject(name)).some((t) => t.chain.length > 0)) {
      throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', `the user name "${name}" belongs to a sub-agent; ask an operator for a userMap entry`);
    }
    const groups = mapGroups(provider, identity.groups, ADMIN_GROUP);
    const user = await this.deps.store.users.recordLogin({
      name, email: identity.email ?? null, displayName: identity.displayName ?? null, groups,
      provider: provider.name, at: new Date(this.now()).toISOString(),
    });
    if (user.disabledAt !== null) {
      throw new WardenError('WARDEN_ERR_PRINCIPAL_DISABLED', `user "${name}" is disabled`);
    }
    const issued = await this.deps.tokens.issue({ subject: name, kind: 'user', groups, targets: ['*'],
      ttlSeconds: provider.tokenTtlSeconds });
    return { ...issued, user };
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}
