/**
 * A request body before and after the decision: up to MAX_JUDGED_BODY bytes are read first (kubernetes/request-body.ts
 * readBodyHead), so the analyser judges what a JSON body says; the upstream then receives exactly the bytes the
 * caller sent, the part read plus the rest of the stream. A body declared larger than MAX_REQUEST_BODY is refused
 * (413) before anything; a chunked one that grows past it is cut. Nothing is forwarded before the decision.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { WardenError } from '../../errors.js';
import type { ReadBody } from '../kubernetes/request-body.js';

/** Largest body Warden relays (declared or streamed): 64 MiB. */
export const MAX_REQUEST_BODY = 64 * 1024 * 1024;

/** Refused: the body is larger than MAX_REQUEST_BODY. */
export function bodyTooLarge(): WardenError {
  return new WardenError('WARDEN_ERR_MESSAGE_TOO_LARGE', `the request body is larger than ${MAX_REQUEST_BODY / 1024 / 1024} MiB`);
}

/** True when the request announces a body (chunked, or a Content-Length above 0); throws when it is too large. */
export function announcesBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > MAX_REQUEST_BODY) throw bodyTooLarge();
  return length > 0;
}

/**
 * The JSON text the analyser gets: the whole body when it was read completely, is UTF-8 JSON and is declared JSON
 * (`application/json`, `+json`) or not declared at all; undefined when it must be judged unread. A body declared as
 * anything else (a form, text) is judged unread even when it parses as JSON: `{"a":"&role=admin&x="}` is JSON with
 * field `a` but a form with field `role`, and the upstream reads it by its declared type.
 */
export function judgedJson(body: ReadBody, contentType?: string): string | undefined {
  if (!body.complete) return undefined;
  if (contentType !== undefined && !isJsonType(contentType)) return undefined;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body.head);
    JSON.parse(text);
    return text;
  } catch {
    return undefined;
  }
}

/** The body to forward: the bytes read, then the rest of the caller's stream, cut (with `onTooLarge`) past the cap. */
export function forwardedBody(req: IncomingMessage, body: ReadBody, onTooLarge: () => void): Buffer | Readable {
  if (body.complete) return body.head;
  async function* rest(): AsyncGenerator<Buffer> {
    let size = body.head.length;
    yield body.head;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_REQUEST_BODY) {
        onTooLarge();
        throw bodyTooLarge();
      }
      yield chunk as Buffer;
    }
  }
  return Readable.from(rest());
}

/** True for `application/json`, `text/json` and any `+json` media type, whatever its parameters. */
export function isJsonType(contentType: string): boolean {
  const type = contentType.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || type === 'text/json' || type.endsWith('+json');
}
