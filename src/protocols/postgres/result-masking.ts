/**
 * Masking of PostgreSQL results for one session: turns the session's mask rules into a plan per result shape
 * (RowDescription, or the table a COPY names), then rewrites the messages that carry data: DataRow, COPY TO STDOUT
 * rows, NOTIFY payloads, and error or notice texts that echo values (a unique violation's DETAIL). It also refuses,
 * before they run, the statements whose results it could not mask (COPY in binary, COPY (query) when rules name
 * columns, a client_encoding other than UTF8), and ends the session when such a result shows up anyway.
 * Decides nothing about access; never sees the caller's input beyond statement texts.
 */
import { isUtf8 } from 'node:buffer';
import type { MaskItem } from '../../policy/schema.js';
import { compileRules } from '../../masking/rules.js';
import { compilePlan, type ColumnInfo, type MaskPlan } from '../../masking/plan.js';
import { RowRewriter } from '../../masking/datarow.js';
import { TEXT_LAYOUT, maskCopyLine, type CopyLayout } from '../../masking/copy.js';
import { ByteSink } from '../../masking/sink.js';
import { maskFreeText } from '../../masking/text.js';
import { WardenError } from '../../errors.js';
import type { Command } from '../../session/types.js';
import {
  decodeCopyOutResponse, decodeErrorFields, decodeNotification, decodeParameterStatus, decodeRowDescription,
  encodeFieldsMessage, encodeNotification, textMessage,
} from './codec.js';
import type { TableCatalog, TableColumns } from './catalog.js';
import { copyTablePlan } from './copy-plan.js';
import { statementFacts, type CopyOut } from './copy-statements.js';
import { typeName } from './types.js';
import { maskValue, type Strategy } from '../../masking/strategies.js';
import { maskFactsSource, type MaskFacts, type MaskFactsSource } from '../../masking/derived.js';
import { ResultShapes } from './result-shapes.js';
import { copyOptionRefusal } from './copy-options.js';

/** The mask rules that apply to a session, as the policy engine returns them. */
export type MaskRules = Array<{ rule: string; items: MaskItem[] }>;

/** The statement a result belongs to, as the relay's tracker knows it. */
export interface RunningStatement {
  command: Command;
  /** A simple Query (maybe several statements) rather than one Execute. */
  simple: boolean;
}

/** Error and notice fields that can echo data: message, detail, hint, context, where. */
const TEXT_FIELDS = ['M', 'D', 'H', 'W'];
/** Replaces a message that answers the caller's own Describe-less Execute: Warden's Describe, swallowed. */
const DROP = Buffer.alloc(0);
/** SQLSTATE classes whose texts echo values: data exceptions (22), integrity violations (23), raised exceptions (P0). */
const ECHO_CLASSES = /^(22|23|P0)/;
const MASKED_TEXT = '[masked by Warden]';
/** Result shapes remembered per session, and the bytes of their keys (a session rarely has more; past either the cache starts over). */
const PLAN_CACHE_MAX = 256;
const PLAN_CACHE_MAX_CHARS = 1024 * 1024;

function forbidden(message: string): WardenError {
  return new WardenError('WARDEN_ERR_FORBIDDEN', message);
}

/** Whether an encoding name is UTF-8 (PostgreSQL accepts UTF8, utf-8, unicode...). */
function isUtf8Name(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_]/g, '');
  return n === 'utf8' || n === 'unicode';
}

/** Rewrites the data-bearing messages of one session's results. */
export class ResultMasker {
  /** Which statement and portal every result belongs to, and each portal's plan. */
  private readonly shapes: ResultShapes<MaskFacts>;
  private readonly facts: MaskFactsSource;
  private readonly plans = new Map<string, { plan: MaskPlan; until: number }>();
  private planKeyChars = 0;
  private readonly rows: RowRewriter;
  /** The COPY being sent: its plan, how its lines are laid out, whether the next line is its header. */
  private copy: { plan: MaskPlan; layout: CopyLayout; header: boolean } | null = null;
  /** The statement whose COPYs are starting, and how many of them started (a simple Query may hold several). */
  private copyCommand: Command | undefined;
  private copiesStarted = 0;
  /** The tables a COPY's name resolved to, looked up when its CopyOutResponse arrived. */
  private copyTables: { command: Command; index: number; tables: TableColumns[] } | null = null;
  /** Whether any rule names columns: only then do result columns need their source table's name. */
  private readonly needsSources: boolean;
  /** Whether any rule names columns or types: only then does a COPY need its table's columns (it sends no types). */
  private readonly copyNeedsTable: boolean;
  /** Whether any rule masks whole values of the columns it names (not content scanning). */
  private readonly columnRules: boolean;
  private clientEncoding: string;
  private serverEncoding: string;

