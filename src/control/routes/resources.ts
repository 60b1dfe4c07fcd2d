/**
 * `/api/apply` and `/api/identity-providers`: the declarative entry point for every resource kind (`warden apply`),
 * and reading and removing identity providers. Apply validates the whole file first (all or nothing), then writes
 * policies through the PolicyCatalog and identity providers through the SignInService (which moves client secrets
 * into the vault). No response ever carries a client secret.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { misfitRules } from '../../policy/fit.js';
import { RESOURCE_KINDS, parseResourceDocuments } from '../../resources/documents.js';
import type { ControlDeps } from '../app.js';
import { applyPoliciesBody, applyPoliciesResponse, appliedDocument, type ApplyPoliciesBody } from '../policy-schemas.js';
import { authErrors, errorSchema, nameParams } from '../schemas.js';

/** Response of `POST /api/apply`: the policy route's answer, each document with its kind. */
const applyResponse = {
  ...applyPoliciesResponse,
  properties: {
    ...applyPoliciesResponse.properties,
    applied: {
      type: 'array',
      items: {
        ...appliedDocument,
        required: ['kind', ...appliedDocument.required],
        properties: { kind: { type: 'string', enum: RESOURCE_KINDS }, ...appliedDocument.properties },
      },
    },
  },
} as const;

const providerEntry = {
  type: 'object',
  required: ['name', 'type', 'document', 'hasClientSecret', 'createdAt', 'updatedAt'],
  properties: {
    name: { type: 'string' }, type: { type: 'string', enum: ['oidc', 'saml'] },
    document: { type: 'object', additionalProperties: true }, hasClientSecret: { type: 'boolean' },
    createdAt: { type: 'string' }, updatedAt: { type: 'string' },
  },
} as const;

const notFound = (name: string) => new WardenError('WARDEN_ERR_NOT_FOUND', `identity provider ${name} not found`);

/** Registers the resource routes (under the `/api` prefix); admin-only. */
export function resourceRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: ApplyPoliciesBody }>(
      '/apply',
      {
        schema: {
          tags: ['resources'], summary: 'Apply Policy and IdentityProvider documents (all or nothing)',
          body: applyPoliciesBody, response: { 200: applyResponse, ...authErrors },
        },
      },
      async (request) => {
        const docs = parseResourceDocuments(request.body.text, request.body.format ?? 'yaml');
        const applied = [
          ...(docs.policies.length > 0 ? await deps.policies.apply(docs.policies) : []).map((a) => ({ kind: 'Policy', ...a })),
          ...(await deps.signIn.apply(docs.identityProviders)).map((a) => ({ kind: 'IdentityProvider', ...a })),
        ];
        request.log.info({ applied: applied.map((a) => `${a.kind}/${a.name}`) }, 'resources applied');
        const warnings = docs.policies.length > 0 ? misfitRules(docs.policies, await deps.store.targets.list(), deps.protocols) : [];
        return { applied, ...(warnings.length > 0 ? { warnings } : {}) };
      },
    );

    const tags = ['identity providers'];
    const entry = (r: Awaited<ReturnType<typeof deps.store.identityProviders.get>> & object) => ({
      name: r.name, type: r.type, document: r.document, hasClientSecret: r.secretEnc !== null,
      createdAt: r.createdAt, updatedAt: r.updatedAt,
    });

    app.get('/identity-providers', {
      schema: { tags, summary: 'List identity providers', response: { 200: { type: 'array', items: providerEntry }, ...authErrors } },
    }, async () => (await deps.store.identityProviders.list()).map(entry));

    app.get<{ Params: { name: string } }>('/identity-providers/:name', {
      schema: { tags, summary: 'Show an identity provider', params: nameParams, response: { 200: providerEntry, 404: errorSchema, ...authErrors } },
    }, async (request) => {
      const record = await deps.store.identityProviders.get(request.params.name);
      if (!record) throw notFound(request.params.name);
      return entry(record);
    });

    app.delete<{ Params: { name: string } }>('/identity-providers/:name', {
      schema: { tags, summary: 'Remove an identity provider', params: nameParams, response: { 204: { type: 'null' }, 404: errorSchema, ...authErrors } },
    }, async (request, reply) => {
      if (!(await deps.store.identityProviders.remove(request.params.name))) throw notFound(request.params.name);
      request.log.info({ provider: request.params.name }, 'identity provider removed');
      return reply.code(204).send();
    });
  };
}
