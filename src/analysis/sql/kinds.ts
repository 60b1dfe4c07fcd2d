/**
 * The statement class table: parser node type -> the classes that statement always has. Statements whose class
 * depends on their content (DELETE without WHERE, COPY ... PROGRAM, SET ROLE, EXPLAIN ANALYZE, ...) start from this
 * row and are refined in classify.ts.
 *
 * Owns the table only. Pure data: no I/O. A node type missing here is `unknown` (fail closed), so every statement
 * PostgreSQL 18 can parse is listed, including the rare ones.
 */
import type { StatementClass } from './types.js';

type Row = readonly StatementClass[];

const READ: Row = ['read'];
const WRITE: Row = ['write'];
const DDL: Row = ['ddl'];
const ADMIN: Row = ['admin'];
const ADMIN_DDL: Row = ['admin', 'ddl'];
const PRIVILEGE: Row = ['privilege'];
const DDL_PRIVILEGE: Row = ['ddl', 'privilege'];
const UNKNOWN: Row = ['unknown'];

function rows(classes: Row, kinds: string): [string, Row][] {
  return kinds.split(/\s+/).map((k) => [k, classes]);
}

/** Base classes of every top-level statement node type. */
export const BASE_CLASSES: ReadonlyMap<string, Row> = new Map<string, Row>([
  // Queries and session housekeeping that change no data. SelectStmt, ExplainStmt, VariableSetStmt,
  // TransactionStmt, CopyStmt, PrepareStmt and DeclareCursorStmt are refined in classify.ts.
  ...rows(READ, 'SelectStmt VariableShowStmt ExplainStmt TransactionStmt VariableSetStmt DiscardStmt'),
  ...rows(READ, 'ListenStmt UnlistenStmt NotifyStmt DeclareCursorStmt FetchStmt ClosePortalStmt'),
  ...rows(READ, 'DeallocateStmt ConstraintsSetStmt PrepareStmt CopyStmt'),
  // Data changes. UPDATE and DELETE become destructive when unbounded.
  ...rows(WRITE, 'InsertStmt UpdateStmt DeleteStmt MergeStmt LockStmt RefreshMatViewStmt'),
  // TRUNCATE empties tables: destructive, and a data change.
  ['TruncateStmt', ['destructive', 'write']],
  // CREATE TABLE AS / CREATE MATERIALIZED VIEW create and fill a table.
  ['CreateTableAsStmt', ['ddl', 'write']],
  // Schema changes.
  ...rows(DDL, 'CreateStmt CreateSchemaStmt AlterTableStmt ReplicaIdentityStmt AlterCollationStmt AlterDomainStmt'),
  ...rows(DDL, 'CreateSeqStmt AlterSeqStmt DefineStmt CreateDomainStmt CreateOpClassStmt CreateOpFamilyStmt'),
  ...rows(DDL, 'AlterOpFamilyStmt CommentStmt SecLabelStmt IndexStmt CreateStatsStmt AlterStatsStmt'),
  ...rows(DDL, 'CreateFunctionStmt AlterFunctionStmt RenameStmt AlterObjectDependsStmt AlterObjectSchemaStmt'),
  ...rows(DDL, 'AlterOperatorStmt AlterTypeStmt RuleStmt CompositeTypeStmt CreateEnumStmt CreateRangeStmt'),
  ...rows(DDL, 'AlterEnumStmt ViewStmt CreateTrigStmt CreateForeignTableStmt CreateConversionStmt CreateCastStmt'),
  ...rows(DDL, 'CreateTransformStmt AlterTSDictionaryStmt AlterTSConfigurationStmt'),
  // DROP of a schema object is a schema change that loses it (DropStmt adds admin/privilege by object type).
  ['DropStmt', ['ddl', 'destructive']],
  // Row-level security policies decide who sees which rows.
  ...rows(DDL_PRIVILEGE, 'CreatePolicyStmt AlterPolicyStmt AlterOwnerStmt'),
  // Roles and grants.
  ...rows(PRIVILEGE, 'GrantStmt GrantRoleStmt AlterDefaultPrivilegesStmt CreateRoleStmt AlterRoleStmt'),
  ...rows(PRIVILEGE, 'AlterRoleSetStmt ReassignOwnedStmt'),
  ...rows(['destructive', 'privilege'], 'DropRoleStmt DropOwnedStmt'),
  // Extensions, foreign servers, event triggers, languages, access methods: superuser territory that also
  // creates schema objects.
  ...rows(ADMIN_DDL, 'CreateExtensionStmt AlterExtensionStmt AlterExtensionContentsStmt CreateFdwStmt AlterFdwStmt'),
  ...rows(ADMIN_DDL, 'CreateForeignServerStmt AlterForeignServerStmt ImportForeignSchemaStmt CreateEventTrigStmt'),
  ...rows(ADMIN_DDL, 'AlterEventTrigStmt CreatePLangStmt CreateAmStmt AlterTableMoveAllStmt'),
  // Server and cluster operations.
  ...rows(ADMIN, 'CreateUserMappingStmt AlterUserMappingStmt LoadStmt CheckPointStmt VacuumStmt ClusterStmt'),
  ...rows(ADMIN, 'ReindexStmt CreatedbStmt AlterDatabaseStmt AlterDatabaseSetStmt AlterDatabaseRefreshCollStmt'),
  ...rows(ADMIN, 'CreateTableSpaceStmt AlterTableSpaceOptionsStmt AlterSystemStmt CreatePublicationStmt'),
  ...rows(ADMIN, 'AlterPublicationStmt CreateSubscriptionStmt AlterSubscriptionStmt'),
  ...rows(['admin', 'destructive'], 'DropUserMappingStmt DropdbStmt DropTableSpaceStmt DropSubscriptionStmt'),
  // Effects Warden cannot see: a procedure's body, an anonymous code block, a prepared statement run by name
  // (the pipeline substitutes what the PREPARE was classed as).
  ...rows(UNKNOWN, 'CallStmt DoStmt ExecuteStmt'),
]);

/** DROP of these object types needs superuser-level rights or touches server-wide machinery. */
export const ADMIN_DROP_TYPES: ReadonlySet<string> = new Set([
  'OBJECT_EXTENSION',
  'OBJECT_FOREIGN_SERVER',
  'OBJECT_FDW',
  'OBJECT_EVENT_TRIGGER',
  'OBJECT_LANGUAGE',
  'OBJECT_ACCESS_METHOD',
  'OBJECT_PUBLICATION',
  'OBJECT_SUBSCRIPTION',
]);

/** DROP of these object types changes who may see what. */
export const PRIVILEGE_DROP_TYPES: ReadonlySet<string> = new Set(['OBJECT_POLICY']);

/** Object types whose names are relations (reported in `tables`). */
export const RELATION_OBJECT_TYPES: ReadonlySet<string> = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_SEQUENCE',
  'OBJECT_FOREIGN_TABLE',
  'OBJECT_INDEX',
]);
