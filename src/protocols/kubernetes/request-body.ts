/**
 * Reading a write's body before the decision: up to a limit, so the analyser judges what the body says (a scale to
 * zero, a Secret's data) and the upstream receives exactly those bytes. A body past the limit is judged unread (the
 * analyser assumes the worst) and, once allowed, forwarded as the prefix read plus the rest of the stream, so the
 * bytes sent are still the bytes the caller sent, in order. Nothing is forwarded before the decision.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/** Largest write body Warden reads whole before deciding (1 MiB: above any ordinary manifest). */
export const MAX_JUDGED_BODY = 1024 * 1024;

/** A request body as far as Warden read it. */
export interface ReadBody {
  /** What was read (the whole body when `complete`). */
  head: Buffer;
  /** True when the whole body was read (it is at most the limit). */
  complete: boolean;
}

/** Reads up to `limit` bytes of a request body; the stream is paused after, with the rest still unread. */
export function readBodyHead(req: IncomingMessage, limit = MAX_JUDGED_BODY): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (complete: boolean) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve({ head: Buffer.concat(chunks), complete });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.pause();
        done(false);
      }
    };
    const onEnd = () => done(true);
    const onError = (err: Error) => reject(err);
    const onClose = () => { if (!req.complete) reject(new Error('the caller closed the request before its body ended')); };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/** The body to forward: the bytes read, then (when incomplete) the rest of the caller's stream. */
export function forwardedBody(req: IncomingMessage, body: ReadBody): Buffer | Readable {
  if (body.complete) return body.head;
  async function* rest(): AsyncGenerator<Buffer> {
    yield body.head;
    for await (const chunk of req) yield chunk as Buffer;
  }
  return Readable.from(rest());
}

/** Body types whose JSON text the analyser can read (server-side apply's YAML type carries JSON from kubectl). */
const JSON_TYPES = new Set(['application/json', 'application/merge-patch+json', 'application/json-patch+json',
  'application/strategic-merge-patch+json', 'application/apply-patch+yaml']);

/**
 * The body as the analyser gets it: its text when the type is one of JSON_TYPES and the bytes are valid UTF-8
 * JSON, else undefined (judged unread).
 */
export function judgedBodyText(contentType: string | undefined, body: ReadBody): string | undefined {
  if (!body.complete || contentType === undefined) return undefined;
  if (!JSON_TYPES.has(contentType.split(';')[0].trim().toLowerCase())) return undefined;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body.head);
    JSON.parse(text);
    return text;
  } catch {
    return undefined;
  }
}
