/**
 * Relays an upstream's answer to the caller, streaming (each chunk written as it arrives, so SSE and chunked
 * streams are never buffered): headers as response-headers.ts says, the body through the session's mask plan
 * (response-masking, when the session has masking rules) and through the credential scrubber (identity-encoded
 * bodies of targets with an injected credential). Fail closed: an answer a rule says must be masked but Warden cannot
 * inspect is refused (502) before any byte; a 401 to Warden's credential becomes a 502 (the caller's own credential
 * is Warden's, so the upstream's 401 would mislead it). The first `recordLimit` bytes sent are kept for the recording.
 */
import type { ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { WardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import { planResponseBody, type BodyPlan } from './response-masking.js';
import { callerHeaders, headerPairs, recordedHeaders } from './response-headers.js';
import { ScrubStream } from './secret-scrub.js';
import type { HttpSession } from './sessions.js';

/** What the relay needs besides the answer. */
export interface RelayContext {
  http: HttpSession;
  pipeline: SessionPipeline;
  /** Warning header lines Warden adds. */
  warnings: string[];
  /** Bytes of the answer kept for the recording (0: none). */
  recordLimit?: number;
}

/** What the relay saw, for the recording. */
export interface RelayResult {
  status: number;
  responseBytes: number;
  responseHeaders: Array<[string, string]>;
  responseContentType?: string;
  /** The first bytes sent to the caller (identity-encoded answers only), for the recording. */
  responseHead?: Buffer;
  masked?: Record<string, number>;
}

/** Counts (and keeps the head of) what reaches the caller. */
class Tap extends Transform {
  bytes = 0;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.keptBytes < this.limit) {
      const part = chunk.subarray(0, this.limit - this.keptBytes);
      this.kept.push(Buffer.from(part));
      this.keptBytes += part.length;
    }
    done(null, chunk);
  }

  head(): Buffer {
    return Buffer.concat(this.kept);
  }
}

/** The plan for an answer: pass when the session has no masking rule. */
function planFor(ctx: RelayContext, headers: Dispatcher.ResponseData['headers']): BodyPlan {
  const masking = ctx.pipeline.masking(ctx.http.session);
  return masking.rules.length === 0 ? { kind: 'pass' } : planResponseBody(masking, headers);
}

/** Relays `upstream` to `res`; throws a WardenError before the first byte when it must refuse. */
export async function relayAnswer(upstream: Dispatcher.ResponseData, res: ServerResponse, ctx: RelayContext): Promise<RelayResult> {
  const { http } = ctx;
  if (upstream.statusCode === 401 && http.target.auth !== 'none') {
    upstream.body.destroy();
    throw new WardenError('WARDEN_ERR_UPSTREAM_AUTH', `the upstream of target "${http.target.name}" refused the credential `
      + 'Warden holds for it (401): an administrator must renew it (warden targets test)');
  }
  const plan = planFor(ctx, upstream.headers);
  if (plan.kind === 'refuse') {
    upstream.body.destroy();
    throw new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `Warden must mask this answer but ${plan.reason}, so it was not passed on`);
  }
  let headers = callerHeaders(upstream.headers, http.secretForms);
  const stages: Transform[] = [];
  const masker = plan.kind === 'mask' ? plan.open() : null;
  if (plan.kind === 'mask') {
    headers = plan.headers(headers);
    stages.push(masker!.stream);
  }
  const identity = String(headers['content-encoding'] ?? 'identity').toLowerCase() === 'identity';
  if (http.secretForms.length > 0 && identity) stages.push(new ScrubStream(http.secretForms));
  if (ctx.warnings.length > 0) {
    const had = headers.warning;
    headers.warning = [...(had === undefined ? [] : Array.isArray(had) ? had : [had]), ...ctx.warnings];
  }
  const tap = new Tap(identity ? ctx.recordLimit ?? 0 : 0);
  res.writeHead(upstream.statusCode, headers);
  res.flushHeaders();
  const contentType = headers['content-type'];
  const result: RelayResult = { status: upstream.statusCode, responseBytes: 0, responseHeaders: recordedHeaders(headerPairs(headers)),
    ...(typeof contentType === 'string' ? { responseContentType: contentType } : {}) };
  try {
    await pipe([upstream.body, ...stages, tap, res]);
  } finally {
    result.responseBytes = tap.bytes;
    if (identity) result.responseHead = tap.head();
    const hits = masker?.hits();
    if (hits !== undefined && Object.keys(hits).length > 0) result.masked = hits;
  }
  return result;
}