  /** `parameters`: the session's server parameters at startup (client_encoding, server_encoding). */
  constructor(private readonly rules: MaskRules, private readonly hashKey: Buffer, private readonly catalog: TableCatalog,
    parameters: Record<string, string>) {
    this.needsSources = rules.some((r) => r.items.some((i) => i.columns !== undefined));
    this.copyNeedsTable = rules.some((r) => r.items.some((i) => i.columns !== undefined || i.types !== undefined));
    this.columnRules = compileRules(rules).items.some((i) => i.scoped && !i.content);
    this.rows = new RowRewriter(hashKey);
    this.facts = maskFactsSource(rules);
    this.shapes = new ResultShapes(this.facts);
    this.clientEncoding = parameters.client_encoding ?? '';
    this.serverEncoding = parameters.server_encoding ?? '';
  }

  /**
   * Why masking cannot work with the session's encoding, or null: values are read as UTF-8, so the bytes on the
   * wire must be UTF-8 (SQL_ASCII sends the database's bytes unconverted: then the database's encoding counts).
   */
  encodingRefusal(): string | null {
    const wire = this.clientEncoding.toUpperCase() === 'SQL_ASCII' ? this.serverEncoding : this.clientEncoding;
    if (isUtf8Name(wire)) return null;
    return `masking rules apply to this session and need client_encoding UTF8; this session's is "${this.clientEncoding}"`;
  }

  /**
   * Why a statement must not run because its results could not be masked, or null. Checked before it is sent;
   * what only the server knows (a COPY's table) is checked when the result starts, and ends the session.
   */
  refusal(command: Command): string | null {
    const facts = statementFacts(command.text);
    if (facts.clientEncoding !== undefined && !isUtf8Name(facts.clientEncoding)) {
      return `client_encoding must stay UTF8 while masking rules apply to this session (asked: "${facts.clientEncoding}")`;
    }
    for (const copy of facts.copies) {
      const refused = this.copyRefusal(copy);
      if (refused !== null) return refused;
    }
    const masking = this.facts.analyze(command.text).facts;
    if (masking.derived !== null && facts.copies.some((c) => c.relation === undefined)) {
      // COPY rows carry no column descriptions: computed values that must be masked whole cannot be told apart.
      return 'COPY (query) TO STDOUT computing values from masked columns, or changing their form, is refused: ' +
        'masking rules apply to this session; use SELECT';
    }
    return copyOptionRefusal(command.text) ?? masking.refusal;
  }

  /**
   * Every message the gate forwards upstream, in order; returns bytes Warden sends just before it (its own
   * Describe of a portal whose shape it does not know yet), or null.
   */
  forwarding(type: number, body: Buffer): Buffer | null {
    return this.shapes.forwarding(type, body);
  }

  private copyRefusal(copy: CopyOut): string | null {
    if (copy.format === 'binary') return 'COPY TO STDOUT in binary format is refused: masking rules apply to this session; use the text format';
    if (copy.encoding !== undefined && !isUtf8Name(copy.encoding)) {
      return `COPY with ENCODING "${copy.encoding}" is refused: masking rules apply to this session; leave ENCODING out`;
    }
    if (!this.columnRules) return null;
    if (copy.relation === undefined) {
      return 'COPY (query) TO STDOUT is refused: masking rules name columns, and the columns of a query cannot be ' +
        'resolved for COPY; use SELECT, or COPY a table [(columns)] TO STDOUT';
    }
    if (copy.format === 'csv') {
      return 'COPY ... CSV TO STDOUT is refused: masking rules name columns, which are masked in the text format only; ' +
        'leave FORMAT csv out';
    }
    return null;
  }

  /**
   * What must be looked up before a message can be handled: the tables of a RowDescription's columns, or the table
   * a starting COPY names. Null when nothing (then transform() may be called); else a lookup to run first, after
   * which the same message is offered again. Lookups fail closed with WARDEN_ERR_UPSTREAM_UNAVAILABLE.
   */
  lookupBefore(type: number, body: Buffer, running: RunningStatement | undefined): (() => Promise<void>) | null {
    if (type === 0x54 /* T */) {
      if (!this.needsSources) return null;
      const pending = this.catalog.missing(decodeRowDescription(body).map((f) => f.tableOid));
      return pending.length === 0 ? null : () => this.catalog.resolve(pending);
    }
    if (type !== 0x48 /* H */ || !this.copyNeedsTable) return null;
    const { command, index, copy } = this.nextCopy(running);
    const relation = copy?.relation;
    if (command === undefined || relation === undefined) return null;
    const tables = this.copyTables;
    if (tables !== null && tables.command === command && tables.index === index) return null;
    return async () => {
      this.copyTables = { command, index, tables: await this.catalog.tablesNamed(relation.schema, relation.name) };
    };
  }

