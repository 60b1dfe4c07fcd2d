/**
 * Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): the `k8s\0` envelope (runtime.Unknown) around a
 * message, for the few types kubectl's typed clients send or read here: the access reviews (`kubectl auth can-i`
 * sends them as protobuf since 1.32), Namespaces and Secrets (`kubectl create namespace` / `create secret`), and
 * the encoding of Secrets, SecretLists and Secret watch events, so the server answers a protobuf Accept the way the real one does for the
 * objects masking cares about. Written by hand: the wire format is a few lines, and no protobuf package is
 * installed. Fields the tables below do not name are skipped (decoding) or never written (encoding).
 */
import { ApiError, failure } from './status.js';

type Obj = Record<string, unknown>;

/** The envelope's magic prefix. */
const MAGIC = Buffer.from('k8s\0', 'latin1');

/** The protobuf media type. */
export const PROTOBUF = 'application/vnd.kubernetes.protobuf';

type Field =
  | { name: string; kind: 'string' | 'bytes' | 'int' | 'bool' }
  | { name: string; kind: 'message'; schema: Schema }
  | { name: string; kind: 'repeated-string' }
  | { name: string; kind: 'map'; values: 'string' | 'bytes' };
type Schema = Record<number, Field>;

const OBJECT_META: Schema = {
  1: { name: 'name', kind: 'string' }, 2: { name: 'generateName', kind: 'string' }, 3: { name: 'namespace', kind: 'string' },
  5: { name: 'uid', kind: 'string' }, 6: { name: 'resourceVersion', kind: 'string' }, 7: { name: 'generation', kind: 'int' },
  11: { name: 'labels', kind: 'map', values: 'string' }, 12: { name: 'annotations', kind: 'map', values: 'string' },
  14: { name: 'finalizers', kind: 'repeated-string' },
};
const SCHEMAS: Record<string, Schema> = {
  'v1/Secret': {
    1: { name: 'metadata', kind: 'message', schema: OBJECT_META }, 2: { name: 'data', kind: 'map', values: 'bytes' },
    3: { name: 'type', kind: 'string' }, 4: { name: 'stringData', kind: 'map', values: 'string' }, 5: { name: 'immutable', kind: 'bool' },
  },
  'v1/Namespace': {
    1: { name: 'metadata', kind: 'message', schema: OBJECT_META },
    2: { name: 'spec', kind: 'message', schema: { 1: { name: 'finalizers', kind: 'repeated-string' } } },
  },
  'authorization.k8s.io/v1/SelfSubjectAccessReview': {
    1: { name: 'metadata', kind: 'message', schema: OBJECT_META },
    2: { name: 'spec', kind: 'message', schema: {
      1: { name: 'resourceAttributes', kind: 'message', schema: {
        1: { name: 'namespace', kind: 'string' }, 2: { name: 'verb', kind: 'string' }, 3: { name: 'group', kind: 'string' },
        4: { name: 'version', kind: 'string' }, 5: { name: 'resource', kind: 'string' }, 6: { name: 'subresource', kind: 'string' },
        7: { name: 'name', kind: 'string' },
      } },
      2: { name: 'nonResourceAttributes', kind: 'message', schema: { 1: { name: 'path', kind: 'string' }, 2: { name: 'verb', kind: 'string' } } },
    } },
  },
  'authorization.k8s.io/v1/SelfSubjectRulesReview': {
    1: { name: 'metadata', kind: 'message', schema: OBJECT_META },
    2: { name: 'spec', kind: 'message', schema: { 1: { name: 'namespace', kind: 'string' } } },
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  }
  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  *fields(): Generator<{ no: number; wire: number }> {
    while (this.pos < this.buf.length) {
      const tag = this.varint();
      yield { no: Math.floor(tag / 8), wire: tag & 7 };
    }
  }
}

function decodeMessage(buf: Buffer, schema: Schema): Obj {
  const out: Obj = {};
  const r = new Reader(buf);
  for (const { no, wire } of r.fields()) {
    const field = schema[no];
    if (!field) {
      r.skip(wire);
      continue;
    }
    switch (field.kind) {
      // Empty values are left out, as the JSON encoding's omitempty leaves them out.
      case 'string': { const v = r.bytes().toString('utf8'); if (v !== '') out[field.name] = v; break; }
      case 'bytes': out[field.name] = r.bytes().toString('base64'); break;
      case 'int': { const v = r.varint(); if (v !== 0) out[field.name] = v; break; }
      case 'bool': { const v = r.varint() !== 0; if (v) out[field.name] = v; break; }
      case 'message': out[field.name] = decodeMessage(r.bytes(), field.schema); break;
      case 'repeated-string': ((out[field.name] ??= []) as string[]).push(r.bytes().toString('utf8')); break;
      case 'map': {
        const entry = new Reader(r.bytes());
        let key = '';
        let value = '';
        for (const f of entry.fields()) {
          if (f.no === 1) key = entry.bytes().toString('utf8');
          else if (f.no === 2) value = entry.bytes().toString(field.values === 'bytes' ? 'base64' : 'utf8');
          else entry.skip(f.wire);
        }
        ((out[field.name] ??= {}) as Obj)[key] = value;
        break;
      }
    }
  }
  return out;
}

