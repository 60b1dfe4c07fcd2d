/**
 * Translation between target records (one variant per protocol) and `targets` rows. PostgreSQL targets keep the
 * columns they always had (rows written before migration 006 load unchanged); every other protocol keeps its own
 * fields as a JSON object in `spec` and its secrets besides the password in `secrets_enc`, with host, port and user
 * also copied to their columns when it has them (for operators reading the table). Pure: no database access, no
 * validation of a protocol's fields (the protocol's zod spec does that where targets are used).
 */
import type { TlsMode } from '../session/types.js';
import { jsonObject } from './rows.js';
import type { TargetsTable } from './schema.js';
import type { TargetRecord } from './types.js';

/** Fields every record has that are not the protocol's own. */
const NOT_SPEC = new Set(['name', 'type', 'labels', 'passwordEnc', 'secretsEnc', 'createdAt', 'updatedAt']);

/** A target record as a row. */
export function targetToRow(t: TargetRecord): TargetsTable {
  const common = {
    name: t.name,
    type: t.type,
    password_enc: t.passwordEnc,
    labels: JSON.stringify(t.labels ?? {}),
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    secrets_enc: t.secretsEnc && Object.keys(t.secretsEnc).length > 0 ? JSON.stringify(t.secretsEnc) : null,
  };
  if (t.type === 'postgres') {
    return { ...common, host: t.host, port: t.port, database: t.database, user: t.user, tls: t.tls, ca: t.ca, spec: null };
  }
  const spec: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(t)) if (!NOT_SPEC.has(key)) spec[key] = value;
  const own = t as unknown as Record<string, unknown>;
  return {
    ...common,
    host: typeof own.host === 'string' ? own.host : '',
    port: typeof own.port === 'number' ? own.port : 0,
    user: typeof own.user === 'string' ? own.user : '',
    // Columns that are NOT NULL since 001 and mean nothing outside PostgreSQL.
    database: '',
    tls: '',
    ca: null,
    spec: JSON.stringify(spec),
  };
}

/** A targets row as a record. */
export function targetFromRow(r: TargetsTable): TargetRecord {
  const common = {
    name: r.name,
    passwordEnc: r.password_enc,
    labels: jsonObject<Record<string, string>>(r.labels, 'targets.labels'),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    ...(r.secrets_enc ? { secretsEnc: jsonObject<Record<string, string>>(r.secrets_enc, 'targets.secrets_enc') } : {}),
  };
  if (r.type === 'postgres' || r.spec === null || r.spec === undefined) {
    return { ...common, type: 'postgres', host: r.host, port: Number(r.port), database: r.database, user: r.user,
      tls: r.tls as TlsMode, ca: r.ca };
  }
  // The protocol's zod spec validates these fields where the target is used (the registry's targetFromRecord).
  const spec = jsonObject<Record<string, unknown>>(r.spec, 'targets.spec');
  return { ...spec, ...common, type: r.type } as unknown as TargetRecord;
}
