/**
 * The relay of an open PostgreSQL session: bytes flow caller <-> upstream untouched, in the chunks TCP delivered,
 * while two frame scanners look at the few messages Warden needs (statements going up; completions, errors and
 * ReadyForQuery coming down). Each statement becomes a Command for the pipeline and, once the server answers, an
 * outcome for the recording. Backpressure is the sockets' own: a side that cannot keep up pauses the other.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { Command } from '../../session/types.js';
import {
  FrameScanner, bindParamsAsText, decodeBind, decodeCommandComplete, decodeDescribeOrClose, decodeErrorFields,
  decodeExecute, decodeParse, decodeQuery,
} from './codec.js';
import { encodeWardenError } from './errors.js';
import { StatementTracker } from './statements.js';

const code = (c: string) => c.charCodeAt(0);
/** Frontend messages the relay reads: Query, Parse, Bind, Execute, Sync, Close, FunctionCall, Terminate. */
const FRONTEND_INTEREST = interest('QPBESCFX');
/** Backend messages the relay reads: CommandComplete, EmptyQueryResponse, PortalSuspended, ErrorResponse, ReadyForQuery. */
const BACKEND_INTEREST = interest('CIsEZ');
/** Backend messages are only ever small ones of the kinds above; 1 MB is far past any real one. */
const MAX_BACKEND_INTERESTING = 1024 * 1024;

