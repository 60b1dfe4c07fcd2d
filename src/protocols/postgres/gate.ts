/**
 * The gate between a caller and its upstream: every message the caller sends passes here. Statements (Query,
 * Parse, FunctionCall) go to the pipeline; allowed ones are forwarded in the chunks TCP delivered, untouched and
 * without copies; a refused one never reaches the upstream and the caller gets an ErrorResponse in its place; one
 * that waits for approval is held, with the caller's later messages queued behind it. Warden's own answers are put
 * into the caller's stream only once the upstream has answered everything forwarded before them, so the caller
 * sees them in protocol order. Extended protocol is judged at Parse (a denied statement never reaches the server;
 * one needing approval is parsed but not yet run), at Bind with the bound values, which is where an approval is
 * asked for (a portal is one execution, and planning at Bind may already evaluate functions), and again at every
 * Execute against the policy in force (a policy change stops a bound portal). Statement and portal names mean
 * what they mean to the server: a Parse, Bind or Close counts once the server answered it (one it refused or
 * skipped changes nothing), and a Parse of a name in use waits until earlier answers are in. Every asynchronous
 * step ends in the session's failure path (`GateIo.fail`), never in an unhandled rejection. This module decides
 * nothing itself and never reorders the caller's messages.
 */
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { Command, CommandContext, DecisionNote, Verdict } from '../../session/types.js';
import {
  FrameScanner, bindParamsAsText, decodeBind, decodeDescribeOrClose, decodeExecute, decodeParse, decodeQuery,
  encodeErrorResponse, encodeNoticeResponse, encodeReadyForQuery, type PgErrorFields,
} from './codec.js';
import { continueSession } from './flow.js';
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
  /** Stops reading the caller while a statement waits for its verdict. */
  pauseClient(): void;
  /** Reads the caller again once the verdict is in (unless another reason holds it). */
  resumeClient(): void;
  /** The session's failure path: ends this session (a malformed message, a failed step); must not throw. */
  fail(err: unknown): void;
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
  /**
   * Sees every message just before it goes upstream, in order, and may return bytes Warden sends before it (result
   * masking's own Describe of a portal about to be executed); absent when no masking rule applies to the session.
   */
  forwarding?: (type: number, body: Buffer) => Buffer | null;
}

