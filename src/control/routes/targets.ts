/**
 * `/api/targets`: add, list, show, update, test and remove backends of every registered protocol. Turning requests
 * into records (protocol fields checked by the protocol's zod spec, secrets through the vault) lives in
 * target-records.ts. It must never return, log or store in clear a target's secret, nor return its ciphertext.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import type { Credentials } from '../../session/types.js';
import type { ControlDeps } from '../app.js';
import { authErrors, createTargetBodyFor, errorSchema, nameParams, targetView, type CreateTargetBody } from '../schemas.js';
import { targetFieldContext, targetSecretContext, toTargetRecord, toTargetView, updatedTargetRecord } from './target-records.js';
import { diagnosisSchema, updateTargetBody, type UpdateTargetBody } from './targets-schemas.js';

export { targetSecretContext, toTargetRecord, toTargetView, updatedTargetRecord, type TargetView } from './target-records.js';

function targetNotFound(name: string): WardenError {
  return new WardenError('WARDEN_ERR_TARGET_NOT_FOUND', `target ${name} not found`);
}

/** Registers the target routes (under the `/api` prefix). */
export function targetRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['targets'];

    app.post<{ Body: CreateTargetBody }>(
      '/targets',
      { schema: { tags, summary: 'Add a target', body: createTargetBodyFor(deps.protocols.names()), response: { 201: targetView, 409: errorSchema, ...authErrors } } },
      async (request, reply) => {
        const record = toTargetRecord(request.body, deps, new Date().toISOString());
        await deps.store.targets.insert(record).catch((err: unknown) => {
          if (!(err instanceof WardenError) || err.code !== 'WARDEN_ERR_CONFLICT') throw err;
          throw new WardenError('WARDEN_ERR_CONFLICT', `target ${record.name} already exists: change it with ` +
            `\`warden targets update ${record.name} ...\` (PATCH /api/targets/${record.name})`);
        });
        request.log.info({ target: record.name }, 'target added');
        return reply.code(201).send(toTargetView(record, deps.protocols));
      },
    );

    app.get(
      '/targets',
      { schema: { tags, summary: 'List targets', response: { 200: { type: 'array', items: targetView }, ...authErrors } } },
      async () => (await deps.store.targets.list()).map((t) => toTargetView(t, deps.protocols)),
    );

    app.get<{ Params: { name: string } }>(
      '/targets/:name',
      { schema: { tags, summary: 'Show a target', params: nameParams, response: { 200: targetView, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const target = await deps.store.targets.get(request.params.name);
        if (!target) throw targetNotFound(request.params.name);
        return toTargetView(target, deps.protocols);
      },
    );

    app.patch<{ Params: { name: string }; Body: UpdateTargetBody }>(
      '/targets/:name',
      { schema: { tags, summary: 'Change a target (absent fields stay; secrets are replaced, never shown)', params: nameParams,
        body: updateTargetBody, response: { 200: targetView, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const current = await deps.store.targets.get(request.params.name);
        if (!current) throw targetNotFound(request.params.name);
        const record = updatedTargetRecord(current, request.body, deps, new Date().toISOString());
        if (!(await deps.store.targets.update(record))) throw targetNotFound(request.params.name);
        request.log.info({ target: record.name, fields: Object.keys(request.body) }, 'target updated');
        return toTargetView(record, deps.protocols);
      },
    );

    app.post<{ Params: { name: string } }>(
      '/targets/:name/test',
      { schema: { tags, summary: 'Test a target step by step: DNS, TCP, TLS, login (ssh: DNS and TCP; kubernetes: GET /version)', params: nameParams,
        response: { 200: diagnosisSchema, 404: errorSchema, ...authErrors } } },
      async (request) => {
        const record = await deps.store.targets.get(request.params.name);
        if (!record) throw targetNotFound(request.params.name);
        const target = deps.protocols.target(record);
        const diagnose = deps.diagnosers?.[target.type];
        if (diagnose === undefined) throw new WardenError('WARDEN_ERR_BAD_REQUEST', `testing ${target.type} targets is not supported`);
        // Decrypted only when a step logs in, like the pipeline's: the password and each of the protocol's secrets.
        const credentials = async () => {
          const decrypted: Record<string, string | null> = { user: 'user' in target ? target.user : '',
            password: record.passwordEnc === null ? null : deps.vault.decrypt(record.passwordEnc, targetSecretContext(record.name)) };
          for (const field of deps.protocols.require(target.type).secretFields) {
            const enc = record.secretsEnc?.[field];
            decrypted[field] = enc === undefined ? null : deps.vault.decrypt(enc, targetFieldContext(record.name, field));
          }
          return decrypted as unknown as Credentials;
        };
        const diagnosis = await diagnose(target, credentials);
        request.log.info({ target: record.name, ok: diagnosis.ok }, 'target tested');
        return diagnosis;
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
