/**
 * `/api/targets`: add, list, show and remove backends. Owns turning a request into a TargetRecord (the password goes
 * through the vault, bound to the target's name) and a record into its public view. It must never return, log or
 * store in clear a target's password, nor return its ciphertext.
 */
import { X509Certificate } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import type { TargetRecord } from '../../store/types.js';
import type { ControlDeps } from '../app.js';
import {
  authErrors,
  createTargetBody,
  errorSchema,
  nameParams,
  targetView,
  type CreateTargetBody,
} from '../schemas.js';

/** A target as the API returns it. */
export interface TargetView {
  name: string;
  type: string;
  host: string;
  port: number;
  database: string;
  user: string;
  tls: TargetRecord['tls'];
  hasPassword: boolean;
  hasCa: boolean;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** The vault context a target's password is encrypted under; binds the ciphertext to that one target. */
export function targetSecretContext(name: string): string {
  return `target:${name}`;
}

/** The public view of a stored target: built field by field so a new secret column can never slip through. */
export function toTargetView(t: TargetRecord): TargetView {
  return {
    name: t.name,
    type: t.type,
    host: t.host,
    port: t.port,
    database: t.database,
    user: t.user,
    tls: t.tls,
    hasPassword: t.passwordEnc !== null,
    hasCa: t.ca !== null,
    labels: t.labels,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** Checks that a CA bundle holds at least one parseable PEM certificate, so a bad file fails now, not at connect. */
function checkCa(ca: string): void {
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'ca must be a PEM certificate bundle (-----BEGIN CERTIFICATE-----)');
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'ca holds no valid PEM certificate');
  }
}

function targetNotFound(name: string): WardenError {
  return new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target ${name} not found`);
}

/** Builds the record to store from a validated request body. */
export function toTargetRecord(body: CreateTargetBody, deps: Pick<ControlDeps, 'vault'>, now: string): TargetRecord {
  if (body.ca !== undefined) checkCa(body.ca);
  const password = body.password ?? null;
  return {
    name: body.name,
    type: body.type,
    host: body.host,
    port: body.port,
    database: body.database,
    user: body.user,
    passwordEnc: password === null ? null : deps.vault.encrypt(password, targetSecretContext(body.name)),
    tls: body.tls,
    ca: body.ca ?? null,
    labels: body.labels ?? {},
    createdAt: now,
    updatedAt: now,
  };
}

/** Registers the target routes (under the `/api` prefix). */
export function targetRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['targets'];

    app.post<{ Body: CreateTargetBody }>(
      '/targets',
      { schema: { tags, summary: 'Add a target', body: createTargetBody, response: { 201: targetView, 409: errorSchema, ...authErrors } } },
      async (request, reply) => {
        const record = toTargetRecord(request.body, deps, new Date().toISOString());
        await deps.store.targets.insert(record);
        request.log.info({ target: record.name }, 'target added');
        return reply.code(201).send(toTargetView(record));
      },
    );

    app.get(
      '/targets',
      { schema: { tags, summary: 'List targets', response: { 200: { type: 'array', items: targetView }, ...authErrors } } },
      async () => (await deps.store.targets.list()).map(toTargetView),
    );

    app.get<{ Params: { name: string } }>(
      '/targets/:name',
      { schema: { tags, summary: 'Show a target', params: nameParams, response: { 200: targetView, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const target = await deps.store.targets.get(request.params.name);
        if (!target) throw targetNotFound(request.params.name);
        return toTargetView(target);
      },
    );

    app.delete<{ Params: { name: string } }>(
      '/targets/:name',
      { schema: { tags, summary: 'Remove a target', params: nameParams, response: { 204: { type: 'null' }, 404: errorSchema, ...authErrors } } },
      async (request, reply) => {
        if (!(await deps.store.targets.remove(request.params.name))) throw targetNotFound(request.params.name);
        request.log.info({ target: request.params.name }, 'target removed');
        return reply.code(204).send();
      },
    );
  };
}
