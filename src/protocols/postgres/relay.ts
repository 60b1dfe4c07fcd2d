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

/** Backend messages the relay reads: the answers that close forwarded messages. */
const BACKEND_INTEREST = (() => {
  const table = new Uint8Array(256);
  for (const t of '123TnCIsEZ') table[t.charCodeAt(0)] = 1;
  return table;
})();
/** Larger backend messages of those kinds are not legitimate (a RowDescription of 1,600 columns is ~100 KB). */
const MAX_BACKEND_INTERESTING = 16 * 1024 * 1024;
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/** What the relay needs to run. */
export interface RelayOptions {
  session: Session;
  pipeline: SessionPipeline;
  client: Socket;
  upstream: Socket;
  logger: Logger;
  maxMessageBytes: number;
}

/** Relays one session until either side ends; resolves with the reason it ended. */
export class Relay {
  private readonly upstreamScanner = new FrameScanner(BACKEND_INTEREST, MAX_BACKEND_INTERESTING);
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
      this.upstreamScanner.scan(chunk, this.visitUpstream);
    } catch (err) {
      const error = new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'invalid data from the upstream server',
        { detail: (err as Error).message });
      this.o.logger.error({ session: this.o.session.id, detail: error.detail }, error.message);
      this.endWith('upstream protocol error', encodeWardenError(error));
      return;
    }
    if (!this.o.client.write(chunk)) this.o.upstream.pause();
    if (this.boundaryWaiters.length > 0 && this.upstreamScanner.atBoundary) {
      const waiters = this.boundaryWaiters;
      this.boundaryWaiters = [];
      for (const wake of waiters) wake();
    }
  };

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
    const reason = this.endReason ?? 'closed';
    this.tracker.abandon(reason);
    this.resolveDone(reason);
  }
}
