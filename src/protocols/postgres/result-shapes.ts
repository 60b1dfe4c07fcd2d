/**
 * Which result shape every DataRow of a masked session belongs to. The server answers in the order it was asked, so
 * a FIFO of what was forwarded (simple Queries, Describes, Executes, Syncs) lined up with what comes back tells, for
 * each DataRow, the statement and portal it is a row of. Each portal's plan is learnt from a RowDescription that
 * answers a Describe of that very portal sent after its last Bind: when the caller sent none, Warden sends its own
 * Describe just before the Execute and swallows the answer. A row for which no such plan is known is refused (the
 * relay ends the session): a DataRow never leaves Warden unmasked because Warden does not know its shape.
 * Plans are forgotten when a portal is bound again or closed and at every ReadyForQuery (a later Execute of the same
 * portal is described again). A statement name's facts change only once the server parsed or closed it: a Parse of
 * a name the server still holds fails there and keeps the old statement, so until the answer the name carries the
 * facts of both (and a SQL PREPARE of a known name, whose outcome is not followed here, keeps both for good).
 * Owns only this bookkeeping; decides nothing about access.
 */
import { WardenError } from '../../errors.js';
import type { MaskPlan } from '../../masking/plan.js';
import { decodeBind, decodeDescribeOrClose, decodeExecute, decodeParse, decodeQuery } from './codec.js';

/** What masking knows about a statement's output (see src/masking/derived.ts). */
export interface ShapeFacts {
  /** Cache key of these facts (plans differ with them). */
  key: string;
}

/** How statement texts become facts, and how cursors declared or fetched by a text are found. */
export interface FactsSource<F extends ShapeFacts> {
  /**
   * The facts of a statement text, with the cursors it declares and those it fetches from (FETCH, MOVE), and the
   * statements it prepares and executes (SQL PREPARE and EXECUTE share their names with protocol-level statements).
   */
  analyze(text: string): { facts: F; declares: string[]; fetches: string[]; prepares?: string[]; executes?: string[] };
  /** Facts merged from several (a Query fetching from cursors), and the facts of a portal Warden knows nothing of. */
  merge(facts: F[]): F;
  unknown: F;
}

/** What the upstream is answering, oldest first. */
export type Expected<F> =
  | { kind: 'query'; facts: F }
  | { kind: 'describe'; portal: string | undefined; own: boolean; facts: F }
  | { kind: 'execute'; portal: string }
  | { kind: 'sync' }
  /** A Parse or a Close of a statement: `before` is the name's facts until the server carried it out. */
  | { kind: 'parse'; name: string; before: F | undefined; after: F }
  | { kind: 'close'; name: string; before: F | undefined }
  /** A Bind: a named portal that already exists (a DECLAREd cursor) keeps its own facts when the Bind fails. */
  | { kind: 'bind'; portal: string; before: F | undefined; after: F };

/** Plans of portals that were described but can produce no rows (NoData). */
const NO_DATA: MaskPlan = { columns: [], empty: true };

function forbidden(message: string): WardenError {
  return new WardenError('WARDEN_ERR_FORBIDDEN', message);
}

/** A Describe ('D') of a portal, as Warden sends it itself. */
export function encodeDescribePortal(portal: string): Buffer {
  const name = Buffer.from(portal, 'utf8');
  const out = Buffer.alloc(1 + 4 + 1 + name.length + 1);
  out[0] = 0x44;
  out.writeInt32BE(out.length - 1, 1);
  out[5] = 0x50;
  name.copy(out, 6);
  return out;
}

/** The result shapes of one session (see the module comment). */
export class ResultShapes<F extends ShapeFacts> {
  private queue: Expected<F>[] = [];
  private head = 0;
  /** After an error in an extended batch with no Sync forwarded yet: the server skips everything up to it. */
  private skipping = false;
  /** Forward side: portals described since their last Bind and the last Sync or Query. */
  private readonly described = new Set<string>();
  private readonly statementFacts = new Map<string, F>();
  private readonly portalFacts = new Map<string, F>();
  /** Answer side: each portal's plan, from the answer to a Describe sent after its last Bind. */
  private readonly portalPlans = new Map<string, MaskPlan>();
  private queryPlan: MaskPlan | null = null;

