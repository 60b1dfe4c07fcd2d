/**
 * The relay of an open PostgreSQL session: caller bytes go through the gate (which lets the pipeline judge every
 * statement), upstream bytes go to the caller untouched, in the chunks TCP delivered, while a frame scanner looks
 * at the few messages that tell how each forwarded message ended. Backpressure is the sockets' own: a side that
 * cannot keep up pauses the other. The relay owns the two sockets' life: it ends the session from either side.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import { FrameScanner, decodeCommandComplete, decodeErrorFields } from './codec.js';
import { encodeWardenError } from './errors.js';
import { ClientGate } from './gate.js';
import { StatementTracker } from './statements.js';
import type { ResultMasker } from './result-masking.js';

/** Backend messages the relay reads: the answers that close forwarded messages. */
const BACKEND_INTEREST = (() => {
  const table = new Uint8Array(256);
  for (const t of '123TnCIsEZ') table[t.charCodeAt(0)] = 1;
  return table;
})();
/** Larger backend messages of those kinds are not legitimate (a RowDescription of 1,600 columns is ~100 KB). */
const MAX_BACKEND_INTERESTING = 16 * 1024 * 1024;
/** With masking, the messages that carry data are read too: DataRow, CopyOutResponse, CopyData, NOTIFY, notices. */
const MASKED_INTEREST = (() => {
  const table = Uint8Array.from(BACKEND_INTEREST);
  for (const t of 'DHdAN') table[t.charCodeAt(0)] = 1;
  return table;
})();
/** A DataRow may hold up to 1 GB (PostgreSQL's own limit on a value); a masked one is assembled whole. */
const MAX_MASKED_MESSAGE = 1024 * 1024 * 1024;
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
/** Thrown inside the masked visitor to stop at a RowDescription whose tables must be looked up first. */
const HOLD = Symbol('hold');

/** What the relay needs to run. */
export interface RelayOptions {
  session: Session;
  /** Set when masking rules apply to this session; results are then rewritten message by message. */
  masker?: ResultMasker;
  pipeline: SessionPipeline;
  client: Socket;
  upstream: Socket;
  logger: Logger;
  maxMessageBytes: number;
}

/** Relays one session until either side ends; resolves with the reason it ended. */
export class Relay {
  private readonly upstreamScanner: FrameScanner;
  /** Masked path: the chunk being rewritten, where its run of untouched messages starts, withheld bytes. */
  private maskChunk: Buffer = Buffer.alloc(0);
  private maskRunStart = 0;
  private maskCarry: Buffer[] = [];
  private clientFull = false;
  /** Set while the upstream is held for a catalog lookup: the tables to look up and the bytes from the RowDescription on. */
  private maskHold: { pending: number[]; rest: Buffer } | null = null;
  private readonly maskQueue: Buffer[] = [];
  private readonly tracker: StatementTracker;
  private readonly gate: ClientGate;
  private endReason: string | null = null;
  private resolveDone!: (reason: string) => void;
  private readonly done = new Promise<string>((resolve) => (this.resolveDone = resolve));
  private clientClosed = false;
  private upstreamClosed = false;
  private clientPausedByGate = false;
  private boundaryWaiters: (() => void)[] = [];

  constructor(private readonly o: RelayOptions) {
    this.tracker = new StatementTracker((command, outcome) => o.pipeline.onOutcome(o.session, command, outcome));
    this.upstreamScanner = o.masker ? new FrameScanner(MASKED_INTEREST, MAX_MASKED_MESSAGE)
      : new FrameScanner(BACKEND_INTEREST, MAX_BACKEND_INTERESTING);
    this.gate = new ClientGate({
      session: o.session, pipeline: o.pipeline, tracker: this.tracker, maxMessageBytes: o.maxMessageBytes,
      io: {
        toUpstream: (bytes) => { if (!o.upstream.write(bytes)) o.client.pause(); },
        toClient: (bytes) => { if (!o.client.destroyed) o.client.write(bytes); },
        whenClientAtBoundary: () => this.whenClientAtBoundary(),
        pauseClient: () => { this.clientPausedByGate = true; o.client.pause(); },
        resumeClient: () => { this.clientPausedByGate = false; o.client.resume(); },
      },
    });
  }

