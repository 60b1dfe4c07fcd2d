/**
 * Functions whose call changes what a statement is: server file access, backend signalling, replication control,
 * remote connections (admin), sequence and large-object writes (write), `set_config` of the role (privilege),
 * `set_config` of a setting Warden keeps pinned (refused, settings.ts), and functions that run SQL text: a literal
 * text is handed back to be analysed like any statement, any other text is `unknown`.
 *
 * Owns the dangerous-function table and the per-call classification. Pure: no I/O, no parser calls.
 * Names are matched on their last part whatever the schema: `pg_catalog.pg_read_file`, `public.pg_read_file` and a
 * bare `pg_read_file` that the search_path resolves somewhere are all treated alike, because a wrapper function
 * of the same name is the usual way to hand the real one out.
 */
import { gucName, isPinnedSetting, keepsPin, pinnedRefusal } from './settings.js';
import type { StatementClass } from './types.js';
import type { Call } from './walk.js';

const ADMIN: StatementClass[] = ['admin'];
const WRITE: StatementClass[] = ['write'];
const UNKNOWN: StatementClass[] = ['unknown'];

/** Exact base names. */
const BY_NAME = new Map<string, readonly StatementClass[]>([
  // Server-side files.
  ...names(ADMIN, 'pg_read_file pg_read_binary_file pg_stat_file lo_import lo_export'),
  // Backend signalling, configuration reload, WAL and backup control.
  ...names(ADMIN, 'pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_promote'),
  ...names(ADMIN, 'pg_switch_wal pg_switch_xlog pg_create_restore_point pg_backup_start pg_backup_stop'),
  ...names(ADMIN, 'pg_start_backup pg_stop_backup pg_wal_replay_pause pg_wal_replay_resume'),
  ...names(ADMIN, 'pg_log_backend_memory_contexts pg_import_system_collations pg_truncate_visibility_map'),
  // Replication slots.
  ...names(ADMIN, 'pg_create_physical_replication_slot pg_create_logical_replication_slot'),
  ...names(ADMIN, 'pg_drop_replication_slot pg_copy_physical_replication_slot pg_copy_logical_replication_slot'),
  ...names(ADMIN, 'pg_replication_slot_advance pg_sync_replication_slots'),
  // Foreign connections held by postgres_fdw.
  ...names(ADMIN, 'postgres_fdw_disconnect postgres_fdw_disconnect_all postgres_fdw_get_connections'),
  // Sequences and large objects change data.
  ...names(WRITE, 'nextval setval lo_create lo_creat lo_from_bytea lo_put lowrite lo_truncate lo_truncate64'),
  ...names(WRITE, 'lo_unlink pg_logical_emit_message'),
  // They read whole tables, schemas or databases named by a string, or a cursor opened elsewhere, or build and
  // run a query from pieces of text (xml2's xpath_table, tablefunc's connectby).
  ...names(UNKNOWN, 'table_to_xml table_to_xmlschema table_to_xml_and_xmlschema cursor_to_xml cursor_to_xmlschema'),
  ...names(UNKNOWN, 'schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema database_to_xml'),
  ...names(UNKNOWN, 'database_to_xmlschema database_to_xml_and_xmlschema xpath_table connectby'),
  // pg_surgery rewrites heap tuples in place.
  ...names(ADMIN, 'heap_force_kill heap_force_freeze'),
]);

/**
 * Functions that run an SQL string they are given, and which arguments hold it (0-based). A literal string there is
 * analysed like any statement and its classes join the caller's; anything else (a parameter, an expression, a
 * named argument) is text Warden never sees, so the call is `unknown`. `arity` limits the rule to one overload.
 */
const SQL_TEXT_ARGS = new Map<string, { args: number[]; arity?: number }>([
  ['query_to_xml', { args: [0] }],
  ['query_to_xmlschema', { args: [0] }],
  ['query_to_xml_and_xmlschema', { args: [0] }],
  ['ts_stat', { args: [0] }], // ts_stat(sqlquery [, weights])
  ['ts_rewrite', { args: [1], arity: 2 }], // ts_rewrite(query, select): the 3-argument form takes tsqueries
  ['crosstab', { args: [0, 1] }], // tablefunc: crosstab(source_sql [, category_sql])
  ['crosstab2', { args: [0] }],
  ['crosstab3', { args: [0] }],
  ['crosstab4', { args: [0] }],
  ['crosstab_hash', { args: [0, 1] }],
]);