  /** Releases the metadata connection. */
  close(): Promise<void> {
    return this.catalog.close();
  }

  /**
   * Masks a DataRow body under the current result's plan: true when it changed, and writeRow() then writes the
   * rewritten message; false when the original bytes go out.
   */
  editRow(body: Buffer): boolean {
    const plan = this.shapes.rowPlan(body);
    return !plan.empty && this.rows.edit(body, plan);
  }

  /** Writes the DataRow that the last editRow() changed. */
  writeRow(sink: ByteSink): void {
    this.rows.write(sink);
  }

  /**
   * The replacement for one backend message other than DataRow, or null to forward it as it came; an empty buffer
   * drops it (the answer to Warden's own Describe). Throws WardenError WARDEN_ERR_FORBIDDEN when the result cannot
   * be masked (the relay then ends the session).
   */
  transform(type: number, body: Buffer, running?: RunningStatement): Buffer | null {
    switch (type) {
      case 0x54: /* T */ return this.shapes.description((facts) => this.planFor(body, facts)) ? DROP : null;
      case 0x6e: /* n */ return this.shapes.description(null) ? DROP : null;
      case 0x44: /* D */ return this.editRow(body) ? this.rowMessage() : null;
      case 0x48: /* H */ this.copy = this.copyPlanFor(body, running); return null;
      case 0x64: /* d */ return this.copyRow(body);
      case 0x43: /* C */ this.copy = null; this.shapes.completed(false); return null;
      case 0x49: /* I */ this.shapes.completed(false); return null;
      case 0x73: /* s */ this.shapes.completed(true); return null;
      case 0x5a: /* Z */ this.shapes.ready(); return null;
      case 0x31: /* 1 */ case 0x32: /* 2 */ case 0x33: /* 3 */ this.shapes.answered(); return null;
      case 0x41: /* A */ return this.notification(body);
      case 0x45: /* E */ {
        const masked = this.fields(type, body);
        this.copy = null;
        this.shapes.failed();
        return masked;
      }
      case 0x4e: /* N */ return this.fields(type, body);
      case 0x53: /* S */ this.parameterStatus(body); return null;
      default: return null;
    }
  }

  private rowMessage(): Buffer {
    const sink = new ByteSink(0);
    this.rows.write(sink);
    return sink.take()!;
  }

  /**
   * The plan of a RowDescription for a statement with `facts`, cached by both while the tables it was resolved
   * with stay cached.
   */
  private planFor(body: Buffer, facts: MaskFacts): MaskPlan {
    const key = `${facts.key}\0${body.toString('latin1')}`;
    const cached = this.plans.get(key);
    let plan = cached !== undefined && cached.until > Date.now() ? cached.plan : undefined;
    if (plan === undefined) {
      const fields = decodeRowDescription(body);
      const columns: ColumnInfo[] = fields.map((f) => ({ name: f.name, typeName: typeName(f.typeOid), format: f.format,
        source: f.tableOid === 0 ? undefined : this.catalog.source(f.tableOid, f.columnNumber), computed: f.tableOid === 0,
        derived: this.viewColumn(f.tableOid, f.columnNumber) }));
      plan = compilePlan(this.rules, columns, facts.derived);
      const until = this.needsSources ? this.catalog.freshUntil(fields.map((f) => f.tableOid)) : Infinity;
      if (this.plans.size >= PLAN_CACHE_MAX || this.planKeyChars + body.length > PLAN_CACHE_MAX_CHARS) {
        this.plans.clear();
        this.planKeyChars = 0;
      }
      this.plans.set(key, { plan, until });
      this.planKeyChars += key.length;
    }
    if (plan.binaryRefusal) throw forbidden(plan.binaryRefusal);
    return plan;
  }

  /** The action for a view's column computed from masked columns (resolved through its definition), or null. */
  private viewColumn(tableOid: number, attnum: number): { strategy: Strategy; rule: string } | null {
    if (tableOid === 0 || !this.needsSources) return null;
    const view = this.catalog.view(tableOid);
    return view === undefined ? null : this.facts.viewColumn(view.definition, attnum, view.nested);
  }