  constructor(private readonly source: FactsSource<F>) {}

  /**
   * Every message forwarded upstream, in order, just before it goes. Returns the bytes Warden sends before it (its
   * own Describe of a portal about to be executed whose shape is not known), or null.
   */
  forwarding(type: number, body: Buffer): Buffer | null {
    switch (type) {
      case 0x51: /* Q */ this.described.clear(); this.push({ kind: 'query', facts: this.textFacts(decodeQuery(body)) }); return null;
      case 0x46: /* F */ this.described.clear(); this.push({ kind: 'query', facts: this.source.unknown }); return null;
      case 0x50: /* P */ {
        const parse = decodeParse(body);
        const after = this.textFacts(parse.query);
        if (this.skipping) return null;
        // The server drops the unnamed statement before parsing; a named one it still holds stays on failure.
        const before = parse.name === '' ? undefined : this.statementFacts.get(parse.name);
        this.statementFacts.set(parse.name, before === undefined ? after : this.source.merge([before, after]));
        this.push({ kind: 'parse', name: parse.name, before, after });
        return null;
      }
      case 0x42: /* B */ {
        const bind = decodeBind(body);
        this.described.delete(bind.portal);
        const after = this.statementFacts.get(bind.statement) ?? this.source.unknown;
        if (this.skipping) return null;
        const before = bind.portal === '' ? undefined : this.portalFacts.get(bind.portal);
        this.portalFacts.set(bind.portal, before === undefined ? after : this.source.merge([before, after]));
        this.push({ kind: 'bind', portal: bind.portal, before, after });
        return null;
      }
      case 0x44: /* D */ {
        const { which, name } = decodeDescribeOrClose(body);
        if (which === 'P') this.described.add(name);
        this.push({ kind: 'describe', portal: which === 'P' ? name : undefined, own: false, facts: this.facts(name) });
        return null;
      }
      case 0x45: /* E */ return this.execute(decodeExecute(body).portal);
      case 0x43: /* C */ {
        const { which, name } = decodeDescribeOrClose(body);
        if (which === 'S') this.push({ kind: 'close', name, before: this.statementFacts.get(name) });
        else this.described.delete(name);
        return null;
      }
      case 0x53: /* S */ this.described.clear(); this.skipping = false; this.push({ kind: 'sync' }); return null;
      default: return null;
    }
  }

  private execute(portal: string): Buffer | null {
    let own: Buffer | null = null;
    if (!this.described.has(portal)) {
      this.described.add(portal);
      this.push({ kind: 'describe', portal, own: true, facts: this.facts(portal) });
      own = encodeDescribePortal(portal);
    }
    this.push({ kind: 'execute', portal });
    return own;
  }

  private facts(portal: string): F {
    return this.portalFacts.get(portal) ?? this.source.unknown;
  }

  /** The facts of a text; cursors it declares get them, cursors it fetches from add theirs. */
  private textFacts(text: string): F {
    const { facts, declares, fetches, prepares = [], executes = [] } = this.source.analyze(text);
    const merged = fetches.length + executes.length === 0 ? facts : this.source.merge([facts,
      ...fetches.map((name) => this.portalFacts.get(name) ?? this.source.unknown),
      ...executes.map((name) => this.statementFacts.get(name) ?? this.source.unknown)]);
    for (const name of declares) this.portalFacts.set(name, merged);
    for (const name of prepares) {
      const before = this.statementFacts.get(name);
      this.statementFacts.set(name, before === undefined ? merged : this.source.merge([before, merged]));
    }
    return merged;
  }

  private push(item: Expected<F>): void {
    // While the server skips to the next Sync, nothing but that Sync will be answered.
    if (this.skipping && item.kind !== 'sync') return;
    this.queue.push(item);
  }

  /** What the upstream is answering now. */
  current(): Expected<F> | undefined {
    return this.queue[this.head];
  }

