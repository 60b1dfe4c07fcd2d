/**
 * A raw PostgreSQL protocol client for end-to-end tests that need bytes no driver sends (malformed frames, several
 * messages in one write, a CancelRequest at a chosen moment). Logs in over TLS with a Warden token, then reads the
 * backend's messages one by one. Test code only: no retries, no timeouts of its own (the test runner's apply).
 */
import net from 'node:net';
import tls from 'node:tls';

/** One backend message. */
export interface RawMessage {
  type: string;
  body: Buffer;
}

/** A logged-in raw session. */
export interface RawSession {
  socket: tls.TLSSocket;
  /** The cancel key Warden handed out (BackendKeyData). */
  processId: number;
  secretKey: Buffer;
  /** Writes raw bytes. */
  write(bytes: Buffer): void;
  /** The next backend message, or null once the connection closed. */
  next(): Promise<RawMessage | null>;
  /** Reads messages until one of type `type` (included) or the close; returns them all. */
  until(type: string): Promise<RawMessage[]>;
}

/**
 * Opens a TLS connection to Warden's PostgreSQL port the way libpq does (SSLRequest, then the handshake), before any
 * startup message: the one way every raw-protocol test connects.
 */
export async function rawTls(port: number): Promise<tls.TLSSocket> {
  const plain = net.connect(port, '127.0.0.1');
  await new Promise((r) => plain.once('connect', r));
  const ssl = Buffer.alloc(8);
  ssl.writeInt32BE(8, 0);
  ssl.writeInt32BE(80877103, 4);
  plain.write(ssl);
  await new Promise<void>((resolve, reject) => plain.once('data', (d: Buffer) =>
    (d.toString() === 'S' ? resolve() : reject(new Error('TLS refused')))));
  const socket = tls.connect({ socket: plain, rejectUnauthorized: false });
  await new Promise((r) => socket.once('secureConnect', r));
  return socket;
}

/** Connects to Warden's PostgreSQL port over TLS and logs in as `user` with `token`, up to the first ReadyForQuery. */
export async function rawLogin(port: number, user: string, database: string, token: string): Promise<RawSession> {
  const socket = await rawTls(port);
  const session = reader(socket);
  session.write(startup({ user, database }));
  const auth = await session.next();
  if (auth?.type !== 'R') throw new Error(`expected an authentication request, got ${auth?.type}`);
  session.write(message('p', Buffer.from(`${token}\0`)));
  for (const m of await session.until('Z')) {
    if (m.type === 'K') {
      session.processId = m.body.readInt32BE(0);
      session.secretKey = Buffer.from(m.body.subarray(4));
    }
    if (m.type === 'E') throw new Error(`login failed: ${errorText(m)}`);
  }
  return session;
}

/** Sends a CancelRequest for `processId`/`secretKey` on a new plain connection (as libpq does) and waits for its close. */
export async function rawCancel(port: number, processId: number, secretKey: Buffer): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const packet = Buffer.alloc(12);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(processId, 8);
  socket.write(Buffer.concat([packet, secretKey]));
  await new Promise((r) => socket.once('close', r));
}

/** A frontend message: type, int32 length, body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** A simple Query message. */
export function query(sql: string): Buffer {
  return message('Q', Buffer.from(`${sql}\0`));
}

/** The fields of an ErrorResponse or NoticeResponse as `C: message` text, for assertions and failures. */
export function errorFields(m: RawMessage): Record<string, string> {
  const fields: Record<string, string> = {};
  let off = 0;
  while (off < m.body.length && m.body[off] !== 0) {
    const end = m.body.indexOf(0, off + 1);
    fields[String.fromCharCode(m.body[off])] = m.body.toString('utf8', off + 1, end);
    off = end + 1;
  }
  return fields;
}

function errorText(m: RawMessage): string {
  const f = errorFields(m);
  return `${f.C}: ${f.M}`;
}

/** A protocol 3.0 StartupMessage with these parameters. */
export function startup(params: Record<string, string>): Buffer {
  const pairs = Object.entries(params).flatMap(([k, v]) => [k, v]).join('\0');
  const body = Buffer.from(`${pairs}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

function reader(socket: tls.TLSSocket): RawSession {
  let buffered = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => { buffered = Buffer.concat([buffered, d]); wake?.(); });
  socket.on('close', () => { closed = true; wake?.(); });
  socket.on('error', () => {});
  const session: RawSession = {
    socket, processId: 0, secretKey: Buffer.alloc(0),
    write: (bytes) => socket.write(bytes),
    next: async () => {
      for (;;) {
        if (buffered.length >= 5) {
          const length = buffered.readInt32BE(1);
          if (buffered.length >= 1 + length) {
            const m = { type: String.fromCharCode(buffered[0]), body: Buffer.from(buffered.subarray(5, 1 + length)) };
            buffered = buffered.subarray(1 + length);
            return m;
          }
        }
        if (closed) return null;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
    until: async (type) => {
      const seen: RawMessage[] = [];
      for (;;) {
        const m = await session.next();
        if (m === null) return seen;
        seen.push(m);
        if (m.type === type) return seen;
      }
    },
  };
  return session;
}
