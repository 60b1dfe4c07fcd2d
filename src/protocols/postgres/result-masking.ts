/**
 * Masking of PostgreSQL results for one session: turns the session's mask rules into a plan per result shape
 * (RowDescription), then rewrites the messages that carry data: DataRow, COPY TO STDOUT rows, NOTIFY payloads, and
 * error or notice texts that echo values (a unique violation's DETAIL). Returns the replacement message, or null to
 * forward the original bytes untouched. Decides nothing about access; never sees the caller's input.
 */
import type { MaskItem } from '../../policy/schema.js';
import { compilePlan, type ColumnInfo, type MaskPlan } from '../../masking/plan.js';
import { maskCopyLine } from '../../masking/datarow.js';
import { maskDataRow } from '../../masking/datarow.js';
import { maskFreeText } from '../../masking/text.js';
import { WardenError } from '../../errors.js';
import {
  decodeCopyOutResponse, decodeErrorFields, decodeNotification, decodeRowDescription, encodeFieldsMessage,
  encodeNotification, wrapMessage, type FieldDescription,
} from './codec.js';
import type { TableCatalog } from './catalog.js';
import { typeName } from './types.js';

/** The mask rules that apply to a session, as the policy engine returns them. */
export type MaskRules = Array<{ rule: string; items: MaskItem[] }>;

/** Error and notice fields that can echo data: message, detail, hint, context, where. */
const TEXT_FIELDS = ['M', 'D', 'H', 'W'];

/** Rewrites the data-bearing messages of one session's results. */
export class ResultMasker {
  private plan: MaskPlan | null = null;
  private copyPlan: MaskPlan | null = null;

  /** Whether any rule names columns: only then do result columns need their source table's name. */
  private readonly needsSources: boolean;

  constructor(private readonly rules: MaskRules, private readonly hashKey: Buffer, private readonly catalog: TableCatalog) {
    this.needsSources = rules.some((r) => r.items.some((i) => i.columns !== undefined));
  }

  /** Table OIDs of a RowDescription whose names must be looked up before its rows can be masked. */
  pendingTables(rowDescription: Buffer): number[] {
    if (!this.needsSources) return [];
    return this.catalog.missing(decodeRowDescription(rowDescription).map((f) => f.tableOid));
  }

  /** Looks up tables (see pendingTables); fails closed with WARDEN_ERR_UPSTREAM_UNAVAILABLE. */
  resolveTables(oids: number[]): Promise<void> {
    return this.catalog.resolve(oids);
  }

  /** Releases the metadata connection. */
  close(): Promise<void> {
    return this.catalog.close();
  }

  /** The replacement for one backend message, or null to forward it as it came. */
  transform(type: number, body: Buffer): Buffer | null {
    switch (type) {
      case 0x54: /* T */ this.plan = this.planFor(decodeRowDescription(body)); return null;
      case 0x44: /* D */ return this.row(body);
      case 0x48: /* H */ this.copyPlan = this.copyPlanFor(body); return null;
      case 0x64: /* d */ return this.copyRow(body);
      case 0x43: /* C */ this.copyPlan = null; return null;
      case 0x41: /* A */ return this.notification(body);
      case 0x45: /* E */ case 0x4e: /* N */ return this.fields(type, body);
      default: return null;
    }
  }

  private planFor(fields: FieldDescription[]): MaskPlan {
    const columns: ColumnInfo[] = fields.map((f) => ({ name: f.name, typeName: typeName(f.typeOid), format: f.format,
      source: f.tableOid === 0 ? undefined : this.catalog.source(f.tableOid, f.columnNumber) }));
    const plan = compilePlan(this.rules, columns);
    if (plan.binaryRefusal) throw new WardenError('WARDEN_ERR_FORBIDDEN', plan.binaryRefusal);
    return plan;
  }

  private row(body: Buffer): Buffer | null {
    if (!this.plan || this.plan.empty) return null;
    const masked = maskDataRow(body, this.plan, this.hashKey);
    return masked === null ? null : wrapMessage(0x44, masked);
  }

  /** COPY has no column names: every column is scanned with the content rules. */
  private copyPlanFor(body: Buffer): MaskPlan {
    const { format, columnFormats } = decodeCopyOutResponse(body);
    const columns: ColumnInfo[] = columnFormats.map(() => ({ name: '', typeName: 'text', format }));
    const plan = compilePlan(this.rules.map((r) => ({ rule: r.rule, items: r.items.filter((i) => i.detectors || i.patterns) })), columns);
    if (format !== 0 && !plan.empty) throw new WardenError('WARDEN_ERR_FORBIDDEN', 'binary COPY is refused: masking rules apply to this session');
    return plan;
  }

  private copyRow(body: Buffer): Buffer | null {
    if (!this.copyPlan || this.copyPlan.empty) return null;
    const text = body.toString('utf8');
    const newline = text.endsWith('\n');
    const masked = maskCopyLine(newline ? text.slice(0, -1) : text, this.copyPlan, this.hashKey);
    return masked === null ? null : wrapMessage(0x64, Buffer.from(newline ? `${masked}\n` : masked));
  }

  private notification(body: Buffer): Buffer | null {
    const { processId, channel, payload } = decodeNotification(body);
    const masked = maskFreeText(payload, this.rules, this.hashKey);
    return masked === payload ? null : encodeNotification(processId, channel, masked);
  }

  private fields(type: 0x45 | 0x4e, body: Buffer): Buffer | null {
    const fields = decodeErrorFields(body);
    let changed = false;
    for (const code of TEXT_FIELDS) {
      const value = fields[code];
      if (value === undefined) continue;
      const masked = maskFreeText(value, this.rules, this.hashKey);
      if (masked !== value) {
        fields[code] = masked;
        changed = true;
      }
    }
    return changed ? encodeFieldsMessage(type, fields) : null;
  }
}
