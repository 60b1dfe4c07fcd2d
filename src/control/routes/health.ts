/**
 * `/api/health`: the one unauthenticated liveness probe. It must never reveal more than the status and the version.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ControlDeps } from '../app.js';

/** Registers `GET /health` (under the `/api` prefix), public. */
export function healthRoutes(deps: Pick<ControlDeps, 'version'>): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/health',
      {
        config: { auth: 'public' },
        schema: {
          tags: ['health'],
          summary: 'Liveness probe (no token needed)',
          security: [],
          response: {
            200: {
              type: 'object',
              required: ['status', 'version'],
              properties: { status: { type: 'string', enum: ['ok'] }, version: { type: 'string' } },
            },
          },
        },
      },
      async () => ({ status: 'ok' as const, version: deps.version }),
    );
  };
}
