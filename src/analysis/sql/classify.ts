/**
 * Classifies one statement node by its own content: the class table row for its node type, refined by the checks
 * that need to look inside (DELETE/UPDATE bounds, COPY direction and endpoint, SET ROLE, EXPLAIN ANALYZE, PREPARE,
 * ALTER TABLE ... DROP, SECURITY DEFINER, function languages and bodies, DO blocks).
 *
 * Owns the per-statement rules. Pure: no I/O, no parsing (bodies to parse are returned to the caller).
 * Statements nested inside this one, and function calls, are merged by the caller (statement.ts).
 */
import { ADMIN_SETTINGS, IDENTITY_SETTINGS } from './functions.js';
import { ADMIN_DROP_TYPES, BASE_CLASSES, PRIVILEGE_DROP_TYPES } from './kinds.js';
import type { StatementClass } from './types.js';
import type { Node } from './walk.js';
import { isPinnedSetting, pinnedRefusal, setStatementRefusal, settingNamesFromWhere } from './settings.js';
import { whereVerdict } from './where.js';

/** Source text that must be parsed separately and classified as part of this statement. */
export interface Body {
  /** `sql`: a SQL-language function body; `plpgsql-function`: a whole CREATE FUNCTION; `plpgsql-block`: a DO body. */
  language: 'sql' | 'plpgsql-function' | 'plpgsql-block';
  source: string;
}

/** What one statement node says about itself. */
export interface Verdict {
  classes: Set<StatementClass>;
  unbounded: boolean;
  /** False for plain EXPLAIN: the statements inside are planned, not run. */
  mergeNested: boolean;
  bodies: Body[];
  prepares?: string;
  executes?: string;
  deallocates?: string;
  /** Set when the statement must never run through Warden (it would change a pinned setting; settings.ts). */
  refusal?: string;
  /** True when a number's value decided `unbounded` (where.ts): the text must not share a cached analysis. */
  numbersMatter?: boolean;
}

type Rule = (node: Node, verdict: Verdict, text: string) => void;

/** Classifies `node` of parser type `kind`; `text` is the statement's own source (for CREATE FUNCTION bodies). */
export function classify(kind: string, node: Node, text: string): Verdict {
  const base = BASE_CLASSES.get(kind) ?? ['unknown'];
  const verdict: Verdict = { classes: new Set(base), unbounded: false, mergeNested: true, bodies: [] };
  RULES[kind]?.(node, verdict, text);
  return verdict;
}