  /** Starts relaying (after feeding bytes either side sent early) and resolves with the end reason. */
  run(clientLeftover: Buffer, upstreamLeftover: Buffer): Promise<string> {
    const { client, upstream } = this.o;
    client.on('data', this.onClientData);
    upstream.on('data', this.onUpstreamData);
    // The gate may hold the caller (a statement awaiting approval); drain must not undo that.
    client.on('drain', () => upstream.resume());
    upstream.on('drain', () => { if (!this.clientPausedByGate) client.resume(); });
    client.on('error', (err) => this.o.logger.debug({ err, session: this.o.session.id }, 'client socket error'));
    upstream.on('error', (err) => this.o.logger.debug({ err, session: this.o.session.id }, 'upstream socket error'));
    client.on('close', () => this.onClientClose());
    upstream.on('close', () => this.onUpstreamClose());
    if (upstreamLeftover.length > 0) this.onUpstreamData(upstreamLeftover);
    if (clientLeftover.length > 0) this.onClientData(clientLeftover);
    if (!this.clientPausedByGate) client.resume();
    upstream.resume();
    return this.done;
  }

  /**
   * Ends the session from Warden's side (shutdown, kill switch): the caller gets a FATAL ErrorResponse with the
   * reason when its stream is between messages (otherwise a clean close), the upstream a Terminate.
   */
  terminate(reason: string): Promise<string> {
    const err = new WardenError('WARDEN_ERR_SHUTTING_DOWN', `terminating connection: ${reason}`);
    this.endWith(reason, encodeWardenError(err));
    return this.done;
  }

  private readonly onClientData = (chunk: Buffer): void => {
    try {
      this.gate.push(chunk);
    } catch (err) {
      const error = toWardenError(err);
      this.o.logger.warn({ session: this.o.session.id, code: error.code, detail: error.detail }, `caller protocol error: ${error.message}`);
      this.endWith(`protocol error: ${error.message}`, encodeWardenError(error));
    }
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    try {
      if (this.o.masker) this.forwardMasked(chunk);
      else {
        this.upstreamScanner.scan(chunk, this.visitUpstream);
        if (!this.o.client.write(chunk)) this.o.upstream.pause();
      }
    } catch (err) {
      this.upstreamFailed(err);
      return;
    }
    if (this.boundaryWaiters.length > 0 && this.upstreamScanner.atBoundary) {
      const waiters = this.boundaryWaiters;
      this.boundaryWaiters = [];
      for (const wake of waiters) wake();
    }
  };