/** A message held for its verdict; `cancelled` once the caller sent a CancelRequest for it. */
type Held = {
  kind: 'query' | 'parse' | 'bind' | 'execute'; bytes: Buffer; command: Command; name?: string; portal?: Portal;
  verdict: Promise<Verdict>; cancelled?: boolean;
};
/** A bound portal: the statement with its values; its `decision` is the one made at Bind (with the approval). */
type Portal = { command: Command };
const CANCELLED: PgErrorFields = { severity: 'ERROR', code: '57014', message: 'canceling statement due to user request',
  detail: 'The statement was waiting for approval; Warden withdrew the approval request and did not run it.' };

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
  /** After a refused Parse, Bind or Execute: the caller's messages are dropped up to its Sync, as the server itself would. */
  private discardUntilSync = false;
  /** Statement names as the server holds them (a Parse counts from when it is sent until it is known to have failed). */
  private readonly statements = new Map<string, Command>();
  /** Names with a Parse or Close not answered yet, and how many. */
  private readonly unsettled = new Map<string, number>();
  private readonly portals = new Map<string, Portal>();
  /** The pipeline contexts, made once: Parse and Execute defer approval to the Bind, which has the values. */
  private readonly context: CommandContext = { notify: (text) => this.notify(text) };
  private readonly deferContext: CommandContext = { notify: this.context.notify, deferApproval: true };
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

  /** True while a message waits for its verdict (an approval): the session is not idle then. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** Stops everything: a held statement is dropped (the pipeline cancels its approval when the session closes). */
  close(): void {
    this.closed = true;
  }

  /**
   * The caller cancelled: a statement held for its verdict will not run whatever the verdict (the caller gets
   * 57014 once it is in; the relay withdraws the approval request so that is at once). False when nothing is held,
   * so the cancel belongs to the upstream.
   */
  cancelHeld(): boolean {
    if (!this.held || this.held.cancelled || this.closed) return false;
    this.held.cancelled = true;
    return true;
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
      const own = this.o.forwarding?.(type, body) ?? null;
      if (own !== null) {
        if (start > this.runStart) this.o.io.toUpstream(chunk.subarray(this.runStart, start));
        this.o.io.toUpstream(own);
        if (start > this.runStart) this.runStart = start;
      }
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
      this.answer(encodeReadyForQuery(tracker.transactionStatus));
      return 'drop';
    }
    switch (type) {
      case 0x51: /* Q */ return this.statement('query', this.command(decodeQuery(body)));
      case 0x46: /* F */ return this.statement('query', this.command(fastPathStatement(body)));
      case 0x50: /* P */ {
        const parse = decodeParse(body);
        const command = this.command(parse.query);
        // A name already used, or being parsed or closed: what the server holds under it depends on answers not
        // yet in. Judge once they are, so the name means to Warden what it means to the server.
        if (parse.name !== '' && (this.statements.has(parse.name) || this.unsettled.has(parse.name))) {
          return { kind: 'parse', command, name: parse.name, verdict: tracker.whenIdle().then(() => this.judgeParse(command)) };
        }
        return this.statement('parse', command, parse.name);
      }
      case 0x42: /* B */ return this.bind(body);
      case 0x45: /* E */ return this.execute(decodeExecute(body).portal);
      case 0x53: /* S */ tracker.sent('sync'); return 'forward';
      case 0x44: /* D */ tracker.sent('describe'); return 'forward';
      case 0x43: /* C */ this.onClose(body); return 'forward';
      case 0x58: /* X */ this.terminated = true; return 'forward';
      default: return 'forward';
    }
  }

  /** Asks the pipeline about a statement; an immediate allow is forwarded at once, anything else is held. */
  private statement(kind: 'query' | 'parse', command: Command, name?: string): 'forward' | Omit<Held, 'bytes'> {
    const context = kind === 'parse' ? this.deferContext : this.context;
    const settle = this.o.settle?.(command);
    if (settle) return { kind, command, name, verdict: settle.then((refused) => refused ?? this.judgeLater(command, context)) };
    const verdict = this.o.pipeline.onCommand(this.o.session, command, context);
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

  /**
   * Judges one portal, with its bound values, against the policy in force: an approval asked here covers this
   * portal's one execution. A refused Bind never creates the portal.
   */
  private bind(body: Buffer): 'forward' | Omit<Held, 'bytes'> {
    const bind = decodeBind(body);
    const prepared = this.statements.get(bind.statement);
    const text = prepared?.text ?? `<unknown prepared statement "${bind.statement}">`;
    const portal: Portal = { command: this.command(text, bindParamsAsText(bind)) };
    const verdict = this.o.pipeline.onCommand(this.o.session, portal.command, this.context);
    if (!(verdict instanceof Promise) && verdict.effect === 'allow') {
      this.admitBind(bind.portal, portal, verdict.note);
      return 'forward';
    }
    return { kind: 'bind', command: portal.command, name: bind.portal, portal, verdict: verdict instanceof Promise ? verdict : Promise.resolve(verdict) };
  }

  /**
   * A Bind goes upstream; a failed one (a named portal that exists, such as a DECLAREd cursor, makes the server
   * refuse it) leaves the portal as it was, so a later Execute is judged as what the server runs, or as unknown.
   */
  private admitBind(name: string, portal: Portal, note: DecisionNote): void {
    portal.command.decision = note;
    const previous = name === '' ? undefined : this.portals.get(name);
    this.portals.set(name, portal);
    this.o.tracker.sent('bind', (ok) => {
      if (ok || this.portals.get(name) !== portal) return;
      if (previous) this.portals.set(name, previous);
      else this.portals.delete(name);
    });
  }

  /**
   * Judges an Execute again against the policy in force (a policy change stops a portal bound before it). The
   * portal's approval, if it needed one, was asked for at its Bind; an unknown portal is judged as unknown.
   */
  private execute(name: string): 'forward' | Omit<Held, 'bytes'> {
    const portal = this.portals.get(name);
    const command = portal?.command ?? this.command('<unknown portal>');
    const verdict = this.o.pipeline.onCommand(this.o.session, command, portal ? this.deferContext : this.context);
    if (!(verdict instanceof Promise) && verdict.effect === 'allow') {
      this.admitExecute(command, verdict.note, portal);
      return 'forward';
    }
    return { kind: 'execute', command, portal, verdict: verdict instanceof Promise ? verdict : Promise.resolve(verdict) };
  }

  /** The recorded decision is the Bind's (with its approval); without a portal, this verdict's. */
  private admitExecute(command: Command, note: DecisionNote, portal: Portal | undefined): void {
    this.o.tracker.execute(portal ? command : { ...command, decision: note });
  }

  /** A Parse held until the server answered everything before it: judged as any Parse. */
  private judgeParse(command: Command): Promise<Verdict> {
    const settle = this.o.settle?.(command);
    return settle ? settle.then((refused) => refused ?? this.judgeLater(command, this.deferContext)) : this.judgeLater(command, this.deferContext);
  }

  /** The verdict on a statement held before it was judged (settle), with the masking check of an allow. */
  private judgeLater(command: Command, context: CommandContext): Promise<Verdict> {
    const verdict = this.o.pipeline.onCommand(this.o.session, command, context);
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
  private admit(kind: 'query' | 'parse', command: Command, name?: string): void {
    if (kind === 'query') this.o.tracker.simple(command);
    else this.define(name ?? '', command);
  }

  /**
   * A Parse goes upstream. The statement counts once the server parsed it: a failed or skipped Parse defines
   * nothing. A named Parse of a name Warden knows (held until every earlier answer is in) fails on the server and
   * keeps the old statement, unless the name was freed where Warden does not follow (SQL DEALLOCATE and DISCARD ALL
   * share these names): until its answer says which, the name is in doubt and a Bind of it is judged unknown.
   */
  private define(name: string, command: Command): void {
    const previous = name === '' ? undefined : this.statements.get(name);
    const entry = previous ? this.command(`<prepared statement "${name}" in doubt until the server answers its Parse>`) : command;
    this.statements.set(name, entry);
    this.unsettle(name, 1);
    this.o.tracker.sent('parse', (ok) => {
      this.unsettle(name, -1);
      if (this.statements.get(name) !== entry) return;
      if (ok) this.statements.set(name, command);
      else if (previous) this.statements.set(name, previous);
      else this.statements.delete(name);
    });
  }

  private unsettle(name: string, by: 1 | -1): void {
    const n = (this.unsettled.get(name) ?? 0) + by;
    if (n > 0) this.unsettled.set(name, n);
    else this.unsettled.delete(name);
  }

  /** Holds a statement until its verdict, then forwards it or answers with the refusal, then goes on. */
  private hold(held: Held): void {
    this.held = held;
    this.o.io.pauseClient();
    // An open batch would keep the answers to earlier messages in the server's buffer: ask for them now. A Query
    // sent inside an open batch too: its refusal waits for those answers (without the Flush the session froze).
    if (this.o.tracker.batchOpen) this.o.io.toUpstream(FLUSH);
    continueSession(held.verdict, this.onVerdict, this.o.io.fail);
  }

  /** The held statement's verdict is in: forward it or answer the refusal, then go on with what was queued. */
  private readonly onVerdict = async (verdict: Verdict): Promise<void> => {
    const held = this.held;
    if (this.closed || !held) return;
    if (held.cancelled) await this.refuse(held.kind, CANCELLED);
    else if (verdict.effect === 'allow') {
      if (held.kind === 'execute') this.admitExecute(held.command, verdict.note, held.portal);
      else if (held.kind === 'bind') this.admitBind(held.name!, held.portal!, verdict.note);
      else this.admit(held.kind, { ...held.command, decision: verdict.note }, held.name);
      const own = this.o.forwarding?.(held.bytes[0], held.bytes.subarray(5)) ?? null;
      if (own !== null) this.o.io.toUpstream(own);
      this.o.io.toUpstream(held.bytes);
    } else {
      const code = maskingRefusals.has(verdict) ? 'WARDEN_ERR_FORBIDDEN' : 'WARDEN_ERR_ACCESS_DENIED';
      await this.refuse(held.kind, { severity: 'ERROR', code: '42501', message: verdict.message,
        ...(verdict.note.rule ? { detail: `Warden policy rule: ${verdict.note.rule}` } : {}), hint: `Warden error code ${code}` });
    }
    this.release();
  };

  /** Answers a refused statement in protocol order: an error, then ReadyForQuery or skipping to the Sync. */
  private async refuse(kind: Held['kind'], fields: PgErrorFields): Promise<void> {
    const error = encodeErrorResponse(fields);
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

  /** Sends Warden's own message in protocol order; a failure on the way ends the session. */
  private answer(bytes: Buffer): void {
    this.answerWhenIdle(bytes).catch(this.o.io.fail);
  }

  private notify(text: string): void {
    this.answer(encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: text }));
  }

  /**
   * A notice Warden sends unasked (a token about to expire): only once the connection is between exchanges (no
   * result or open batch under way, tracker.whenQuiet) and the bytes sent to the caller end on a message boundary,
   * so it never lands inside a result. An idle session gets it at once; a busy one when its work is answered.
   */
  unprompted(text: string): void {
    const bytes = encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: text });
    const send = async () => {
      await this.o.tracker.whenQuiet();
      await this.o.io.whenClientAtBoundary();
      if (!this.closed) this.o.io.toClient(bytes);
    };
    send().catch(this.o.io.fail);
  }

  private command(text: string, params?: Command['params']): Command {
    return params ? { protocol: 'postgres', kind: 'sql', text, params } : { protocol: 'postgres', kind: 'sql', text };
  }

  /** A Close frees a statement name once the server closed it (one skipped after an error in its batch did not). */
  private onClose(body: Buffer): void {
    const { which, name } = decodeDescribeOrClose(body);
    if (which !== 'S') {
      this.portals.delete(name);
      this.o.tracker.sent('close');
      return;
    }
    const closing = this.statements.get(name);
    this.unsettle(name, 1);
    this.o.tracker.sent('close', (ok) => {
      this.unsettle(name, -1);
      if (ok && this.statements.get(name) === closing) this.statements.delete(name);
    });
  }
}