const RULES: Record<string, Rule> = {
  SelectStmt(node, v) {
    if (node.intoClause) add(v, 'ddl', 'write'); // SELECT ... INTO creates and fills a table
    if (Array.isArray(node.lockingClause)) add(v, 'write'); // FOR UPDATE/SHARE takes row locks
  },
  DeleteStmt: boundedWrite,
  UpdateStmt(node, v) {
    boundedWrite(node, v);
    // UPDATE pg_settings is set_config by another name, role included.
    const rel = node.relation as Node | undefined;
    if (rel?.relname === 'pg_settings' && (rel.schemaname ?? 'pg_catalog') === 'pg_catalog') {
      add(v, 'privilege');
      // It can reach a pinned setting unless its WHERE names the settings, none of them pinned.
      const names = settingNamesFromWhere(node.whereClause, String((rel.alias as Node | undefined)?.aliasname ?? 'pg_settings'));
      if (names === undefined || names.some(isPinnedSetting)) {
        add(v, 'unknown');
        v.refusal = pinnedRefusal(names?.find(isPinnedSetting) ?? 'standard_conforming_strings');
      }
    }
  },
  MergeStmt(node, v) {
    const clauses = ((node.mergeWhenClauses ?? []) as Node[]).map((c) => (c.MergeWhenClause ?? {}) as Node);
    const everyRow = (c: Node) => c.condition === undefined || always(c.condition, v);
    const removes = (c: Node) => c.commandType === 'CMD_DELETE' || c.commandType === 'CMD_UPDATE';
    // ON true matches every target row; WHEN NOT MATCHED BY SOURCE reaches every row the source lacks.
    const unbounded = clauses.some(
      (c) =>
        removes(c) &&
        everyRow(c) &&
        (c.matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE' ||
          (c.matchKind === 'MERGE_WHEN_MATCHED' && always(node.joinCondition, v))),
    );
    if (unbounded) markUnbounded(v);
  },
  LockStmt(node, v) {
    // ACCESS SHARE is the lock every SELECT takes (pg_dump takes it on each table it dumps); stronger modes block
    // other sessions' writes and are classed as writes.
    if (node.mode === ACCESS_SHARE_LOCK) v.classes = new Set(['read']);
  },
  CopyStmt(node, v) {
    const serverSide = node.is_program === true || typeof node.filename === 'string';
    if (serverSide) add(v, 'admin'); // PROGRAM runs a shell command, a file name is read/written by the server
    if (node.is_from === true) add(v, 'write');
  },
  VariableSetStmt(node, v) {
    const name = String(node.name ?? '').toLowerCase(); // GUC names are case-insensitive: SET "Role" sets role
    if (IDENTITY_SETTINGS.has(name)) add(v, 'privilege');
    if (ADMIN_SETTINGS.has(name)) add(v, 'admin');
    v.refusal = setStatementRefusal(node);
    if (v.refusal !== undefined) add(v, 'unknown');
  },
  TransactionStmt(node, v) {
    // Finishing a prepared transaction acts on work of any session: administrative.
    if (node.kind === 'TRANS_STMT_COMMIT_PREPARED' || node.kind === 'TRANS_STMT_ROLLBACK_PREPARED') add(v, 'admin');
  },
  ExplainStmt(node, v) {
    if (!explainAnalyze(node)) {
      v.mergeNested = false; // planned only; functions still count (the caller adds them)
      return;
    }
    const inner = innerStatement(node.query);
    if (!inner) return add(v, 'unknown');
    const runs = classify(inner.kind, inner.node, '');
    v.classes = new Set(runs.classes);
    v.unbounded = runs.unbounded;
    v.numbersMatter = runs.numbersMatter;
    v.executes = runs.executes;
    v.refusal = runs.refusal;
  },
  PrepareStmt(node, v) {
    const inner = innerStatement(node.query);
    const prepared = inner ? classify(inner.kind, inner.node, '') : undefined;
    v.classes = new Set(prepared?.classes ?? ['unknown']);
    v.unbounded = prepared?.unbounded ?? false;
    v.numbersMatter = prepared?.numbersMatter;
    v.refusal = prepared?.refusal;
    v.prepares = String(node.name ?? '');
  },
  ExecuteStmt(node, v) {
    v.executes = String(node.name ?? '');
  },
  DeallocateStmt(node, v) {
    v.deallocates = node.isall === true ? 'ALL' : String(node.name ?? '');
  },
  DropStmt(node, v) {
    if (ADMIN_DROP_TYPES.has(String(node.removeType))) add(v, 'admin');
    if (PRIVILEGE_DROP_TYPES.has(String(node.removeType))) add(v, 'privilege');
  },
  AlterTableStmt(node, v) {
    for (const cmd of (node.cmds ?? []) as Node[]) {
      const subtype = String((cmd.AlterTableCmd as Node | undefined)?.subtype ?? '');
      if (subtype.startsWith('AT_Drop')) add(v, 'destructive'); // DROP COLUMN, CONSTRAINT, NOT NULL, IDENTITY, ...
      if (subtype === 'AT_ChangeOwner' || subtype.endsWith('RowSecurity')) add(v, 'privilege');
    }
  },
  AlterDomainStmt(node, v) {
    if (node.subtype === 'X' || node.subtype === 'N') add(v, 'destructive'); // DROP CONSTRAINT, DROP NOT NULL
  },
  RenameStmt(node, v) {
    if (node.renameType === 'OBJECT_ROLE') v.classes = new Set(['privilege']);
    if (ADMIN_OBJECTS.has(String(node.renameType))) v.classes = new Set(['admin']);
  },
  AlterOwnerStmt(node, v) {
    if (ADMIN_OBJECTS.has(String(node.objectType))) v.classes = new Set(['admin', 'privilege']);
  },
  AlterFunctionStmt(node, v) {
    if (securityDefiner(node.actions)) add(v, 'privilege');
  },
  CreateFunctionStmt: createFunction,
  DoStmt(node, v) {
    const language = option(node.args, 'language') ?? 'plpgsql';
    const source = option(node.args, 'as');
    if (language.toLowerCase() === 'plpgsql' && typeof source === 'string') {
      v.bodies.push({ language: 'plpgsql-block', source });
    }
    if (UNTRUSTED.test(language)) add(v, 'admin');
  },
};

/** Database-wide objects: renaming them or changing their owner is administration, not schema work. */
const ADMIN_OBJECTS = new Set([
  'OBJECT_DATABASE',
  'OBJECT_TABLESPACE',
  'OBJECT_SUBSCRIPTION',
  'OBJECT_PUBLICATION',
  'OBJECT_FOREIGN_SERVER',
  'OBJECT_FDW',
  'OBJECT_EVENT_TRIGGER',
  'OBJECT_LANGUAGE',
]);