function interest(types: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const t of types) table[code(t)] = 1;
  return table;
}

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
  private readonly clientScanner: FrameScanner;
  private readonly upstreamScanner = new FrameScanner(BACKEND_INTEREST, MAX_BACKEND_INTERESTING);
  private readonly tracker: StatementTracker;
  private readonly statements = new Map<string, string>();
  private readonly portals = new Map<string, Command>();
  private endReason: string | null = null;
  private resolveDone!: (reason: string) => void;
  private readonly done = new Promise<string>((resolve) => (this.resolveDone = resolve));
  private clientClosed = false;
  private upstreamClosed = false;
  private clientSentTerminate = false;

  constructor(private readonly o: RelayOptions) {
    this.clientScanner = new FrameScanner(FRONTEND_INTEREST, o.maxMessageBytes);
    this.tracker = new StatementTracker((command, outcome) => o.pipeline.onOutcome(o.session, command, outcome));
  }

  /** Starts relaying (after feeding bytes either side sent early) and resolves with the end reason. */
  run(clientLeftover: Buffer, upstreamLeftover: Buffer): Promise<string> {
    const { client, upstream } = this.o;
    client.on('data', this.onClientData);
    upstream.on('data', this.onUpstreamData);
    client.on('drain', () => upstream.resume());
    upstream.on('drain', () => client.resume());
    client.on('error', (err) => this.o.logger.debug({ err, session: this.o.session.id }, 'client socket error'));
    upstream.on('error', (err) => this.o.logger.debug({ err, session: this.o.session.id }, 'upstream socket error'));
    client.on('close', () => this.onClientClose());
    upstream.on('close', () => this.onUpstreamClose());
    if (upstreamLeftover.length > 0) this.onUpstreamData(upstreamLeftover);
    if (clientLeftover.length > 0) this.onClientData(clientLeftover);
    client.resume();
    upstream.resume();
    return this.done;
  }

  /**
   * Ends the session from Warden's side (shutdown, kill switch): the caller gets a FATAL ErrorResponse with the
   * reason when the stream is between messages (otherwise a clean close), the upstream a Terminate.
   */
  terminate(reason: string): Promise<string> {
    if (this.endReason === null) {
      this.endReason = reason;
      const err = new WardenError('WARDEN_ERR_SHUTTING_DOWN', `terminating connection: ${reason}`);
      if (this.upstreamScanner.atBoundary && !this.o.client.destroyed) this.o.client.write(encodeWardenError(err));
      this.closeBoth();
    }
    return this.done;
  }

  private readonly onClientData = (chunk: Buffer): void => {
    try {
      this.clientScanner.scan(chunk, this.visitClient);
    } catch (err) {
      this.failFromClient(toWardenError(err));
      return;
    }
    if (!this.o.upstream.write(chunk)) this.o.client.pause();
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    try {
      this.upstreamScanner.scan(chunk, this.visitUpstream);
    } catch (err) {
      const error = new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', 'invalid data from the upstream server',
        { detail: (err as Error).message });
      this.o.logger.error({ session: this.o.session.id, detail: error.detail }, error.message);
      this.endWith(`upstream protocol error`, encodeWardenError(error));
      return;
    }
    if (!this.o.client.write(chunk)) this.o.upstream.pause();
  };

  private readonly visitClient = (type: number, body: Buffer): void => {
    switch (type) {
      case 0x51: /* Q */ this.onStatement(this.command(decodeQuery(body)), 'simple'); break;
      case 0x50: /* P */ { const p = decodeParse(body); this.statements.set(p.name, p.query); break; }
      case 0x42: /* B */ this.onBind(body); break;
      case 0x45: /* E */ this.onExecute(body); break;
      case 0x53: /* S */ this.tracker.sync(); break;
      case 0x43: /* C */ this.onClose(body); break;
      case 0x46: /* F */ this.onStatement(this.command('<fast-path function call>'), 'simple'); break;
      case 0x58: /* X */ this.clientSentTerminate = true; break;
    }
  };

  private readonly visitUpstream = (type: number, body: Buffer): void => {
    switch (type) {
      case 0x43: /* C */ this.tracker.completed(decodeCommandComplete(body)); break;
      case 0x49: /* I */ this.tracker.completed(''); break;
      case 0x73: /* s */ this.tracker.completed(undefined); break;
      case 0x45: /* E */ this.onUpstreamError(decodeErrorFields(body)); break;
      case 0x5a: /* Z */ this.tracker.ready(); break;
    }
  };

  private command(text: string, params?: (string | null)[]): Command {
    return params ? { protocol: 'postgres', kind: 'sql', text, params } : { protocol: 'postgres', kind: 'sql', text };
  }

  private onStatement(command: Command, kind: 'simple' | 'exec'): void {
    // Every statement passes the pipeline; until policies exist it always allows (see SessionPipeline.onCommand).
    this.o.pipeline.onCommand(this.o.session, command);
    if (kind === 'simple') this.tracker.simple(command);
    else this.tracker.execute(command);
  }

  private onBind(body: Buffer): void {
    const bind = decodeBind(body);
    const text = this.statements.get(bind.statement) ?? `<unknown prepared statement "${bind.statement}">`;
    this.portals.set(bind.portal, this.command(text, bindParamsAsText(bind)));
  }

  private onExecute(body: Buffer): void {
    const { portal } = decodeExecute(body);
    const command = this.portals.get(portal) ?? this.command(`<unknown portal "${portal}">`);
    this.onStatement(command, 'exec');
  }

  private onClose(body: Buffer): void {
    const { which, name } = decodeDescribeOrClose(body);
    if (which === 'S') this.statements.delete(name);
    else this.portals.delete(name);
  }

  private onUpstreamError(fields: Record<string, string>): void {
    const error = { code: fields.C ?? 'XX000', message: fields.M ?? '' };
    const severity = fields.V ?? fields.S;
    if (!this.tracker.failed(error) || severity === 'FATAL' || severity === 'PANIC') {
      this.o.pipeline.onEvent(this.o.session, 'upstream.error', { severity, ...error });
    }
    if (severity === 'FATAL' || severity === 'PANIC') this.endReason ??= `upstream ended the session: ${error.message}`;
  }

  private failFromClient(err: WardenError): void {
    this.o.logger.warn({ session: this.o.session.id, code: err.code, detail: err.detail }, `caller protocol error: ${err.message}`);
    this.endWith(`protocol error: ${err.message}`, encodeWardenError(err));
  }

  /** Ends the session because of an error, telling the caller with `message` when the stream allows it. */
  private endWith(reason: string, message: Buffer): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    if (this.upstreamScanner.atBoundary) this.o.client.write(message);
    this.closeBoth();
  }

  private onClientClose(): void {
    this.clientClosed = true;
    this.endReason ??= this.clientSentTerminate ? 'client terminated the session' : 'client disconnected';
    this.closeBoth();
    this.settle();
  }

  private onUpstreamClose(): void {
    this.upstreamClosed = true;
    if (this.endReason === null) {
      this.endReason = 'upstream connection lost';
      const err = new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE',
        `connection to target "${this.o.session.target.name}" was lost`);
      if (this.upstreamScanner.atBoundary && !this.o.client.destroyed) this.o.client.write(encodeWardenError(err));
    }
    this.closeBoth();
    this.settle();
  }

  private closeBoth(): void {
    const { client, upstream } = this.o;
    if (!upstream.destroyed) {
      // A Terminate lets the server end the backend cleanly instead of logging an unexpected EOF.
      if (!this.clientSentTerminate && upstream.writable) upstream.write(TERMINATE);
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

const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
