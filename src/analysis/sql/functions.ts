/**
 * Functions whose call changes what a statement is: server file access, backend signalling, replication control,
 * remote connections (admin), sequence and large-object writes (write), `set_config` of the role (privilege) and
 * functions that run SQL text Warden cannot see (unknown).
 *
 * Owns the dangerous-function table and the per-call classification. Pure: no I/O, no parser calls.
 * Names are matched on their last part whatever the schema: `pg_catalog.pg_read_file`, `public.pg_read_file` and a
 * bare `pg_read_file` that the search_path resolves somewhere are all treated alike, because a wrapper function
 * of the same name is the usual way to hand the real one out.
 */
import type { StatementClass } from './types.js';

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
  // They run an SQL string Warden never sees parsed.
  ...names(UNKNOWN, 'query_to_xml query_to_xmlschema query_to_xml_and_xmlschema xpath_table'),
  ...names(UNKNOWN, 'pg_background_launch'),
]);

/** Name prefixes: whole families, including members added in later PostgreSQL or extension versions. */
const BY_PREFIX: [string, readonly StatementClass[]][] = [
  ['dblink', ADMIN], // dblink, dblink_exec, dblink_connect(_u), dblink_send_query, ...
  ['pg_ls_', ADMIN], // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, ...
  ['pg_file_', ADMIN], // adminpack: pg_file_write, pg_file_unlink, pg_file_rename, pg_file_sync
  ['pg_logdir_', ADMIN],
  ['pg_stat_reset', ADMIN],
  ['pg_logical_slot_', ADMIN],
  ['pg_replication_origin_', ADMIN],
  ['binary_upgrade_', ADMIN],
];

/** Qualified names: too generic to match on the base name alone. pg_cron runs the SQL text it is given. */
const QUALIFIED = new Map<string, readonly StatementClass[]>([
  ['cron.schedule', ['admin', 'unknown']],
  ['cron.schedule_in_database', ['admin', 'unknown']],
  ['cron.alter_job', ['admin', 'unknown']],
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

/**
 * Classes a call adds to its statement. `name` is lower-cased and qualified as written; `firstArg` is the first
 * argument when it is a string literal, `null` when it is anything else, `undefined` when there is none.
 */
export function callClasses(name: string, firstArg: string | null | undefined): readonly StatementClass[] {
  const qualified = QUALIFIED.get(name);
  if (qualified) return qualified;
  const base = baseName(name);
  if (base === 'set_config') return setConfigClasses(firstArg);
  const exact = BY_NAME.get(base);
  if (exact) return exact;
  for (const [prefix, classes] of BY_PREFIX) if (base.startsWith(prefix)) return classes;
  return [];
}

/** `set_config('role', ...)` is `SET ROLE` by another name; a computed setting name might be the role too. */
function setConfigClasses(setting: string | null | undefined): readonly StatementClass[] {
  if (typeof setting !== 'string') return ['privilege', 'unknown'];
  const name = setting.trim().toLowerCase();
  if (IDENTITY_SETTINGS.has(name)) return ['privilege'];
  if (ADMIN_SETTINGS.has(name)) return ADMIN;
  return [];
}