/** LockStmt.mode of `LOCK ... IN ACCESS SHARE MODE` (lockdefs.h AccessShareLock). */
const ACCESS_SHARE_LOCK = 1;

/** C and internal functions run native code; untrusted PL languages (plpython3u, plperlu) reach the OS. */
const UNTRUSTED = /^(c|internal)$|u$/i;

function createFunction(node: Node, v: Verdict, text: string): void {
  if (securityDefiner(node.options)) add(v, 'privilege');
  if (node.sql_body !== undefined) return; // BEGIN ATOMIC: the walker sees the statements inside
  const language = option(node.options, 'language')?.toLowerCase();
  const source = firstAsString(node.options);
  if (language === 'sql' && source !== undefined) v.bodies.push({ language: 'sql', source });
  else if (language === 'plpgsql') v.bodies.push({ language: 'plpgsql-function', source: text });
  else add(v, 'unknown'); // a body in a language Warden cannot read
  if (language !== undefined && UNTRUSTED.test(language)) add(v, 'admin');
}

function boundedWrite(node: Node, v: Verdict): void {
  if (node.whereClause === undefined || always(node.whereClause, v, node.relation as Node | undefined)) markUnbounded(v);
}

/** where.ts's verdict on a condition (of a write to `target`), noting when a number's value decided it. */
function always(condition: unknown, v: Verdict, target?: Node): boolean {
  const { alwaysTrue, numbersMatter } = whereVerdict(condition, target);
  if (numbersMatter) v.numbersMatter = true;
  return alwaysTrue;
}

function markUnbounded(v: Verdict): void {
  v.unbounded = true;
  add(v, 'destructive');
}

function add(v: Verdict, ...classes: StatementClass[]): void {
  for (const c of classes) v.classes.add(c);
}

/** `{ DeleteStmt: {...} }` -> its type and payload. */
export function innerStatement(wrapped: unknown): { kind: string; node: Node } | undefined {
  if (wrapped === null || typeof wrapped !== 'object') return undefined;
  const [kind] = Object.keys(wrapped);
  const node = (wrapped as Node)[kind];
  return kind && node && typeof node === 'object' ? { kind, node: node as Node } : undefined;
}

/** EXPLAIN ANALYZE runs the statement; `analyze false` or `off` does not (`analyze 0` is taken to run it). */
function explainAnalyze(node: Node): boolean {
  for (const opt of (node.options ?? []) as Node[]) {
    const def = opt.DefElem as Node | undefined;
    if (def?.defname !== 'analyze') continue;
    const arg = def.arg as Node | undefined;
    if (arg === undefined) return true;
    // `analyze 0` would not run it, but results are shared between texts that differ only in numbers.
    if (arg.Integer || arg.Float) return true;
    if (arg.Boolean) return (arg.Boolean as Node).boolval === true;
    // PostgreSQL accepts only true/false/on/off here; any other word is an error, so it is safe to call it "runs".
    const word = String((arg.String as Node | undefined)?.sval ?? '').toLowerCase();
    return word !== 'false' && word !== 'off';
  }
  return false;
}

function securityDefiner(options: unknown): boolean {
  return ((options ?? []) as Node[]).some((opt) => {
    const def = opt.DefElem as Node | undefined;
    return def?.defname === 'security' && ((def.arg as Node)?.Boolean as Node | undefined)?.boolval === true;
  });
}

/** A DefElem option's string value (`language plpgsql`, DO's `as`). */
function option(options: unknown, name: string): string | undefined {
  for (const opt of (options ?? []) as Node[]) {
    const def = opt.DefElem as Node | undefined;
    if (def?.defname !== name) continue;
    const s = ((def.arg as Node)?.String as Node | undefined)?.sval;
    if (typeof s === 'string') return s;
  }
  return undefined;
}

/** CREATE FUNCTION's `AS 'body'` (a one-item list; C functions give two: library and symbol). */
function firstAsString(options: unknown): string | undefined {
  for (const opt of (options ?? []) as Node[]) {
    const def = opt.DefElem as Node | undefined;
    if (def?.defname !== 'as') continue;
    const items = (((def.arg as Node)?.List as Node | undefined)?.items ?? []) as Node[];
    const s = (items[0]?.String as Node | undefined)?.sval;
    return typeof s === 'string' ? s : undefined;
  }
  return undefined;
}
