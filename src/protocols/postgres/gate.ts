/**
 * The gate between a caller and its upstream: every message the caller sends passes here. Statements (Query,
 * Parse, FunctionCall) go to the pipeline; allowed ones are forwarded in the chunks TCP delivered, untouched and
 * without copies; a refused one never reaches the upstream and the caller gets an ErrorResponse in its place; one
 * that waits for approval is held, with the caller's later messages queued behind it. Warden's own answers are put
 * into the caller's stream only once the upstream has answered everything forwarded before them, so the caller
 * sees them in protocol order. This module decides nothing itself and never reorders the caller's messages.
 */
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { Command, DecisionNote, Verdict } from '../../session/types.js';
import {
  FrameScanner, bindParamsAsText, decodeBind, decodeDescribeOrClose, decodeExecute, decodeParse, decodeQuery,
  encodeErrorResponse, encodeNoticeResponse, encodeReadyForQuery,
} from './codec.js';
import type { StatementTracker } from './statements.js';
import { fastPathStatement } from './fastpath.js';

/** Every frontend message is looked at except CopyData, which may be large and carries no statement. */
const INTEREST = (() => {
  const table = new Uint8Array(256).fill(1);
  table[0x64 /* d */] = 0;
  return table;
})();
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);
/** Thrown inside the scanner's visitor to stop at a held message; the scanner stays at a boundary. */
const HOLD = Symbol('hold');
/** Refusals made because results could not be masked: the caller's hint names WARDEN_ERR_FORBIDDEN, not a policy denial. */
const maskingRefusals = new WeakSet<Verdict>();

/** How the gate reaches the two sockets. */
export interface GateIo {
  /** Writes to the upstream (the relay pauses the caller when the upstream is slow). */
  toUpstream(bytes: Buffer): void;
  /** Writes Warden's own message to the caller; called only between upstream messages. */
  toClient(bytes: Buffer): void;
  /** Resolves once the caller's stream stands between two upstream messages. */
  whenClientAtBoundary(): Promise<void>;
  pauseClient(): void;
  resumeClient(): void;
}

/** What the gate needs. */
export interface GateOptions {
  session: Session;
  pipeline: SessionPipeline;
  tracker: StatementTracker;
  io: GateIo;
  maxMessageBytes: number;
  /**
   * Why an allowed statement must still not run because its results could not be masked (COPY in binary, ...),
   * or null; absent when no masking rule applies to the session.
   */
  refusal?: (command: Command) => string | null;
  /**
   * For a statement whose reading depends on session settings sent behind others (session-settings.ts): a promise
   * of a refusal, or of undefined once it may be judged; undefined when it may be judged now.
   */
  settle?: (command: Command) => Promise<Verdict | undefined> | undefined;
}

type Held = { kind: 'query' | 'parse'; bytes: Buffer; command: Command; name?: string; verdict: Promise<Verdict> };

/** The caller-to-upstream side of one session. */
export class ClientGate {
  private readonly scanner: FrameScanner;
  /** Bytes of an interesting message still incomplete at the end of the last chunk, withheld until it is whole. */
  private carry: Buffer[] = [];
  private held: Held | null = null;
  /** The message that made the visitor stop, and the bytes after it in that chunk. */
  private stopped: { held: Held; rest: Buffer } | null = null;
  private readonly queued: Buffer[] = [];
  /** The chunk being processed and where its current run of forwarded messages starts. */
  private chunk: Buffer = Buffer.alloc(0);
  private runStart = 0;
  /** After a refused Parse: the caller's messages are dropped up to its Sync, as the server itself would. */
  private discardUntilSync = false;
  private readonly statements = new Map<string, Command>();
  private readonly portals = new Map<string, Command>();
  private closed = false;
  /** Set when the caller sent Terminate. */
  terminated = false;

  constructor(private readonly o: GateOptions) {
    this.scanner = new FrameScanner(INTEREST, o.maxMessageBytes);
  }

  /** Takes one chunk from the caller. Throws WardenError on malformed input (the relay ends the session). */
  push(chunk: Buffer): void {
    if (this.held) this.queued.push(chunk);
    else this.process(chunk);
  }

  /** Stops everything: a held statement is dropped (the pipeline cancels its approval when the session closes). */
  close(): void {
    this.closed = true;
  }

