/**
 * The masked path of the relay: upstream chunks go through the session's ResultMasker message by message. Untouched
 * messages keep their bytes; a rewritten one replaces its bytes; an incomplete data message is withheld until it
 * is whole, so no original byte of it reaches the caller. Once a chunk holds a rewritten message, its output is
 * assembled in one buffer (runs of untouched bytes copied, rewritten rows written in place) and sent with one
 * socket write. A RowDescription whose tables, or a COPY whose table, must first be looked up in the catalog
 * stops the stream (upstream paused, later chunks queued) until the lookup is done. Owns no socket's life: the
 * relay ends the session.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type WardenError, toWardenError } from '../../errors.js';
import { ByteSink } from '../../masking/sink.js';
import type { FrameScanner } from './codec.js';
import { PauseReason, type PauseReasonBit, continueSession } from './flow.js';
import type { ResultMasker, RunningStatement } from './result-masking.js';

/** Thrown inside the visitor to stop at a message that needs a catalog lookup first. */
const HOLD = Symbol('hold');
const EMPTY = Buffer.alloc(0);

/** What the masked path needs from the relay. */
export interface MaskedHost {
  client: Socket;
  upstream: Socket;
  masker: ResultMasker;
  /** The relay's upstream scanner (its interest includes every message masking reads). */
  scanner: FrameScanner;
  logger: Logger;
  sessionId: string;
  /** What the relay reads of every message it looks at (statement tracking, the recording): the masked form. */
  visit(type: number, body: Buffer): void;
  /** The statement the upstream is answering now. */
  running(): RunningStatement | undefined;
  /** Takes held bytes again as if they had just come from the upstream. */
  feed(chunk: Buffer): void;
  /** Whether the relay is ending the session. */
  ended(): boolean;
  /** Flow control of the upstream socket (the relay owns it): pause for a reason, resume when it is gone. */
  pauseUpstream(reason: PauseReasonBit): void;
  resumeUpstream(reason: PauseReasonBit): void;
  /** Ends the session because masking could not go on. */
  fail(reason: string, err: WardenError): void;
}

/** Forwards upstream chunks through the masker (see the module comment). */
export class MaskedForwarder {
  /** The chunk being forwarded and where its current run of untouched bytes starts. */
  private chunk: Buffer = EMPTY;
  private runStart = 0;
  /** Bytes of an incomplete data message from earlier chunks, withheld until it is whole. */
  private carry: Buffer[] = [];
  private clientFull = false;
  private hold: { lookup: () => Promise<void>; rest: Buffer } | null = null;
  private readonly queue: Buffer[] = [];
  private readonly sink = new ByteSink();

  constructor(private readonly h: MaskedHost) {}

  /** Forwards one upstream chunk; throws what the masker or the scanner throws (the relay ends the session). */
  forward(chunk: Buffer): void {
    if (this.hold) {
      this.queue.push(chunk);
      return;
    }
    this.chunk = chunk;
    this.runStart = 0;
    this.clientFull = false;
    try {
      this.h.scanner.scan(chunk, this.visit);
    } catch (err) {
      // What was assembled ends on a message boundary: send it, then stop (hold) or fail.
      this.flush();
      if (err !== HOLD) throw err;
      this.startHold();
      return;
    }
    const incomplete = this.h.scanner.incompleteFrom;
    const runEnd = incomplete < 0 ? chunk.length : Math.max(incomplete, this.runStart);
    if (this.sink.length > 0) {
      this.sink.append(chunk, this.runStart, runEnd);
      this.flush();
    } else if (runEnd > this.runStart) {
      this.write(this.runStart === 0 && runEnd === chunk.length ? chunk : chunk.subarray(this.runStart, runEnd));
    }
    if (incomplete >= 0) this.carry.push(chunk.subarray(runEnd));
    if (this.clientFull) this.h.pauseUpstream(PauseReason.clientSlow);
  }

  private readonly visit = (type: number, body: Buffer, end: number): void => {
    const start = end - 5 - body.length;
    const { masker } = this.h;
    if (type === 0x44 /* D */) {
      // The hot path: the tracker and the recording read nothing of a DataRow.
      if (!masker.editRow(body)) {
        if (start < 0 && this.carry.length > 0) this.flushCarry();
        return;
      }
      this.cut(start);
      masker.writeRow(this.sink);
      this.runStart = end;
      return;
    }
    const running = type === 0x48 /* H */ ? this.h.running() : undefined;
    if (type === 0x54 /* T */ || type === 0x48) {
      const lookup = masker.lookupBefore(type, body, running);
      if (lookup !== null) {
        // Its rows cannot be masked before the lookup: stop here, keep the bytes from this message on.
        if (start > this.runStart) this.sink.append(this.chunk, this.runStart, start);
        const rest = start < 0 ? Buffer.concat([...this.carry.splice(0), this.chunk]) : this.chunk.subarray(start);
        this.hold = { lookup, rest };
        throw HOLD;
      }
    }
    const replacement = masker.transform(type, body, running);
    // The recording sees what the caller sees: an error whose text was masked is recorded masked; an empty
    // replacement (the answer to Warden's own Describe) is seen by nobody.
    if (replacement === null || replacement.length > 0) this.h.visit(type, replacement === null ? body : replacement.subarray(5));
    if (replacement === null) {
      if (start < 0 && this.carry.length > 0) this.flushCarry();
      return;
    }
    this.cut(start);
    this.sink.append(replacement);
    this.runStart = end;
  };

  /** A message from `start` on is replaced: the untouched run before it goes to the output, withheld bytes are dropped. */
  private cut(start: number): void {
    if (this.sink.length === 0) this.sink.reserve(this.chunk.length + (this.chunk.length >> 3));
    if (start > this.runStart) this.sink.append(this.chunk, this.runStart, start);
    if (this.carry.length > 0) this.carry = [];
  }

  /** An untouched message that began in an earlier chunk: its withheld bytes go out first (nothing of this chunk has yet). */
  private flushCarry(): void {
    for (const piece of this.carry.splice(0)) this.write(piece);
  }

  private flush(): void {
    const out = this.sink.take();
    if (out === null) return;
    // Once the socket has sent it, the buffer is filled again for a later chunk.
    if (!this.h.client.write(out, () => this.sink.recycle(out))) this.clientFull = true;
  }

  private write(bytes: Buffer): void {
    if (!this.h.client.write(bytes)) this.clientFull = true;
  }

  /** Pauses the upstream while the catalog is read, then goes on with the held bytes and what came meanwhile. */
  private startHold(): void {
    const hold = this.hold!;
    this.h.pauseUpstream(PauseReason.catalogLookup);
    continueSession(hold.lookup(), () => {
      this.hold = null;
      if (this.h.ended()) return;
      for (const chunk of [hold.rest, ...this.queue.splice(0)]) {
        if (this.hold) this.queue.push(chunk);
        else this.h.feed(chunk);
      }
      // A slow caller keeps its own reason: only the lookup's is removed here.
      if (!this.hold) this.h.resumeUpstream(PauseReason.catalogLookup);
    }, (err: unknown) => {
      this.hold = null;
      const error = toWardenError(err);
      this.h.logger.error({ session: this.h.sessionId, detail: error.detail }, error.message);
      this.h.fail(`masking failed: ${error.message}`, error);
    });
  }
}
