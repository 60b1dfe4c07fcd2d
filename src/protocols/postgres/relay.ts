/**
 * The relay of an open PostgreSQL session: caller bytes go through the gate (which lets the pipeline judge every
 * statement), upstream bytes go to the caller untouched, in the chunks TCP delivered, while a frame scanner looks
 * at the few messages that tell how each forwarded message ended. Flow control has one owner per socket (flow.ts):
 * a side that cannot keep up pauses the other, a held statement pauses the caller, a catalog lookup pauses the
 * upstream, and a socket reads again only when no reason remains. The relay owns the two sockets' life: it ends the
 * session from either side, and it is every asynchronous step's failure path (`fail`): one session's malformed
 * input or failed step ends that session with a protocol error, never the process.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { TerminateOptions } from '../../session/registry.js';
import type { Session } from '../../session/session.js';
import type { Command, Verdict } from '../../session/types.js';
import { FrameScanner, decodeCommandComplete, decodeErrorFields, decodeParameterStatus } from './codec.js';
import { encodeWardenError } from './errors.js';
import { PauseReason, SocketFlow, continueSession } from './flow.js';
import { ClientGate } from './gate.js';
import { StatementTracker } from './statements.js';
import { MaskedForwarder } from './relay-masked.js';
import { BARRIER_REFUSAL, reportedSettingRefusal, settingsBarrier } from './session-settings.js';
import type { ResultMasker } from './result-masking.js';

/**
 * Backend messages the relay reads: the answers that close forwarded messages, and ParameterStatus (rare), whose
 * standard_conforming_strings and client_encoding must stay what Warden reads statements with.
 */
const BACKEND_INTEREST = (() => {
  const table = new Uint8Array(256);
  for (const t of '123TnCIsEZS') table[t.charCodeAt(0)] = 1;
  return table;
})();
/** Larger backend messages of those kinds are not legitimate (a RowDescription of 1,600 columns is ~100 KB). */
const MAX_BACKEND_INTERESTING = 16 * 1024 * 1024;
/**
 * With masking, the messages that carry data are read too: DataRow, CopyOutResponse, CopyData, NOTIFY, notices,
 * and ParameterStatus (masking reads values as UTF-8, so a change of client_encoding matters).
 */
const MASKED_INTEREST = (() => {
  const table = Uint8Array.from(BACKEND_INTEREST);
  for (const t of 'DHdANS') table[t.charCodeAt(0)] = 1;
  return table;
})();
/** A DataRow may hold up to 1 GB (PostgreSQL's own limit on a value); a masked one is assembled whole. */
const MAX_MASKED_MESSAGE = 1024 * 1024 * 1024;
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);