  private upstreamFailed(err: unknown): void {
    if (err instanceof WardenError && err.code === 'WARDEN_ERR_FORBIDDEN') {
      // A result masking cannot handle (binary columns a rule covers): the stream cannot go on without it.
      this.o.logger.warn({ session: this.o.session.id }, err.message);
      this.endWith(`masking refused a result: ${err.message}`, encodeWardenError(err));
      return;
    }
    const error = new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'invalid data from the upstream server',
      { detail: (err as Error).message });
    this.o.logger.error({ session: this.o.session.id, detail: error.detail }, error.message);
    this.endWith('upstream protocol error', encodeWardenError(error));
  }

  /**
   * The masked path: untouched messages still go out in runs of the chunk as it came; a rewritten message replaces
   * its bytes; an incomplete data message is withheld until whole, so no original byte of it reaches the caller.
   */
  private forwardMasked(chunk: Buffer): void {
    if (this.maskHold) {
      this.maskQueue.push(chunk);
      return;
    }
    this.maskChunk = chunk;
    this.maskRunStart = 0;
    this.clientFull = false;
    // A chunk of rewritten rows becomes many small writes: corked, they leave in one writev instead of one each.
    this.o.client.cork();
    try {
      this.upstreamScanner.scan(chunk, this.visitMasked);
    } catch (err) {
      if (err !== HOLD) throw err;
      this.holdForCatalog();
      return;
    } finally {
      this.o.client.uncork();
    }
    const incomplete = this.upstreamScanner.incompleteFrom;
    const runEnd = incomplete < 0 ? chunk.length : Math.max(incomplete, this.maskRunStart);
    if (runEnd > this.maskRunStart) this.toClient(chunk.subarray(this.maskRunStart, runEnd));
    if (incomplete >= 0) this.maskCarry.push(chunk.subarray(runEnd));
    if (this.clientFull) this.o.upstream.pause();
  }

  private readonly visitMasked = (type: number, body: Buffer, end: number): void => {
    const start = end - 5 - body.length;
    if (type === 0x54 /* T */) {
      const pending = this.o.masker!.pendingTables(body);
      if (pending.length > 0) {
        // Its rows cannot be masked before the columns' tables are known: stop here and look them up.
        if (start > this.maskRunStart) this.toClient(this.maskChunk.subarray(this.maskRunStart, start));
        const from = start < 0 ? Buffer.concat([...this.maskCarry.splice(0), this.maskChunk]) : this.maskChunk.subarray(start);
        this.maskHold = { pending, rest: from };
        throw HOLD;
      }
    }
    const replacement = this.o.masker!.transform(type, body);
    // The recording sees what the caller sees: an error whose text was masked is recorded masked.
    this.visitUpstream(type, replacement === null ? body : replacement.subarray(5));
    if (replacement === null) {
      if (start < 0 && this.maskCarry.length > 0) for (const piece of this.maskCarry.splice(0)) this.toClient(piece);
      return;
    }
    if (start > this.maskRunStart) this.toClient(this.maskChunk.subarray(this.maskRunStart, start));
    this.maskCarry = [];
    this.toClient(replacement);
    this.maskRunStart = end;
  };

  /** Pauses the upstream while the catalog is read, then goes on with the held bytes and what came meanwhile. */
  private holdForCatalog(): void {
    const hold = this.maskHold!;
    this.o.upstream.pause();
    void this.o.masker!.resolveTables(hold.pending).then(() => {
      this.maskHold = null;
      if (this.endReason !== null) return;
      const queued = [hold.rest, ...this.maskQueue.splice(0)];
      for (const chunk of queued) {
        if (this.maskHold) this.maskQueue.push(chunk);
        else this.onUpstreamData(chunk);
      }
      if (!this.maskHold && !this.clientPausedByGate) this.o.upstream.resume();
    }, (err: unknown) => {
      this.maskHold = null;
      const error = toWardenError(err);
      this.o.logger.error({ session: this.o.session.id, detail: error.detail }, error.message);
      this.endWith(`masking failed: ${error.message}`, encodeWardenError(error));
    });
  }

  private toClient(bytes: Buffer): void {
    if (!this.o.client.write(bytes)) this.clientFull = true;
  }

  private readonly visitUpstream = (type: number, body: Buffer): void => {
    switch (type) {
      case 0x31: /* 1 */ this.tracker.answered('parse'); break;
      case 0x32: /* 2 */ this.tracker.answered('bind'); break;
      case 0x33: /* 3 */ this.tracker.answered('close'); break;
      case 0x54: /* T */ case 0x6e: /* n */ this.tracker.answered('describe'); break;
      case 0x43: /* C */ this.tracker.completed(decodeCommandComplete(body)); break;
      case 0x49: /* I */ this.tracker.completed(''); break;
      case 0x73: /* s */ this.tracker.completed(undefined); break;
      case 0x45: /* E */ this.onUpstreamError(decodeErrorFields(body)); break;
      case 0x5a: /* Z */ this.tracker.ready(body[0] === 0x54 ? 'T' : body[0] === 0x45 ? 'E' : 'I'); break;
    }
  };

  /** Resolves when the bytes sent to the caller end on a message boundary (Warden may add its own message). */
  private whenClientAtBoundary(): Promise<void> {
    if (this.upstreamScanner.atBoundary) return Promise.resolve();
    return new Promise((resolve) => this.boundaryWaiters.push(resolve));
  }

  private onUpstreamError(fields: Record<string, string>): void {
    const error = { code: fields.C ?? 'XX000', message: fields.M ?? '' };
    const severity = fields.V ?? fields.S;
    if (!this.tracker.failed(error) || severity === 'FATAL' || severity === 'PANIC') {
      this.o.pipeline.onEvent(this.o.session, 'upstream.error', { severity, ...error });
    }
    if (severity === 'FATAL' || severity === 'PANIC') this.endReason ??= `upstream ended the session: ${error.message}`;
  }

  /** Ends the session because of an error, telling the caller with `message` when the stream allows it. */
  private endWith(reason: string, message: Buffer): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    if (this.upstreamScanner.atBoundary && !this.o.client.destroyed) this.o.client.write(message);
    this.closeBoth();
  }

  private onClientClose(): void {
    this.clientClosed = true;
    this.endReason ??= this.gate.terminated ? 'client terminated the session' : 'client disconnected';
    this.closeBoth();
    this.settle();
  }

  private onUpstreamClose(): void {
    this.upstreamClosed = true;
    if (this.endReason === null) {
      const err = new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE',
        `connection to target "${this.o.session.target.name}" was lost`);
      this.endWith('upstream connection lost', encodeWardenError(err));
    }
    this.closeBoth();
    this.settle();
  }

  private closeBoth(): void {
    this.gate.close();
    const { client, upstream } = this.o;
    if (!upstream.destroyed) {
      // A Terminate lets the server end the backend cleanly instead of logging an unexpected EOF.
      if (!this.gate.terminated && upstream.writable) upstream.write(TERMINATE);
      upstream.end();
      setTimeout(() => upstream.destroy(), 1000).unref();
    }
    if (!client.destroyed) {
      client.end();
      setTimeout(() => client.destroy(), 1000).unref();
    }
  }

  private settle(): void {
    if (!this.clientClosed || !this.upstreamClosed) return;
    void this.o.masker?.close();
    const reason = this.endReason ?? 'closed';
    this.tracker.abandon(reason);
    this.resolveDone(reason);
  }
}
