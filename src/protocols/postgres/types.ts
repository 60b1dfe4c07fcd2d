/**
 * Names of PostgreSQL's built-in data types by OID (they are fixed in the server's catalog), so masking rules that
 * name types (`types: [text, varchar]`) work without a catalog query. Types created by users are named `unknown`.
 */
const BUILTIN: Record<number, string> = {
  16: 'bool', 17: 'bytea', 18: 'char', 19: 'name', 20: 'int8', 21: 'int2', 23: 'int4', 24: 'regproc', 25: 'text',
  26: 'oid', 114: 'json', 142: 'xml', 194: 'pg_node_tree', 650: 'cidr', 700: 'float4', 701: 'float8', 790: 'money',
  829: 'macaddr', 869: 'inet', 1000: '_bool', 1001: '_bytea', 1005: '_int2', 1007: '_int4', 1009: '_text',
  1014: '_bpchar', 1015: '_varchar', 1016: '_int8', 1021: '_float4', 1022: '_float8', 1042: 'bpchar',
  1043: 'varchar', 1082: 'date', 1083: 'time', 1114: 'timestamp', 1115: '_timestamp', 1182: '_date',
  1184: 'timestamptz', 1185: '_timestamptz', 1186: 'interval', 1231: '_numeric', 1266: 'timetz', 1560: 'bit',
  1562: 'varbit', 1700: 'numeric', 2249: 'record', 2278: 'void', 2950: 'uuid', 2951: '_uuid', 3614: 'tsvector',
  3802: 'jsonb', 3807: '_jsonb', 199: '_json', 705: 'unknown', 774: 'macaddr8', 3904: 'int4range', 4451: 'int4multirange',
};

/** The type name of a built-in type OID, `unknown` otherwise. */
export function typeName(oid: number): string {
  return BUILTIN[oid] ?? 'unknown';
}
