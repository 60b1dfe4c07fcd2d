/**
 * The resource documents `warden apply` accepts, sorted by `kind`: Policy (src/policy) and IdentityProvider
 * (src/identity/providers.ts). Every document of a file is validated before anything is written, so a bad file
 * applies nothing. Pure: text in, validated documents out; WARDEN_ERR_BAD_REQUEST names the document and problem.
 */
import { WardenError } from '../errors.js';
import { identityProviderSchema, type IdentityProviderDocument } from '../identity/providers.js';
import { decodeDocuments, formatIssues, validatePolicy } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';

/** The resource kinds `warden apply` knows. */
export const RESOURCE_KINDS = ['Policy', 'IdentityProvider'] as const;

/** The validated documents of one apply request, by kind. */
export interface ResourceDocuments {
  policies: Policy[];
  identityProviders: IdentityProviderDocument[];
}

const badRequest = (message: string) => new WardenError('WARDEN_ERR_BAD_REQUEST', message);

/** Parses and validates every document of `text`; names must be unique per kind. */
export function parseResourceDocuments(text: string, format: 'yaml' | 'json' = 'yaml'): ResourceDocuments {
  const docs = decodeDocuments(text, format);
  const out: ResourceDocuments = { policies: [], identityProviders: [] };
  docs.forEach((doc, i) => {
    const position = docs.length > 1 ? i + 1 : undefined;
    const kind = typeof doc === 'object' && doc !== null ? (doc as { kind?: unknown }).kind : undefined;
    if (kind === 'IdentityProvider') out.identityProviders.push(validateIdentityProvider(doc, position));
    else if (kind === 'Policy') out.policies.push(validatePolicy(doc, position));
    else {
      const where = position === undefined ? 'document' : `document ${position}`;
      throw badRequest(`${where}: kind must be one of ${RESOURCE_KINDS.join(', ')}`);
    }
  });
  for (const [label, names] of [['policy', out.policies.map((p) => p.name)],
    ['identity provider', out.identityProviders.map((p) => p.name)]] as const) {
    const seen = new Set<string>();
    for (const name of names) {
      // Two documents with one name would silently replace each other when applied.
      if (seen.has(name)) throw badRequest(`${label} "${name}": defined more than once`);
      seen.add(name);
    }
  }
  return out;
}

/** Validates one IdentityProvider document. */
function validateIdentityProvider(value: unknown, position: number | undefined): IdentityProviderDocument {
  const result = identityProviderSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const name = (value as { name?: unknown }).name;
  const label = typeof name === 'string' && name.length > 0 && name.length <= 63 ? `identity provider "${name}"`
    : position === undefined ? 'identity provider' : `document ${position}`;
  throw badRequest(`${label}: ${formatIssues(result.error.issues)}`);
}
