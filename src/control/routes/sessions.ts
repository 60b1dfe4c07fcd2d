/**
 * `/api/sessions`: read-only access to recorded sessions and their event streams. It flushes the recorder before
 * every read so that what a caller just did is visible; it must never write to the store.
 */
import type { FastifyPluginAsync } from 'fastify';
import { WardenError } from '../../errors.js';
import { buildCast, loadCastEvents } from '../../recording/cast-replay.js';
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

    app.get<{ Params: { id: string }; Querystring: CastQuery }>(
      '/sessions/:id/cast',
      {
        schema: {
          tags,
          summary: 'A terminal session as an asciicast v2 file (asciinema play), optionally from a time offset',
          description: 'The recording as the caller saw it (masked output, echoed input only). With `from`, it starts '
            + 'at the nearest screen keyframe before the offset and reads only the recording from there on.',
          params: idParams,
          querystring: castQuery,
          response: {
            200: { description: 'asciicast v2: a JSON header line, then one [time, code, data] JSON array per line',
              content: { 'application/x-asciicast': { schema: { type: 'string' } } } },
            404: errorSchema,
            ...authErrors,
          },
        },
      },
      async (request, reply) => {
        await deps.recorder.flush();
        const session = await deps.store.sessions.get(request.params.id);
        if (!session) throw new WardenError('WARDEN_ERR_NOT_FOUND', `session ${request.params.id} not found`);
        const options = { from: request.query.from, channel: request.query.channel };
        const cast = buildCast(await loadCastEvents(deps.store.sessions, session.id, options), options);
        return reply.header('content-type', 'application/x-asciicast; charset=utf-8').send(cast);
      },
    );
  };
}

/** Query of `GET /api/sessions/:id/cast`. */
interface CastQuery {
  from?: number;
  channel?: string;
}

const castQuery = {
  type: 'object',
  properties: {
    from: { type: 'number', minimum: 0, description: 'start this many seconds into the recording' },
    channel: { type: 'string', minLength: 1, maxLength: 32, description: 'which terminal of the session (default: the first)' },
  },
} as const;