  private process(chunk: Buffer): void {
    this.chunk = chunk;
    this.runStart = 0;
    try {
      this.scanner.scan(chunk, this.visit);
    } catch (err) {
      if (err !== HOLD) throw err;
      const { held, rest } = this.stopped!;
      this.stopped = null;
      if (rest.length > 0) this.queued.unshift(rest);
      this.hold(held);
      return;
    }
    const { runStart } = this;
    const incomplete = this.scanner.incompleteFrom;
    const runEnd = incomplete < 0 ? chunk.length : Math.max(incomplete, runStart);
    if (runEnd > runStart) this.o.io.toUpstream(runStart === 0 && runEnd === chunk.length ? chunk : chunk.subarray(runStart, runEnd));
    if (incomplete >= 0) this.carry.push(chunk.subarray(runEnd));
  }

  /**
   * One whole message of the chunk being processed. Forwarded messages stay in the current run (written in one
   * piece later); a dropped or held one cuts the run. A method bound once, not a closure per chunk: this runs for
   * every chunk of every session.
   */
  private readonly visit = (type: number, body: Buffer, end: number): void => {
    const { chunk } = this;
    const start = end - 5 - body.length;
    const action = this.decide(type, body);
    if (action === 'forward') {
      if (start < 0 && this.carry.length > 0) this.flushCarry();
      return;
    }
    if (start > this.runStart) this.o.io.toUpstream(chunk.subarray(this.runStart, start));
    const bytes = start < 0 ? Buffer.concat([...this.carry, chunk.subarray(0, end)]) : chunk.subarray(start, end);
    this.carry = [];
    this.runStart = end;
    if (action === 'drop') return;
    this.stopped = { held: { ...action, bytes }, rest: chunk.subarray(end) };
    throw HOLD;
  };

  private flushCarry(): void {
    for (const piece of this.carry) this.o.io.toUpstream(piece);
    this.carry = [];
  }

  /** Decides one message: forward it (registering what it waits for), drop it, or hold it for a verdict. */
  private decide(type: number, body: Buffer): 'forward' | 'drop' | Omit<Held, 'bytes'> {
    const { tracker } = this.o;
    if (this.discardUntilSync) {
      if (type !== 0x53 /* S */) return 'drop';
      this.discardUntilSync = false;
      if (tracker.batchOpen) {
        tracker.sent('sync');
        return 'forward';
      }
      void this.answerWhenIdle(encodeReadyForQuery(tracker.transactionStatus));
      return 'drop';
    }
    switch (type) {
      case 0x51: /* Q */ return this.statement('query', this.command(decodeQuery(body)));
      case 0x46: /* F */ return this.statement('query', this.command(fastPathStatement(body)));
      case 0x50: /* P */ {
        const parse = decodeParse(body);
        return this.statement('parse', this.command(parse.query), parse.name);
      }
      case 0x42: /* B */ this.onBind(body); tracker.sent('bind'); return 'forward';
      case 0x45: /* E */ tracker.execute(this.portals.get(decodeExecute(body).portal) ?? this.command('<unknown portal>')); return 'forward';
      case 0x53: /* S */ tracker.sent('sync'); return 'forward';
      case 0x44: /* D */ tracker.sent('describe'); return 'forward';
      case 0x43: /* C */ this.onClose(body); tracker.sent('close'); return 'forward';
      case 0x58: /* X */ this.terminated = true; return 'forward';
      default: return 'forward';
    }
  }

  /** Asks the pipeline about a statement; an immediate allow is forwarded at once, anything else is held. */
  private statement(kind: Held['kind'], command: Command, name?: string): 'forward' | Omit<Held, 'bytes'> {
    const settle = this.o.settle?.(command);
    if (settle) return { kind, command, name, verdict: settle.then((refused) => refused ?? this.judgeLater(command)) };
    const verdict = this.o.pipeline.onCommand(this.o.session, command, { notify: (text) => this.notify(text) });
    if (!(verdict instanceof Promise) && verdict.effect === 'allow') {
      const refused = this.maskingRefusal(command, verdict.note);
      if (refused !== null) return { kind, command, name, verdict: Promise.resolve(refused) };
      command.decision = verdict.note;
      this.admit(kind, command, name);
      return 'forward';
    }
    const pending = verdict instanceof Promise ? verdict : Promise.resolve(verdict);
    return { kind, command, name,
      verdict: pending.then((v) => (v.effect === 'allow' ? this.maskingRefusal(command, v.note) ?? v : v)) };
  }

