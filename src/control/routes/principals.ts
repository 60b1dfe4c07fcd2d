/**
 * Principals and the kill switch: `/api/users` (list, show, disable, enable), `/api/service-accounts` (create,
 * list, show, disable, enable, API keys) and `POST /api/sessions/:id/kill`. Disabling and killing go through the
 * KillSwitch, so new sessions are refused at once and live ones end with a message to the caller. An API key's
 * text appears in exactly one response (the one that creates it); listings show stored records only.
 */
import type { FastifyPluginAsync } from 'fastify';
import { parseDuration } from '../../identity/duration.js';
import type { ControlDeps } from '../app.js';
import { authErrors, errorSchema, idParams, nameParams } from '../schemas.js';
import { assertKnownUser } from './known-principals.js';

const strings = { type: 'array', items: { type: 'string' } } as const;
const nonEmptyList = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 256 } } as const;
const nullableText = { type: 'string', nullable: true } as const;

const userShape = {
  type: 'object',
  required: ['name', 'groups', 'disabledAt', 'createdAt'],
  properties: {
    name: { type: 'string' }, email: nullableText, displayName: nullableText, groups: strings, provider: nullableText,
    disabledAt: nullableText, createdAt: { type: 'string' }, updatedAt: { type: 'string' }, lastLoginAt: nullableText,
  },
} as const;

const keyShape = {
  type: 'object',
  required: ['id', 'serviceAccount', 'createdAt'],
  properties: {
    id: { type: 'string' }, serviceAccount: { type: 'string' }, createdAt: { type: 'string' }, expiresAt: nullableText,
    lastUsedAt: nullableText, revokedAt: nullableText,
  },
} as const;

const accountShape = {
  type: 'object',
  required: ['name', 'kind', 'groups', 'targets', 'disabledAt', 'createdAt'],
  properties: {
    name: { type: 'string' }, kind: { type: 'string' }, description: nullableText, groups: strings, targets: strings,
    disabledAt: nullableText, createdAt: { type: 'string' }, updatedAt: { type: 'string' },
    keys: { type: 'array', items: keyShape },
  },
} as const;

const ended = { sessionsEnded: strings } as const;
const revocationBody = {
  type: 'object',
  additionalProperties: false,
  properties: { letStatementsFinish: { type: 'boolean', description: 'let running statements finish before sessions end' } },
} as const;

/** Lets these routes be called without a body (`curl -X POST .../disable`): no body means no options. */
const emptyBodyIsObject = async (request: { body: unknown }) => {
  if (request.body === undefined || request.body === null) request.body = {};
};

/** Body of the disable and kill routes. */
interface RevocationBody {
  letStatementsFinish?: boolean;
  /** `users/:name/disable` only: disable a name Warden has not seen yet (else it is refused as a likely typo). */
  force?: boolean;
}

/** The body of `users/:name/disable|enable`: the revocation options plus `force`. */
const userRevocationBody = {
  ...revocationBody,
  properties: { ...revocationBody.properties,
    force: { type: 'boolean', description: 'disable a name Warden has not seen yet (no sign-in, token or session)' } },
} as const;

/** Body of `POST /api/service-accounts`. */
interface CreateAccountBody {
  name: string;
  kind?: 'service' | 'agent';
  description?: string;
  groups?: string[];
  targets?: string[];
}

