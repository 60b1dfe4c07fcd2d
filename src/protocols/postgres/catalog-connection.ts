/**
 * Warden's own metadata connection to a target, for the masking catalog. It is opened with connectUpstream, the one
 * connector every connection to a target uses, so it follows the same TLS policy (libpq's sslmode meanings, a TLS
 * 1.2 floor, no SNI for IP addresses, the target's CA added to the system roots) and the same login. It runs only
 * its own fixed queries, one at a time, with text parameters (extended protocol: Parse, Bind, Execute, Sync):
 * a caller's statement never reaches it. Owns its socket; throws WardenError when the server cannot be read.
 */
import type net from 'node:net';
import { WardenError } from '../../errors.js';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { decodeErrorFields, decodeRowDescription } from './codec.js';
import { connectUpstream } from './upstream.js';

/** At most this many queries wait for the connection; more fail at once (callers fail closed). */
const MAX_PENDING = 256;
const QUERY_TIMEOUT_MS = 15_000;

function message(type: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstring = (text: string): Buffer => Buffer.from(`${text}\0`, 'utf8');
function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** Parse, Bind (text parameters), Describe, Execute and Sync of one query. */
export function encodeQuery(sql: string, params: (string | null)[]): Buffer {
  const values = params.map((p) => (p === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(p)), Buffer.from(p, 'utf8')])));
  return Buffer.concat([
    message(0x50, cstring(''), cstring(sql), int16(0)),
    message(0x42, cstring(''), cstring(''), int16(0), int16(params.length), ...values, int16(0)),
    message(0x44, Buffer.from('P'), cstring('')),
    message(0x45, cstring(''), int32(0)),
    message(0x53),
  ]);
}

/** One result row: column name to text value. */
export type CatalogRow = Record<string, string | null>;

/** A logged-in metadata connection (see the module comment). */
export class CatalogConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private current: { resolve: (rows: CatalogRow[]) => void; reject: (err: Error) => void; names: string[];
    rows: CatalogRow[]; error?: Error; timer: NodeJS.Timeout } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private closedError: Error | null = null;

  private constructor(private readonly socket: net.Socket, private readonly target: PostgresTarget) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
    socket.resume();
  }

  /** Connects and logs in exactly as a session's upstream connection does. */
  static async open(target: PostgresTarget, database: string, credentials: Credentials): Promise<CatalogConnection> {
    const upstream = await connectUpstream({ target, credentials, database,
      startupParams: { application_name: 'warden-catalog', client_encoding: 'UTF8' } });
    const connection = new CatalogConnection(upstream.socket, target);
    if (upstream.leftover.length > 0) connection.onData(upstream.leftover);
    return connection;
  }

  /** Whether the connection can no longer be used. */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Runs one fixed query; queries queue behind each other. */
  query(sql: string, params: (string | null)[]): Promise<CatalogRow[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.pending >= MAX_PENDING) {
      return Promise.reject(new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `too many catalog lookups queued for target "${this.target.name}"`));
    }
    this.pending++;
    const run = this.chain.then(() => this.run(sql, params));
    this.chain = run.catch(() => undefined).finally(() => this.pending--);
    return run;
  }

  private run(sql: string, params: (string | null)[]): Promise<CatalogRow[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error('catalog query timed out')), QUERY_TIMEOUT_MS);
      timer.unref();
      this.current = { resolve, reject, names: [], rows: [], timer };
      this.socket.write(encodeQuery(sql, params));
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    while (this.buffer.length - offset >= 5) {
      const length = this.buffer.readInt32BE(offset + 1);
      if (length < 4) return this.fail(new Error('malformed message from the server'));
      if (this.buffer.length - offset < 1 + length) break;
      this.onMessage(this.buffer[offset], this.buffer.subarray(offset + 5, offset + 1 + length));
      offset += 1 + length;
    }
    this.buffer = this.buffer.subarray(offset);
  }

  private onMessage(type: number, body: Buffer): void {
    const q = this.current;
    switch (type) {
      case 0x54: /* T */ if (q) q.names = decodeRowDescription(body).map((f) => f.name); break;
      case 0x44: /* D */ if (q) q.rows.push(this.row(body, q.names)); break;
      case 0x45: /* E */ {
        const fields = decodeErrorFields(body);
        if (q) q.error = new Error(`${fields.C ?? ''} ${fields.M ?? 'error'}`);
        if (fields.S === 'FATAL' || fields.V === 'FATAL') this.fail(new Error(fields.M ?? 'server ended the connection'));
        break;
      }
      case 0x5a: /* Z */
        if (q) {
          this.current = null;
          clearTimeout(q.timer);
          if (q.error) q.reject(q.error);
          else q.resolve(q.rows);
        }
        break;
    }
  }

  private row(body: Buffer, names: string[]): CatalogRow {
    const row: CatalogRow = {};
    let offset = 2;
    const count = body.readUInt16BE(0);
    for (let i = 0; i < count; i++) {
      const length = body.readInt32BE(offset);
      offset += 4;
      row[names[i] ?? String(i)] = length < 0 ? null : body.toString('utf8', offset, offset + length);
      if (length > 0) offset += length;
    }
    return row;
  }

  private fail(err: Error): void {
    if (this.closedError === null) this.closedError = err;
    const q = this.current;
    this.current = null;
    if (q) {
      clearTimeout(q.timer);
      q.reject(err);
    }
    if (!this.socket.writableEnded) this.socket.destroy();
  }

  /** Ends the connection (a Terminate first, as a client should). */
  close(): void {
    if (this.closedError === null && this.socket.writable) {
      this.closedError = new Error('connection closed');
      this.socket.end(message(0x58));
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    this.fail(new Error('connection closed'));
  }
}