/** Decodes a protobuf request body into the JSON object it stands for (415 for a type not in the tables). */
export function decodeProtobuf(body: Buffer): Obj {
  try {
    if (!body.subarray(0, 4).equals(MAGIC)) throw new Error('missing k8s protobuf prefix');
    const unknown = new Reader(body.subarray(4));
    let apiVersion = '';
    let kind = '';
    let raw: Buffer = Buffer.alloc(0);
    for (const { no, wire } of unknown.fields()) {
      if (no === 1) {
        const tm = new Reader(unknown.bytes());
        for (const f of tm.fields()) {
          if (f.no === 1) apiVersion = tm.bytes().toString('utf8');
          else if (f.no === 2) kind = tm.bytes().toString('utf8');
          else tm.skip(f.wire);
        }
      } else if (no === 2) raw = unknown.bytes();
      else unknown.skip(wire);
    }
    const schema = SCHEMAS[`${apiVersion}/${kind}`];
    if (!schema) {
      throw new ApiError(failure(415, 'UnsupportedMediaType',
        `the test API server decodes protobuf only for ${Object.keys(SCHEMAS).join(', ')}; send ${apiVersion}/${kind} as JSON`));
    }
    return { apiVersion, kind, ...decodeMessage(raw, schema) };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(failure(400, 'BadRequest', `unable to decode protobuf body: ${(err as Error).message}`));
  }
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function field(no: number, value: Buffer | string): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([varint(no * 8 + 2), varint(data.length), data]);
}

function encodeMap(no: number, map: Obj | undefined, bytes: boolean): Buffer[] {
  return Object.entries(map ?? {}).map(([k, v]) => field(no, Buffer.concat([field(1, k),
    field(2, bytes ? Buffer.from(String(v), 'base64') : String(v))])));
}

function encodeMeta(m: Obj): Buffer {
  const parts: Buffer[] = [];
  for (const [no, name] of [[1, 'name'], [3, 'namespace'], [5, 'uid'], [6, 'resourceVersion']] as const) {
    if (typeof m[name] === 'string') parts.push(field(no, m[name]));
  }
  parts.push(...encodeMap(11, m.labels as Obj | undefined, false), ...encodeMap(12, m.annotations as Obj | undefined, false));
  return Buffer.concat(parts);
}

function encodeSecret(s: Obj): Buffer {
  return Buffer.concat([field(1, encodeMeta((s.metadata ?? {}) as Obj)), ...encodeMap(2, s.data as Obj | undefined, true),
    ...(typeof s.type === 'string' ? [field(3, s.type)] : [])]);
}

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([MAGIC, field(1, Buffer.concat([field(1, apiVersion), field(2, kind)])), field(2, raw)]);
}

/** A Secret in the protobuf envelope (metadata name, namespace, uid, resourceVersion, labels, annotations; data; type). */
export function encodeSecretProtobuf(secret: Obj): Buffer {
  return envelope('v1', 'Secret', encodeSecret(secret));
}

/** A SecretList in the protobuf envelope. */
export function encodeSecretListProtobuf(items: Obj[], resourceVersion: string): Buffer {
  return envelope('v1', 'SecretList', Buffer.concat([field(1, field(2, resourceVersion)),
    ...items.map((s) => field(2, encodeSecret(s)))]));
}

/** The media type of a protobuf watch stream. */
export const PROTOBUF_WATCH = 'application/vnd.kubernetes.protobuf;stream=watch';

/**
 * One event of a protobuf watch of Secrets, framed as the real server frames them: a 4-byte big-endian length, then
 * a `meta/v1 WatchEvent` with no envelope (type; object as a RawExtension holding the enveloped Secret).
 */
export function encodeSecretWatchEventProtobuf(type: string, secret: Obj): Buffer {
  const event = Buffer.concat([field(1, type), field(2, field(1, encodeSecretProtobuf(secret)))]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(event.length);
  return Buffer.concat([length, event]);
}

/** Whether an Accept header prefers protobuf (lists it before JSON). */
export function prefersProtobuf(accept: string | undefined): boolean {
  return String(accept ?? '').split(',')[0].trim().startsWith(PROTOBUF);
}