  /** The verdict on a statement held before it was judged (settle), with the masking check of an allow. */
  private judgeLater(command: Command): Promise<Verdict> {
    const verdict = this.o.pipeline.onCommand(this.o.session, command, { notify: (text) => this.notify(text) });
    return Promise.resolve(verdict).then((v) => (v.effect === 'allow' ? this.maskingRefusal(command, v.note) ?? v : v));
  }

  /** A refusal of an allowed statement whose results masking could not handle (recorded like a denial), or null. */
  private maskingRefusal(command: Command, note: DecisionNote): Verdict | null {
    const message = this.o.refusal?.(command) ?? null;
    if (message === null) return null;
    this.o.pipeline.onEvent(this.o.session, 'statement.denied', { text: command.text, rule: null, classes: note.classes, message });
    const verdict: Verdict = { effect: 'deny', message, note: { effect: 'deny', classes: note.classes } };
    maskingRefusals.add(verdict);
    return verdict;
  }

  /** Registers an allowed statement with the tracker (and, for Parse, under its statement name). */
  private admit(kind: Held['kind'], command: Command, name?: string): void {
    if (kind === 'query') this.o.tracker.simple(command);
    else {
      this.o.tracker.sent('parse');
      this.statements.set(name ?? '', command);
    }
  }

  /** Holds a statement until its verdict, then forwards it or answers with the refusal, then goes on. */
  private hold(held: Held): void {
    this.held = held;
    this.o.io.pauseClient();
    // An open batch would keep the answers to earlier messages in the server's buffer: ask for them now.
    if (held.kind === 'parse' && this.o.tracker.batchOpen) this.o.io.toUpstream(FLUSH);
    void held.verdict.then(async (verdict) => {
      if (this.closed) return;
      if (verdict.effect === 'allow') {
        this.admit(held.kind, { ...held.command, decision: verdict.note }, held.name);
        this.o.io.toUpstream(held.bytes);
      } else await this.refuse(held.kind, verdict.message, verdict.note.rule, maskingRefusals.has(verdict) ? 'WARDEN_ERR_FORBIDDEN' : undefined);
      this.release();
    });
  }

  /** Answers a refused statement in protocol order: an error, then ReadyForQuery or skipping to the Sync. */
  private async refuse(kind: Held['kind'], message: string, rule: string | undefined, code = 'WARDEN_ERR_ACCESS_DENIED'): Promise<void> {
    const error = encodeErrorResponse({ severity: 'ERROR', code: '42501', message,
      ...(rule ? { detail: `Warden policy rule: ${rule}` } : {}), hint: `Warden error code ${code}` });
    if (kind === 'query') {
      await this.answerWhenIdle(Buffer.concat([error, encodeReadyForQuery(this.o.tracker.transactionStatus)]));
    } else {
      await this.answerWhenIdle(error);
      this.discardUntilSync = true;
    }
  }

  private release(): void {
    this.held = null;
    while (!this.held && !this.closed && this.queued.length > 0) this.process(this.queued.shift()!);
    if (!this.held && !this.closed) this.o.io.resumeClient();
  }

  /** Sends Warden's own message once the upstream answered everything before it. */
  private async answerWhenIdle(bytes: Buffer): Promise<void> {
    await this.o.tracker.whenIdle();
    await this.o.io.whenClientAtBoundary();
    if (!this.closed) this.o.io.toClient(bytes);
  }

  private notify(text: string): void {
    void this.answerWhenIdle(encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: text }));
  }

  private command(text: string, params?: (string | null)[]): Command {
    return params ? { protocol: 'postgres', kind: 'sql', text, params } : { protocol: 'postgres', kind: 'sql', text };
  }

  private onBind(body: Buffer): void {
    const bind = decodeBind(body);
    const prepared = this.statements.get(bind.statement);
    const text = prepared?.text ?? `<unknown prepared statement "${bind.statement}">`;
    this.portals.set(bind.portal, { ...this.command(text, bindParamsAsText(bind)), decision: prepared?.decision });
  }

  private onClose(body: Buffer): void {
    const { which, name } = decodeDescribeOrClose(body);
    if (which === 'S') this.statements.delete(name);
    else this.portals.delete(name);
  }
}