  /** ParseComplete, BindComplete or CloseComplete: the change at the head took effect. */
  answered(): void {
    const head = this.current();
    if (head?.kind !== 'parse' && head?.kind !== 'close' && head?.kind !== 'bind') return;
    this.shift();
    if (head.kind === 'parse') this.statementFacts.set(head.name, head.after);
    else if (head.kind === 'bind') this.portalFacts.set(head.portal, head.after);
    else this.statementFacts.delete(head.name);
  }

  /** A Parse, Bind or Close the server did not carry out (it failed, or was skipped after an error): the name is as before. */
  private undo(item: Expected<F>): void {
    if (item.kind !== 'parse' && item.kind !== 'close' && item.kind !== 'bind') return;
    const [facts, name] = item.kind === 'bind' ? [this.portalFacts, item.portal] : [this.statementFacts, item.name];
    if (item.before === undefined) facts.delete(name);
    else facts.set(name, item.before);
  }

  private shift(): void {
    this.head++;
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * A RowDescription or NoData (plan null) arrived; `plan` makes the plan from the facts of the statement it
   * describes. Returns true when the message answers Warden's own Describe (the caller never asked: drop it).
   */
  description(plan: ((facts: F) => MaskPlan) | null): boolean {
    const head = this.current();
    if (head?.kind === 'query') {
      if (plan !== null) this.queryPlan = plan(head.facts);
      return false;
    }
    if (head?.kind !== 'describe') throw forbidden('a result description arrived that answers no Describe or Query; masking cannot place it');
    this.shift();
    if (head.portal !== undefined) this.portalPlans.set(head.portal, plan === null ? NO_DATA : plan(head.facts));
    return head.own;
  }

  /** The plan for a DataRow arriving now; throws WARDEN_ERR_FORBIDDEN when its shape is unknown. */
  rowPlan(body: Buffer): MaskPlan {
    const head = this.current();
    let plan: MaskPlan | null | undefined;
    if (head?.kind === 'query') plan = this.queryPlan;
    else if (head?.kind === 'execute') plan = this.portalPlans.get(head.portal);
    if (plan === null || plan === undefined || plan === NO_DATA) {
      throw forbidden('a result row arrived whose shape Warden does not know; masking rules apply to this session, so it is refused');
    }
    if (body.length < 2 || body.readUInt16BE(0) !== plan.columns.length) {
      throw forbidden('a result row does not match the shape Warden learnt for it; masking rules apply to this session, so it is refused');
    }
    return plan;
  }

  /** The facts of the statement whose rows, errors or COPY arrive now (unknown when Warden cannot tell). */
  runningFacts(): F {
    const head = this.current();
    if (head?.kind === 'query' || head?.kind === 'describe') return head.facts;
    if (head?.kind === 'execute') return this.facts(head.portal);
    return this.source.unknown;
  }

  /** CommandComplete or EmptyQueryResponse (ends a statement), PortalSuspended (ends an Execute). */
  completed(suspended: boolean): void {
    const head = this.current();
    if (head?.kind === 'query') {
      if (!suspended) this.queryPlan = null;
    } else if (head?.kind === 'execute') this.shift();
  }

  /** ErrorResponse: a simple Query goes on to its ReadyForQuery; an extended batch is skipped up to its Sync. */
  failed(): void {
    const head = this.current();
    if (head === undefined || head.kind === 'query') {
      this.queryPlan = null;
      return;
    }
    while (this.current() !== undefined && this.current()!.kind !== 'sync') {
      this.undo(this.current()!);
      this.shift();
    }
    if (this.current() === undefined) this.skipping = true;
  }

  /** ReadyForQuery: answers the oldest Sync or Query; every plan is forgotten (portals are described again). */
  ready(): void {
    for (;;) {
      const head = this.current();
      if (head === undefined) break;
      this.undo(head);
      this.shift();
      if (head.kind === 'sync' || head.kind === 'query') break;
    }
    this.queryPlan = null;
    this.portalPlans.clear();
  }
}