/** Thrown from the upstream visitor when the server reports a lexing setting Warden does not read with. */
class UnsafeSetting extends WardenError {}

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
  /** The masked path, when masking rules apply to this session. */
  private readonly masked: MaskedForwarder | undefined;
  private readonly tracker: StatementTracker;
  private readonly gate: ClientGate;
  private endReason: string | null = null;
  private resolveDone!: (reason: string) => void;
  private readonly done = new Promise<string>((resolve) => (this.resolveDone = resolve));
  private clientClosed = false;
  private upstreamClosed = false;
  private readonly clientFlow: SocketFlow;
  private readonly upstreamFlow: SocketFlow;
  private boundaryWaiters: (() => void)[] = [];
  /** When bytes last went either way (for the idle timeout). */
  private lastTraffic = Date.now();

  constructor(private readonly o: RelayOptions) {
    this.clientFlow = new SocketFlow(o.client);
    this.upstreamFlow = new SocketFlow(o.upstream);
    this.tracker = new StatementTracker((command, outcome) => o.pipeline.onOutcome(o.session, command, outcome));
    this.upstreamScanner = o.masker ? new FrameScanner(MASKED_INTEREST, MAX_MASKED_MESSAGE)
      : new FrameScanner(BACKEND_INTEREST, MAX_BACKEND_INTERESTING);
    const masker = o.masker;
    this.masked = masker && new MaskedForwarder({
      client: o.client, upstream: o.upstream, masker, scanner: this.upstreamScanner, logger: o.logger, sessionId: o.session.id,
      visit: this.visitUpstream, running: () => this.tracker.running, feed: (chunk) => this.onUpstreamData(chunk),
      ended: () => this.endReason !== null,
      pauseUpstream: (reason) => this.upstreamFlow.pause(reason), resumeUpstream: (reason) => this.upstreamFlow.resume(reason),
      fail: (reason, err) => this.endWith(reason, encodeWardenError(err)),
    });
    this.gate = new ClientGate({
      session: o.session, pipeline: o.pipeline, tracker: this.tracker, maxMessageBytes: o.maxMessageBytes,
      // Statements whose results masking could not handle (COPY in binary, ...) are refused before they run.
      refusal: masker && ((command) => masker.refusal(command)),
      settle: (command) => this.settingsBarrier(command),
      // Masking learns every result's shape from what goes upstream (and may add its own Describe).
      forwarding: masker && ((type, body) => masker.forwarding(type, body)),
      io: {
        toUpstream: (bytes) => { if (!o.upstream.write(bytes)) this.clientFlow.pause(PauseReason.upstreamSlow); },
        toClient: (bytes) => { if (!o.client.destroyed && !o.client.write(bytes)) this.upstreamFlow.pause(PauseReason.clientSlow); },
        whenClientAtBoundary: () => this.whenClientAtBoundary(),
        pauseClient: () => this.clientFlow.pause(PauseReason.heldForVerdict),
        resumeClient: () => this.clientFlow.resume(PauseReason.heldForVerdict),
        fail: this.fail,
      },
    });
  }

  /** Starts relaying (after feeding bytes either side sent early) and resolves with the end reason. */
  run(clientLeftover: Buffer, upstreamLeftover: Buffer): Promise<string> {
    const { client, upstream } = this.o;
    client.on('data', this.onClientData);
    upstream.on('data', this.onUpstreamData);
    const touch = (): void => { this.lastTraffic = Date.now(); };
    client.on('data', touch);
    upstream.on('data', touch);
    // A drain removes only its own reason: a held statement or a catalog lookup keeps its socket paused.
    client.on('drain', () => this.upstreamFlow.resume(PauseReason.clientSlow));
    upstream.on('drain', () => this.clientFlow.resume(PauseReason.upstreamSlow));
    client.on('error', (err) => this.o.logger.debug({ err, session: this.o.session.id }, 'client socket error'));
    upstream.on('error', (err) => this.o.logger.debug({ err, session: this.o.session.id }, 'upstream socket error'));
    client.on('close', () => this.onClientClose());
    upstream.on('close', () => this.onUpstreamClose());
    const encoding = this.o.masker?.encodingRefusal();
    if (encoding) {
      // Masking reads values as UTF-8: a session in another encoding ends before any result.
      this.o.logger.warn({ session: this.o.session.id }, encoding);
      this.endWith(`masking refused the session: ${encoding}`, encodeWardenError(new WardenError('WARDEN_ERR_FORBIDDEN', encoding)));
      return this.done;
    }
    if (upstreamLeftover.length > 0) this.onUpstreamData(upstreamLeftover);
    if (clientLeftover.length > 0) this.onClientData(clientLeftover);
    this.clientFlow.start();
    this.upstreamFlow.start();
    return this.done;
  }

  /**
   * Milliseconds since bytes last went either way, or 0 while a statement runs or waits for approval (a long query
   * is not idle). TCP keep-alives are not bytes.
   */
  idleFor(now = Date.now()): number {
    return this.tracker.idle && !this.gate.holding ? now - this.lastTraffic : 0;
  }

  /**
   * Ends the session from Warden's side (shutdown, kill switch): the caller gets a FATAL ErrorResponse (57P01) with
   * the reason when its stream is between messages (otherwise a clean close), the upstream a Terminate. With
   * `letStatementsFinish` it first waits for the statements already forwarded, while the pipeline refuses new ones.
   */
  terminate(reason: string, options: TerminateOptions = {}): Promise<string> {
    const message = () => encodeWardenError(new WardenError('WARDEN_ERR_SESSION_TERMINATED', `terminating connection: ${reason}`));
    this.ending = true;
    if (!options.letStatementsFinish || this.tracker.idle) {
      this.endWith(reason, message());
      return this.done;
    }
    // New statements are refused by the pipeline from now on; the running ones get until the grace period ends.
    this.o.pipeline.drain(this.o.session, reason);
    const grace = setTimeout(() => this.endWith(reason, message()), options.graceMs ?? 30_000);
    grace.unref();
    continueSession(this.tracker.whenIdle(), () => {
      clearTimeout(grace);
      this.endWith(reason, message());
    }, this.fail);
    return this.done;
  }

  /**
   * The caller sent a CancelRequest. A statement held for approval is withdrawn (the caller gets 57014 at once and
   * the session goes on); otherwise the cancel is for what runs upstream and `forward` sends it there.
   */
  async cancel(forward: () => Promise<void>): Promise<'withdrawn' | 'forwarded'> {
    if (this.gate.cancelHeld()) {
      await this.o.pipeline.withdraw(this.o.session, 'cancelled by the caller');
      return 'withdrawn';
    }
    await forward();
    return 'forwarded';
  }

  /** Tells the caller `message` in a NoticeResponse when the connection is between exchanges (gate.unprompted). */
  notify(message: string): void {
    if (this.endReason !== null || this.ending) return;
    this.gate.unprompted(message);
  }

  /** The session's failure path: anything a step of this session threw ends it with a protocol error. Never throws. */
  private readonly fail = (err: unknown): void => {
    const error = toWardenError(err);
    const internal = error.kind === 'internal';
    this.o.logger[internal ? 'error' : 'warn']({ session: this.o.session.id, code: error.code, detail: error.detail },
      `${internal ? 'session failed' : 'caller protocol error'}: ${error.message}`);
    this.endWith(`${internal ? 'internal error' : 'protocol error'}: ${error.message}`, encodeWardenError(error));
  };

  /** True once Warden started ending the session (terminate was called). */
  ending = false;

  private readonly onClientData = (chunk: Buffer): void => {
    try {
      this.gate.push(chunk);
    } catch (err) {
      this.fail(err);
    }
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    const atStart = this.upstreamScanner.atBoundary;
    try {
      if (this.masked) this.masked.forward(chunk);
      else {
        this.upstreamScanner.scan(chunk, this.visitUpstream);
        if (!this.o.client.write(chunk)) this.upstreamFlow.pause(PauseReason.clientSlow);
      }
    } catch (err) {
      if (err instanceof UnsafeSetting) {
        // Nothing of this chunk reached the caller; what it already has ends where this chunk starts.
        this.o.logger.warn({ session: this.o.session.id }, err.message);
        this.o.pipeline.onEvent(this.o.session, 'upstream.unsafe_setting', { message: err.message });
        this.endWith(`unsafe server setting: ${err.message}`, encodeWardenError(err), atStart);
        return;
      }
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
    if (err instanceof WardenError && (err.code === 'WARDEN_ERR_FORBIDDEN' || err.code === 'WARDEN_ERR_UNSUPPORTED')) {
      // A result masking cannot handle (binary columns a rule covers, a COPY whose columns are unknown, another
      // client_encoding): the stream cannot go on without it.
      this.o.logger.warn({ session: this.o.session.id }, err.message);
      this.endWith(`masking refused a result: ${err.message}`, encodeWardenError(err));
      return;
    }
    const error = new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'invalid data from the upstream server',
      { detail: (err as Error).message });
    this.o.logger.error({ session: this.o.session.id, detail: error.detail }, error.message);
    this.endWith('upstream protocol error', encodeWardenError(error));
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
      case 0x53: /* S */ this.onParameterStatus(body); break;
    }
  };

  /** Ends the session (by throwing UnsafeSetting) when the server now reads statements differently. */
  private onParameterStatus(body: Buffer): void {
    const { name, value } = decodeParameterStatus(body);
    const refusal = reportedSettingRefusal(name, value);
    if (refusal !== undefined) throw new UnsafeSetting('WARDEN_ERR_FORBIDDEN', refusal);
  }

  /**
   * The settings barrier (session-settings.ts) for a statement the gate is about to judge: undefined to judge it
   * now, else a promise of a refusal, or of undefined once the upstream has answered everything before it.
   */
  private settingsBarrier(command: Command): Promise<Verdict | undefined> | undefined {
    const barrier = settingsBarrier(command.text, this.tracker);
    if (barrier === 'now') return undefined;
    if (barrier === 'refuse') {
      this.o.pipeline.onEvent(this.o.session, 'statement.denied', { text: command.text, rule: null, classes: [], message: BARRIER_REFUSAL });
      return Promise.resolve({ effect: 'deny', message: BARRIER_REFUSAL, note: { effect: 'deny', classes: [] } });
    }
    // Answers still in the server's buffer (an unsynchronised Parse) are needed to become idle.
    if (this.tracker.batchOpen) this.o.upstream.write(FLUSH);
    // A session that ended meanwhile (an unsafe ParameterStatus among those answers) judges nothing more.
    return this.tracker.whenIdle().then((): Verdict | undefined => (this.endReason === null ? undefined
      : { effect: 'deny', message: `the session ended: ${this.endReason}`, note: { effect: 'deny', classes: [] } }));
  }

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
  private endWith(reason: string, message: Buffer, atBoundary = this.upstreamScanner.atBoundary): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    if (atBoundary && !this.o.client.destroyed) this.o.client.write(message);
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
    // The server closes after the caller's Terminate: the normal end, whichever socket closes first.
    if (this.endReason === null && this.gate.terminated) this.endReason = 'client terminated the session';
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
    this.o.masker?.close().catch((err: unknown) => this.o.logger.warn({ err, session: this.o.session.id }, 'could not close the masking catalog'));
    const reason = this.endReason ?? 'closed';
    this.tracker.abandon(reason);
    this.resolveDone(reason);
  }
}