/** Name prefixes: whole families, including members added in later PostgreSQL or extension versions. */
const BY_PREFIX: [string, readonly StatementClass[]][] = [
  ['dblink', ['admin', 'unknown']], // dblink, dblink_exec, dblink_connect(_u), dblink_send_query: remote SQL text
  ['pg_background', UNKNOWN], // pg_background_launch(sql), ..._result, ..._detach
  ['pg_ls_', ADMIN], // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, ...
  ['pg_file_', ADMIN], // adminpack: pg_file_write, pg_file_unlink, pg_file_rename, pg_file_sync
  ['pg_logdir_', ADMIN],
  ['pg_stat_reset', ADMIN],
  ['pg_logical_slot_', ADMIN],
  ['pg_replication_origin_', ADMIN],
  ['binary_upgrade_', ADMIN],
];

/**
 * pg_cron runs the SQL text it is given, later, as its own job. Its names are generic, so they are matched in the
 * `cron` schema or unqualified (the search_path may lead there), never in another explicit schema.
 */
const CRON = new Map<string, readonly StatementClass[]>([
  ['schedule', ['admin', 'unknown']],
  ['schedule_in_database', ['admin', 'unknown']],
  ['alter_job', ['admin', 'unknown']],
]);

/** Settings that change who the session is. GUC names are case-insensitive in PostgreSQL. */
export const IDENTITY_SETTINGS: ReadonlySet<string> = new Set(['role', 'session_authorization']);

/** Settings that only a superuser may change and that switch off integrity machinery (triggers, FK checks). */
export const ADMIN_SETTINGS: ReadonlySet<string> = new Set(['session_replication_role', 'allow_system_table_mods']);

function names(classes: readonly StatementClass[], list: string): [string, readonly StatementClass[]][] {
  return list.split(/\s+/).map((n) => [n, classes]);
}

/** The part after the last dot: `pg_catalog.pg_read_file` -> `pg_read_file`. */
export function baseName(qualified: string): string {
  const dot = qualified.lastIndexOf('.');
  return dot < 0 ? qualified : qualified.slice(dot + 1);
}

/** What one call adds to its statement. */
export interface CallVerdict {
  classes: readonly StatementClass[];
  /** SQL text the call runs, to analyse like any statement of the caller's. */
  sql: string[];
  /** Set when the call must never run through Warden (a pinned setting; see settings.ts). */
  refusal?: string;
}

const NOTHING: CallVerdict = { classes: [], sql: [] };

/** Judges one call (see walk.ts's Call): its classes, the SQL text it runs, a refusal. */
export function judgeCall(call: Call): CallVerdict {
  const { name } = call;
  const base = baseName(name);
  const cron = CRON.get(base);
  if (cron && (name === base || name === `cron.${base}`)) return { classes: cron, sql: [] };
  if (base === 'set_config') return setConfigVerdict(call);
  const sqlText = SQL_TEXT_ARGS.get(base);
  if (sqlText && (sqlText.arity === undefined || sqlText.arity === call.args.length)) {
    const sql: string[] = [];
    for (const i of sqlText.args) {
      const arg = call.args[i];
      if (arg === null) return { classes: UNKNOWN, sql: [] };
      if (arg !== undefined) sql.push(arg);
    }
    return { classes: [], sql };
  }
  const exact = BY_NAME.get(base);
  if (exact) return { classes: exact, sql: [] };
  for (const [prefix, classes] of BY_PREFIX) if (base.startsWith(prefix)) return { classes, sql: [] };
  return NOTHING;
}

/**
 * `set_config('role', ...)` is `SET ROLE` by another name. The setting name is a literal, or pinned by the query
 * (settings.ts's pg_settings form); a name Warden cannot know might be a pinned setting, so that call is refused.
 * A pinned setting may only be set to its pinned value, written as a literal.
 */
function setConfigVerdict(call: Call): CallVerdict {
  const first = call.pinnedNames ?? (typeof call.args[0] === 'string' ? [call.args[0]] : undefined);
  if (first === undefined) {
    return { classes: ['privilege', 'unknown'], sql: [],
      refusal: 'set_config with a setting name that is not a literal cannot run through Warden: it might change how the server reads statements' };
  }
  const classes = new Set<StatementClass>();
  let refusal: string | undefined;
  for (const raw of first) {
    const setting = gucName(raw.trim());
    if (IDENTITY_SETTINGS.has(setting)) classes.add('privilege');
    if (ADMIN_SETTINGS.has(setting)) classes.add('admin');
    const value = call.args[1];
    if (isPinnedSetting(setting) && (typeof value !== 'string' || !keepsPin(setting, value))) {
      classes.add('unknown');
      refusal ??= pinnedRefusal(setting);
    }
  }
  return refusal === undefined ? { classes: [...classes], sql: [] } : { classes: [...classes], sql: [], refusal };
}
