/**
 * Relation and schema names that statements carry as plain strings rather than RangeVar nodes: DROP TABLE and
 * COMMENT ON object lists, CREATE/DROP/ALTER SCHEMA, GRANT ... ON SCHEMA / ALL TABLES IN SCHEMA, ALTER DEFAULT
 * PRIVILEGES IN SCHEMA, ALTER ... SET SCHEMA, SET search_path. Also functions named without being called that
 * run later: a trigger's or event trigger's function, a cast's, an operator's or aggregate's support functions
 * (`CREATE OPERATOR ### (function = pg_read_file)` makes `SELECT ### 'x'` read a server file).
 *
 * Owns that per-statement extraction. Pure: no I/O. Called by the walker for the top statement and for every
 * nested one.
 */
import { RELATION_OBJECT_TYPES } from './kinds.js';
import type { Node } from './walk.js';

/** Where names are added. */
export interface NameSink {
  tables: Set<string>;
  schemas: Set<string>;
  functions: Set<string>;
  /** Referenced functions are judged like calls (with no known first argument). */
  calls: { name: string; firstArg: string | null | undefined }[];
}

/** DefElem names of CREATE OPERATOR / AGGREGATE / TYPE / TEXT SEARCH ... options whose value is a function. */
const FUNCTION_OPTIONS = new Set(
  ('function procedure sfunc finalfunc combinefunc serialfunc deserialfunc msfunc minvfunc mfinalfunc restrict ' +
    'join input output receive send typmod_in typmod_out analyze subscript canonical subtype_diff lexize init ' +
    'start gettoken end lextypes headline').split(' '),
);

/** Adds the string-named relations and schemas of one statement of node type `kind`. */
export function namedObjects(kind: string, node: Node, into: NameSink): void {
  switch (kind) {
    case 'DropStmt':
      return objectList(String(node.removeType), node.objects, into);
    case 'CommentStmt':
    case 'SecLabelStmt':
      return objectList(String(node.objtype), [node.object], into);
    case 'CreateSchemaStmt':
      return addSchema(node.schemaname, into);
    case 'RenameStmt':
      if (node.renameType === 'OBJECT_SCHEMA') for (const s of [node.subname, node.newname]) addSchema(s, into);
      return;
    case 'AlterOwnerStmt':
      if (node.objectType === 'OBJECT_SCHEMA') addSchema(text(node.object), into);
      return;
    case 'AlterObjectSchemaStmt':
      return addSchema(node.newschema, into);
    case 'GrantStmt':
      if (node.objtype === 'OBJECT_SCHEMA' || node.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
        for (const o of list(node.objects)) addSchema(text(o), into);
      }
      return;
    case 'AlterDefaultPrivilegesStmt':
      for (const opt of list(node.options)) {
        const def = (opt as Node).DefElem as Node | undefined;
        if (def?.defname === 'schemas') for (const s of listItems(def.arg)) addSchema(text(s), into);
      }
      return;
    case 'VariableSetStmt':
      if (String(node.name).toLowerCase() === 'search_path') searchPath(node.args, into);
      return;
    case 'CreateFunctionStmt': {
      const parts = list(node.funcname).map(text);
      if (parts.length > 1) addSchema(parts[parts.length - 2], into);
      return;
    }
    case 'CreateTrigStmt':
    case 'CreateEventTrigStmt':
      return addReference(node.funcname, into);
    case 'CreateCastStmt':
      return addReference((node.func as Node | undefined)?.objname, into);
    case 'CreateTransformStmt':
      for (const f of [node.fromsql, node.tosql]) addReference((f as Node | undefined)?.objname, into);
      return;
    case 'DefineStmt':
      for (const opt of list(node.definition)) {
        const def = (opt as Node).DefElem as Node | undefined;
        const type = (def?.arg as Node | undefined)?.TypeName as Node | undefined;
        if (def && type && FUNCTION_OPTIONS.has(String(def.defname))) addReference(type.names, into);
      }
      return;
  }
}

/** A function named by a list of String nodes (`[schema, name]`). */
function addReference(names: unknown, into: NameSink): void {
  const parts = list(names).map(text).filter((p) => p !== '');
  if (parts.length === 0) return;
  const name = parts.join('.').toLowerCase();
  if (parts.length > 1) into.schemas.add(parts[parts.length - 2]);
  into.functions.add(name);
  into.calls.push({ name, firstArg: undefined });
}

/** DROP / COMMENT object lists: `[s, t]` name lists for relations (and `[s, t, col]` for columns), strings for schemas. */
function objectList(objtype: string, objects: unknown, into: NameSink): void {
  for (const obj of list(objects)) {
    if (objtype === 'OBJECT_SCHEMA') {
      addSchema(text(obj), into);
      continue;
    }
    const items = listItems(obj).map(text);
    if (objtype === 'OBJECT_COLUMN') items.pop();
    else if (!RELATION_OBJECT_TYPES.has(objtype)) continue;
    const [schema, name] = items.length > 1 ? items.slice(-2) : [undefined, items[0]];
    if (!name) continue;
    into.tables.add(schema ? `${schema}.${name}` : name);
    if (schema) into.schemas.add(schema);
  }
}

/** `SET search_path = a, "B"` gives one constant per schema; `SET search_path = 'a, b'` gives one list. */
function searchPath(args: unknown, into: NameSink): void {
  for (const arg of list(args)) {
    const c = (arg as Node).A_Const as { sval?: { sval?: string } } | undefined;
    const value = c?.sval?.sval;
    if (typeof value !== 'string') continue;
    for (const part of value.split(',')) {
      const name = part.trim().replace(/^"(.*)"$/, '$1');
      if (name && name !== '$user') into.schemas.add(name);
    }
  }
}

function addSchema(name: unknown, into: NameSink): void {
  if (typeof name === 'string' && name !== '') into.schemas.add(name);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The items of a `{ List: { items } }` node. */
function listItems(node: unknown): unknown[] {
  return list(((node as Node | null)?.List as Node | undefined)?.items);
}

function text(node: unknown): string {
  const s = (node as { String?: { sval?: unknown } } | null)?.String?.sval;
  return typeof s === 'string' ? s : '';
}
