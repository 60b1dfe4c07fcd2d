/**
 * The few server-rendered HTML pages of the portal (sign-in, who is signed in, sign-in errors): escaping and one
 * page layout. Every value placed in a page goes through `escapeHtml`; pages carry a strict Content-Security-Policy
 * (no scripts at all) and are never cached, since they show who is signed in.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { classify, errorBody } from './errors.js';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A complete page around `body` (already-escaped HTML). */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Warden</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
a.button,button{display:inline-block;padding:.5rem 1rem;margin:.25rem 0;border:1px solid #888;border-radius:4px;background:#f4f4f4;color:#222;text-decoration:none;font:inherit;cursor:pointer}
.error{color:#a00}code{background:#f4f4f4;padding:0 .2rem}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

/** Sends an HTML page with the headers every portal page gets. */
export function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY')
    .send(html);
}

/** True when the client asked for JSON rather than a page (API clients, not browsers). */
export function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

/**
 * Renders a failure of a browser route: the error's public message as a page (or the API's JSON error body for
 * JSON clients), with the status of its kind. Logs the code and internal detail, never request data.
 */
export function sendErrorPage(request: FastifyRequest, reply: FastifyReply, err: unknown, title = 'Sign-in failed'): FastifyReply {
  const { status, error } = classify(err);
  const log = { code: error.code, status, detail: error.detail };
  if (status >= 500) request.log.error(log, error.message);
  else request.log.warn(log, error.message);
  if (wantsJson(request)) return reply.code(status).header('cache-control', 'no-store').send(errorBody(error));
  return sendPage(reply, status, page(title, `<p class="error">${escapeHtml(error.callerMessage)}</p>
<p><small>${escapeHtml(error.code)}</small></p>
<p><a class="button" href="/">Back to the sign-in page</a></p>`));
}