  /** The statement a starting COPY belongs to and which of its COPYs this is (the n-th CopyOutResponse of it). */
  private nextCopy(running: RunningStatement | undefined): { command?: Command; index: number; copy?: CopyOut } {
    if (running === undefined) return { index: 0 };
    const index = running.simple && running.command === this.copyCommand ? this.copiesStarted : 0;
    return { command: running.command, index, copy: statementFacts(running.command.text).copies[index] };
  }

  /** The plan of a starting COPY: its table's columns when rules name columns, else content scanning of every field. */
  private copyPlanFor(body: Buffer, running: RunningStatement | undefined): { plan: MaskPlan; layout: CopyLayout; header: boolean } {
    const { format, columnFormats } = decodeCopyOutResponse(body);
    if (format !== 0) throw forbidden('binary COPY is refused: masking rules apply to this session');
    const { command, index, copy } = this.nextCopy(running);
    this.copyCommand = command;
    this.copiesStarted = index + 1;
    if (copy !== undefined) {
      const refused = this.copyRefusal(copy);
      if (refused !== null) throw forbidden(refused);
    }
    const layout: CopyLayout = copy === undefined ? TEXT_LAYOUT
      : { format: copy.format === 'csv' ? 'csv' : 'text', delimiter: copy.delimiter, nullString: copy.nullString };
    const header = copy?.header === true;
    const relation = copy?.relation;
    if (!this.copyNeedsTable || (relation === undefined && !this.columnRules)) {
      // No rule depends on which column a value is in: every field gets every content rule.
      const action = compileRules(this.rules).freeText;
      return { plan: { columns: columnFormats.map(() => action), empty: action === null }, layout, header };
    }
    if (relation === undefined || command === undefined) {
      throw forbidden('a COPY whose columns Warden cannot tell is refused: masking rules name columns; use SELECT');
    }
    const tables = this.copyTables;
    this.copyTables = null;
    if (tables === null || tables.command !== command || tables.index !== index) {
      throw forbidden('a COPY whose table was not looked up is refused: masking rules name columns');
    }
    return { plan: copyTablePlan(this.rules, relation, tables.tables, columnFormats.length), layout, header };
  }

  private copyRow(body: Buffer): Buffer | null {
    const copy = this.copy;
    if (copy === null || copy.plan.empty) return null;
    if (copy.header) {
      copy.header = false;
      return null;
    }
    if (!isUtf8(body)) throw forbidden('a COPY row is not valid UTF-8 (did client_encoding change?); masking cannot read it');
    const text = body.toString('utf8');
    const newline = text.endsWith('\n');
    const masked = maskCopyLine(newline ? text.slice(0, -1) : text, copy.plan, this.hashKey, copy.layout);
    return masked === null ? null : textMessage(0x64, newline ? `${masked}\n` : masked);
  }

  private parameterStatus(body: Buffer): void {
    const { name, value } = decodeParameterStatus(body);
    if (name === 'client_encoding') this.clientEncoding = value;
    else if (name === 'server_encoding') this.serverEncoding = value;
    else return;
    const refused = this.encodingRefusal();
    if (refused !== null) throw forbidden(refused);
  }

  /**
   * A NOTIFY payload may come from any session and carry any value: detectors and patterns scan it, and when rules
   * name columns (whose values no detector may recognise) it is masked whole.
   */
  private notification(body: Buffer): Buffer | null {
    const { processId, channel, payload } = decodeNotification(body);
    const whole = this.facts.freeTextAction;
    const masked = whole !== null && payload !== '' ? maskValue(whole.strategy, payload, 'column', this.hashKey) ?? ''
      : maskFreeText(payload, this.rules, this.hashKey);
    return masked === payload ? null : encodeNotification(processId, channel, masked);
  }

  /**
   * Masks the texts of an error or notice: detectors and patterns on every text; and when the statement reads masked
   * columns or the error's class echoes values (a cast's invalid input, a unique violation's key), its quoted values
   * and its detail, hint and context are replaced whole.
   */
  private fields(type: 0x45 | 0x4e, body: Buffer): Buffer | null {
    const fields = decodeErrorFields(body);
    const whole = this.shapes.runningFacts().texts || ECHO_CLASSES.test(fields.C ?? '');
    let changed = false;
    for (const code of TEXT_FIELDS) {
      const value = fields[code];
      if (value === undefined) continue;
      let masked = maskFreeText(value, this.rules, this.hashKey);
      if (whole) masked = code === 'M' ? masked.replace(/"(?:[^"]|"")*"/g, `"${MASKED_TEXT}"`) : MASKED_TEXT;
      if (masked !== value) {
        fields[code] = masked;
        changed = true;
      }
    }
    return changed ? encodeFieldsMessage(type, fields) : null;
  }
}
