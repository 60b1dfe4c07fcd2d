/**
 * `/api/sessions`: read-only access to recorded sessions and their event streams. It flushes the recorder before
 * every read so that what a caller just did is visible; it must never write to the store.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import type { SessionQuery } from '../../store/types.js';
import type { ControlDeps } from '../app.js';
import {
  authErrors,
  errorSchema,
  idParams,
  sessionEvent,
  sessionListQuery,
  sessionRecord,
  type SessionListQuery,
} from '../schemas.js';

/** Turns the validated query string into a store query, leaving out filters that were not given. */
export function toSessionQuery(q: SessionListQuery): SessionQuery {
  const query: SessionQuery = { limit: q.limit };
  if (q.subject !== undefined) query.subject = q.subject;
  if (q.target !== undefined) query.target = q.target;
  if (q.active !== undefined) query.active = q.active;
  return query;
}

/** Registers the session routes (under the `/api` prefix). */
export function sessionRoutes(deps: ControlDeps): FastifyPluginAsync {
  return async (app) => {
    const tags = ['sessions'];

    app.get<{ Querystring: SessionListQuery }>(
      '/sessions',
      {
        schema: {
          tags,
          summary: 'List sessions, newest first',
          querystring: sessionListQuery,
          response: { 200: { type: 'array', items: sessionRecord }, ...authErrors },
        },
      },
      async (request) => {
        await deps.recorder.flush();
        return deps.store.sessions.list(toSessionQuery(request.query));
      },
    );

    app.get<{ Params: { id: string } }>(
      '/sessions/:id',
      {
        schema: {
          tags,
          summary: 'Show a session and its events in order',
          params: idParams,
          response: {
            200: {
              type: 'object',
              required: ['session', 'events'],
              properties: { session: sessionRecord, events: { type: 'array', items: sessionEvent } },
            },
            404: errorSchema,
            ...authErrors,
          },
        },
      },
      async (request) => {
        await deps.recorder.flush();
        const session = await deps.store.sessions.get(request.params.id);
        if (!session) throw new WardenError('WARDEN_ERR_NOT_FOUND', `session ${request.params.id} not found`);
        const events = await deps.store.sessions.events(session.id);
        return { session, events };
      },
    );
  };
}
