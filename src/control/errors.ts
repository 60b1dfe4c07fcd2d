/**
 * The control API's error rendering: every failure becomes `{ error: { code, message } }` with an HTTP status taken
 * from the WardenError kind. Validation and other client errors raised by fastify itself are translated into Warden
 * codes. This module must never send an internal message (stack, SQL, upstream text) to a client: those only go to
 * the log.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardenError, toWardenError, type ErrorCode, type ErrorKind } from '../errors.js';

/** HTTP status of each error kind. */
export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  unauthenticated: 401,
  denied: 403,
  bad_input: 400,
  not_found: 404,
  conflict: 409,
  upstream: 502,
  unavailable: 503,
  internal: 500,
};

/** The body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** Builds the error body of a WardenError, with the message a caller may see. */
export function errorBody(err: WardenError): ErrorBody {
  return { error: { code: err.code, message: err.callerMessage } };
}

/** One ajv error, as fastify attaches them to a validation error. */
interface ValidationItem {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * A readable sentence for the first validation failure. Ajv's own wording is kept except where it hides the one
 * fact a client needs: which unknown field was sent, which values are allowed.
 */
export function validationMessage(context: string | undefined, items: ValidationItem[]): string {
  const item = items[0];
  if (!item) return 'invalid request';
  const where = `${context ?? 'request'}${item.instancePath.replace(/^\//, '/')}`;
  if (item.keyword === 'additionalProperties') {
    return `${where} has an unknown field "${String(item.params.additionalProperty)}"`;
  }
  if (item.keyword === 'enum' && Array.isArray(item.params.allowedValues)) {
    return `${where} must be one of: ${item.params.allowedValues.join(', ')}`;
  }
  return `${where} ${item.message ?? 'is invalid'}`;
}

/**
 * Errors fastify raises before a handler runs (bad JSON, wrong content type, body too large) carry a 4xx status
 * and a message written for clients; keep their status, give them a Warden code.
 */
function fromFastifyClientError(err: FastifyError): { status: number; error: WardenError } | undefined {
  const status = err.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (err.validation) {
    const message = validationMessage(err.validationContext, err.validation as ValidationItem[]);
    return { status: 400, error: new WardenError('WARDEN_ERR_BAD_REQUEST', `invalid request: ${message}`) };
  }
  if (status === 415) {
    return { status, error: new WardenError('WARDEN_ERR_UNSUPPORTED', 'unsupported content type: send application/json') };
  }
  const code: ErrorCode = status === 413 ? 'WARDEN_ERR_MESSAGE_TOO_LARGE' : 'WARDEN_ERR_BAD_REQUEST';
  return { status, error: new WardenError(code, err.message) };
}

/** Classifies anything thrown into the status and WardenError to render. */
export function classify(err: unknown): { status: number; error: WardenError } {
  if (err instanceof WardenError) return { status: STATUS_BY_KIND[err.kind], error: err };
  const client = fromFastifyClientError(err as FastifyError);
  if (client) return client;
  const error = toWardenError(err);
  return { status: STATUS_BY_KIND[error.kind], error };
}

function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, error } = classify(err);
  if (status >= 500) {
    // The detail (stack, upstream text) is for operators only.
    request.log.error({ code: error.code, detail: error.detail ?? (err as Error)?.stack }, 'control API request failed');
  } else {
    // Details of client errors (why a token failed to verify) help operators and hold no secret.
    request.log.info({ code: error.code, status, detail: error.detail }, error.message);
  }
  if (error.code === 'WARDEN_ERR_UNAUTHENTICATED' || error.kind === 'unauthenticated') {
    reply.header('www-authenticate', 'Bearer realm="warden"');
  }
  void reply.code(status).send(errorBody(error));
}

/** Installs the error handler and the JSON 404 for unknown routes on the root instance. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    const error = new WardenError('WARDEN_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    void reply.code(404).send(errorBody(error));
  });
}