/** Registers the principal and kill-switch routes (under the `/api` prefix); admin-only. */
export function principalRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const users = ['users'];
    app.get('/users', { schema: { tags: users, summary: 'List users', response: { 200: { type: 'array', items: userShape }, ...authErrors } } },
      async () => deps.store.users.list());

    for (const action of ['disable', 'enable'] as const) {
      app.post<{ Params: { name: string }; Body: RevocationBody | undefined }>(`/users/:name/${action}`, {
      preValidation: emptyBodyIsObject,
        schema: {
          tags: users, summary: action === 'disable' ? 'Disable a user: refuse new sessions, end live ones' : 'Enable a user again',
          params: nameParams, body: userRevocationBody,
          response: { 200: { type: 'object', properties: { user: userShape, ...ended } }, 404: errorSchema, ...authErrors },
        },
      }, async (request) => {
        if (action === 'disable' && request.body?.force !== true) await assertKnownUser(deps.store, request.params.name);
        const { user, sessions } = await deps.killSwitch.setUserDisabled(request.params.name, action === 'disable',
          { letStatementsFinish: request.body?.letStatementsFinish, by: request.subject?.id });
        request.log.info({ user: user.name, action, sessionsEnded: sessions.length, by: request.subject?.id }, `user ${action}d`);
        return { user, sessionsEnded: sessions };
      });
    }

    const accounts = ['service accounts'];
    app.post<{ Body: CreateAccountBody }>('/service-accounts', {
      schema: {
        tags: accounts, summary: 'Create a service account (for a service or an AI agent)',
        body: {
          type: 'object', additionalProperties: false, required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 63 }, kind: { type: 'string', enum: ['service', 'agent'] },
            description: { type: 'string', maxLength: 1000 }, groups: nonEmptyList, targets: nonEmptyList,
          },
        },
        response: { 201: accountShape, ...authErrors },
      },
    }, async (request, reply) => {
      const account = await deps.serviceAccounts.create(request.body);
      request.log.info({ account: account.name, by: request.subject?.id }, 'service account created');
      return reply.code(201).send(account);
    });

    app.get('/service-accounts', {
      schema: { tags: accounts, summary: 'List service accounts', response: { 200: { type: 'array', items: accountShape }, ...authErrors } },
    }, async () => deps.store.serviceAccounts.list());

    app.get<{ Params: { name: string } }>('/service-accounts/:name', {
      schema: { tags: accounts, summary: 'Show a service account and its API keys', params: nameParams,
        response: { 200: accountShape, 404: errorSchema, ...authErrors } },
    }, async (request) => {
      const account = await deps.serviceAccounts.get(request.params.name);
      return { ...account, keys: await deps.store.serviceAccounts.listKeys(account.name) };
    });

    for (const action of ['disable', 'enable'] as const) {
      app.post<{ Params: { name: string }; Body: RevocationBody | undefined }>(`/service-accounts/:name/${action}`, {
      preValidation: emptyBodyIsObject,
        schema: {
          tags: accounts, params: nameParams, body: revocationBody,
          summary: action === 'disable' ? 'Disable a service account: its keys stop working, live sessions end' : 'Enable it again',
          response: { 200: { type: 'object', properties: { account: accountShape, ...ended } }, 404: errorSchema, ...authErrors },
        },
      }, async (request) => {
        const { account, sessions } = await deps.killSwitch.setServiceAccountDisabled(request.params.name,
          action === 'disable', { letStatementsFinish: request.body?.letStatementsFinish, by: request.subject?.id });
        request.log.info({ account: account.name, action, sessionsEnded: sessions.length, by: request.subject?.id },
          `service account ${action}d`);
        return { account, sessionsEnded: sessions };
      });
    }

    app.post<{ Params: { name: string }; Body: { ttl?: string } | undefined }>('/service-accounts/:name/keys', {
      preValidation: emptyBodyIsObject,
      schema: {
        tags: accounts, summary: 'Create an API key (shown once)', params: nameParams,
        body: { type: 'object', additionalProperties: false, properties: { ttl: { type: 'string', description: 'e.g. 90d; default: no expiry' } } },
        response: {
          201: { type: 'object', required: ['key', 'id'], properties: { key: { type: 'string' }, id: { type: 'string' }, expiresAt: nullableText } },
          404: errorSchema, ...authErrors,
        },
      },
    }, async (request, reply) => {
      const ttl = request.body?.ttl === undefined ? undefined : parseDuration(request.body.ttl);
      const { key, record } = await deps.serviceAccounts.createKey(request.params.name, ttl);
      request.log.info({ account: record.serviceAccount, keyId: record.id, by: request.subject?.id }, 'API key created');
      return reply.code(201).send({ key, id: record.id, expiresAt: record.expiresAt });
    });

    app.post<{ Params: { id: string } }>('/api-keys/:id/revoke', {
      schema: { tags: accounts, summary: 'Revoke an API key, the tokens traded for it, and end their sessions', params: idParams,
        response: { 200: { ...keyShape, properties: { ...keyShape.properties, revokedTokens: strings, ...ended } }, 404: errorSchema, ...authErrors } },
    }, async (request) => {
      const { key, revokedTokens, sessions } = await deps.killSwitch.revokeApiKey(request.params.id, { by: request.subject?.id });
      request.log.info({ keyId: key.id, tokens: revokedTokens.length, sessionsEnded: sessions.length, by: request.subject?.id },
        'API key revoked');
      return { ...key, revokedTokens, sessionsEnded: sessions };
    });

    app.post<{ Params: { id: string }; Body: RevocationBody | undefined }>('/sessions/:id/kill', {
      preValidation: emptyBodyIsObject,
      schema: {
        tags: ['sessions'], summary: 'End a live session now (the caller is told why)', params: idParams, body: revocationBody,
        response: { 200: { type: 'object', properties: ended }, 404: errorSchema, ...authErrors },
      },
    }, async (request) => {
      const { sessions } = deps.killSwitch.killSession(request.params.id,
        { letStatementsFinish: request.body?.letStatementsFinish, by: request.subject?.id });
      request.log.info({ session: request.params.id, by: request.subject?.id }, 'session killed');
      return { sessionsEnded: sessions };
    });
  };
}
