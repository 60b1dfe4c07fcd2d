/**
 * SCRAM-SHA-256 client (RFC 5802, RFC 7677) for Warden's upstream logins, with node:crypto only.
 * Owns the message formats, nonce and iteration checks, proof computation and server-signature verification.
 * It must never put the password (or anything derived from it) into an error, and never accept a server that
 * fails to prove it knows the password. No channel binding: the gs2 header is always `n,,`.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { WardenError } from '../../errors.js';

const pbkdf2Async = promisify(pbkdf2);

/** The only mechanism Warden speaks. */
export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** gs2 header without channel binding, and its base64 for the `c=` attribute. */
const GS2_HEADER = 'n,,';
const GS2_HEADER_B64 = Buffer.from(GS2_HEADER).toString('base64');
/** Upper bound on iterations a server may ask for: PBKDF2 runs on the thread pool, but a hostile count stalls it. */
export const DEFAULT_MAX_ITERATIONS = 1_000_000;
const SALTED_CACHE_LIMIT = 256;

/**
 * Picks SCRAM-SHA-256 from an AuthenticationSASL mechanism list. Throws WARDEN_ERR_UPSTREAM_AUTH when it is absent
 * (saying so clearly when only the channel-binding variant is offered, which Warden does not implement).
 */
export function chooseMechanism(mechanisms: readonly string[]): typeof SCRAM_MECHANISM {
  if (mechanisms.includes(SCRAM_MECHANISM)) return SCRAM_MECHANISM;
  const offered = mechanisms.join(', ') || 'none';
  const message = mechanisms.includes('SCRAM-SHA-256-PLUS')
    ? 'upstream requires SCRAM-SHA-256-PLUS (channel binding), which Warden does not support'
    : 'unsupported upstream authentication method';
  throw new WardenError('WARDEN_ERR_UPSTREAM_AUTH', message, { detail: `SASL mechanisms offered: ${offered}` });
}

/** Options of a ScramClient; tests set the nonce and user name to replay RFC vectors. */
export interface ScramClientOptions {
  /** Client nonce (printable, no comma); random 18 bytes base64 by default, as libpq. */
  nonce?: string;
  /** User name for `n=`; PostgreSQL ignores it (it uses the startup user), so libpq and Warden send it empty. */
  username?: string;
  maxIterations?: number;
}

type State = 'initial' | 'first-sent' | 'final-sent' | 'done';

/**
 * One SCRAM-SHA-256 exchange, client side. Call clientFirstMessage(), then handleServerFirst() with the server's
 * SASLContinue data to get the client-final message, then verifyServerFinal() with the SASLFinal data.
 */
export class ScramClient {
  private readonly password: string;
  private readonly nonce: string;
  private readonly username: string;
  private readonly maxIterations: number;
  private state: State = 'initial';
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;

  constructor(password: string, options: ScramClientOptions = {}) {
    this.password = password;
    this.nonce = options.nonce ?? randomBytes(18).toString('base64');
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(this.nonce)) throw new TypeError('SCRAM nonce must be printable without ","');
    this.username = options.username ?? '';
    this.maxIterations = options.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  }

  /** The client-first message (`n,,n=<user>,r=<nonce>`), sent in SASLInitialResponse. */
  clientFirstMessage(): string {
    if (this.state !== 'initial') throw protocolError('client-first message requested twice');
    this.clientFirstBare = `n=${escapeUsername(this.username)},r=${this.nonce}`;
    this.state = 'first-sent';
    return GS2_HEADER + this.clientFirstBare;
  }

  /**
   * Validates the server-first message (nonce extends ours, salt present, iteration count sane), derives the keys
   * and returns the client-final message with the proof. Async because PBKDF2 runs off the event loop.
   */
  async handleServerFirst(serverFirst: string): Promise<string> {
    if (this.state !== 'first-sent') throw protocolError('server-first message out of order');
    const { nonce, salt, iterations } = parseServerFirst(serverFirst, this.nonce, this.maxIterations);
    const saltedPassword = await saltedPasswordFor(this.password, salt, iterations);
    const clientFinalWithoutProof = `c=${GS2_HEADER_B64},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const clientKey = hmac(saltedPassword, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ clientSignature[i];
    this.expectedServerSignature = hmac(hmac(saltedPassword, 'Server Key'), authMessage);
    this.state = 'final-sent';
    return `${clientFinalWithoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final message; throws WARDEN_ERR_UPSTREAM_AUTH unless the server proved the password. */
  verifyServerFinal(serverFinal: string): void {
    if (this.state !== 'final-sent' || this.expectedServerSignature === null) {
      throw protocolError('server-final message out of order');
    }
    if (serverFinal.startsWith('e=')) {
      throw new WardenError('WARDEN_ERR_UPSTREAM_AUTH', 'upstream rejected the SCRAM exchange', {
        detail: `server-error: ${serverFinal.slice(2, 200)}`,
      });
    }
    const match = /^v=([A-Za-z0-9+/]+={0,2})(?:,.*)?$/.exec(serverFinal);
    if (match === null) throw protocolError('malformed SCRAM server-final message');
    const signature = Buffer.from(match[1], 'base64');
    const expected = this.expectedServerSignature;
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new WardenError('WARDEN_ERR_UPSTREAM_AUTH', 'upstream SCRAM server signature is invalid', {
        detail: 'the server did not prove knowledge of the password; possible impostor',
      });
    }
    this.state = 'done';
  }

  /** True once the server's signature was verified. */
  get completed(): boolean {
    return this.state === 'done';
  }
}

function protocolError(message: string, detail?: string): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', message, { detail });
}

/** RFC 5802 saslname escaping: `=` and `,` may not appear raw. */
function escapeUsername(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

/** Parses `r=...,s=...,i=...[,ext]` strictly; a mandatory extension (`m=`) is refused as RFC 5802 says. */
export function parseServerFirst(message: string, clientNonce: string, maxIterations = DEFAULT_MAX_ITERATIONS): ServerFirst {
  if (message.startsWith('m=')) throw protocolError('SCRAM server requires an unsupported extension');
  const match = /^r=([\x21-\x2b\x2d-\x7e]+),s=([A-Za-z0-9+/]+={0,2}),i=([0-9]+)(?:,.*)?$/.exec(message);
  if (match === null) throw protocolError('malformed SCRAM server-first message', message.slice(0, 200));
  const [, nonce, saltB64, iterationText] = match;
  if (!nonce.startsWith(clientNonce) || nonce.length <= clientNonce.length) {
    throw protocolError('SCRAM server nonce does not extend the client nonce');
  }
  const salt = Buffer.from(saltB64, 'base64');
  if (salt.length === 0) throw protocolError('SCRAM salt is empty');
  const iterations = Number(iterationText);
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > maxIterations) {
    throw protocolError('SCRAM iteration count out of range', `i=${iterationText.slice(0, 20)}, max ${maxIterations}`);
  }
  return { nonce, salt, iterations };
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * SaltedPassword = Hi(SASLprep(password), salt, i), cached per (password, salt, iterations): a role's salt is fixed,
 * so reconnecting to the same upstream skips PBKDF2. The cache key is a hash; the entry is as sensitive as the
 * password already held in memory, never more.
 */
const saltedCache = new Map<string, Buffer>();

async function saltedPasswordFor(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const prepared = saslPrep(password);
  const key = createHash('sha256').update(prepared).update('\0').update(salt).update(`\0${iterations}`).digest('hex');
  const cached = saltedCache.get(key);
  if (cached !== undefined) return cached;
  const salted = await pbkdf2Async(Buffer.from(prepared, 'utf8'), salt, iterations, 32, 'sha256');
  if (saltedCache.size >= SALTED_CACHE_LIMIT) saltedCache.delete(saltedCache.keys().next().value as string);
  saltedCache.set(key, salted);
  return salted;
}

// SASLprep tables (RFC 3454), as code point ranges. Each string lists ranges as hex "gap.length" pairs relative to
// the previous range's end, to keep exact tables compact. Generated from Python's `stringprep` module (which
// implements RFC 3454 on Unicode 3.2 data): for each table, walk U+0000..U+10FFFF, collect runs of members.

/** Decodes "gap[.length],..." (hex) into sorted inclusive [lo, hi] ranges. */
function decodeRanges(encoded: string): Uint32Array {
  const parts = encoded.split(',');
  const out = new Uint32Array(parts.length * 2);
  let prev = -1;
  parts.forEach((part, i) => {
    const [gap, length = '0'] = part.split('.');
    const lo = prev + 1 + parseInt(gap, 16);
    prev = lo + parseInt(length, 16);
    out[2 * i] = lo;
    out[2 * i + 1] = prev;
  });
  return out;
}

/** RFC 3454 C.1.2 non-ASCII spaces: mapped to U+0020. */
const NON_ASCII_SPACE = decodeRanges(
  'a0,15df,97f.b,23,2f,fa0');

/** RFC 3454 B.1 commonly mapped to nothing: removed. */
const MAPPED_TO_NOTHING = decodeRanges(
  'ad,2a1,14b6,4.2,7fd.2,52,dd9f.f,ef');

/** RFC 3454 C.1.2, C.2.1, C.2.2, C.3 to C.9: prohibited output (SASLprep's list). */
const PROHIBITED = decodeRanges(
  '0.1f,5f.21,29f.1,39b,31,f70,18d,7f1.f,18.7,2f.4,6.5,f80.b,4,a7ff.20ff,4d0.1f,10f,f9.6,d173.7,2e83.1,' +
  'fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,fffe.1,1,1e.5f,ff7e.200' +
  '01');

/** RFC 3454 A.1: code points unassigned in Unicode 3.2 (prohibited by PostgreSQL). */
const UNASSIGNED_3_2 = decodeRanges(
  '221,12.1b,5e.1,3f.10,50.f,10.3,2.3,1.2,1.4,7,1,14,2c,27.8,87,47,26.1,2.5,10.20,26.1,7,27,2.5,11,17,a' +
  '.a,1b.4,5.16,1.d,1.2,1,1a.4,16.9,8e.1,f,e,1e.2,1b.34,32.14e,3,35.1,12.1,5.2,19.f,3,8.1,2.1,16,7,1.2,' +
  '4.1,1,7.1,2.1,3.8,1.3,2,5.1,15.6,1.1,6.3,2.1,16,7,2,2,2.1,1,5.3,2.1,3.a,4,1.6,f.b,3,7,1,3,16,7,2,5.1' +
  ',a,3,3.1,1.e,1.4,a.10,3,8.1,2.1,16,7,2.1,4.1,8.2,2.1,3.7,2.3,2,3.3,b.10,2,6.2,3,4.2,2,1,2.2,2.2,3.2,' +
  '8,3.3,5.2,3,4.8,1.e,c.d,3,8,3,17,a,5.3,7,3,4.6,2.8,2.3,a.11,2,8,3,17,a,5.3,7,3,4.6,2.6,1,2.3,a.11,2,' +
  '8,3,17,10.3,6.1,3,4.8,1.7,2.3,a.11,2,12.2,18,9,1.1,7.2,1.3,6,1,8.11,3.b,3a.3,1d.24,2,1.1,2,1.1,1.5,4' +
  ',7,3,1,1.1,2,d,3.1,5,1,6.1,a.1,2.21,48,22.5,1b.3,8,24,f.1,1.2f,22,5,2,7.2,4.5,1a.45,26.9,29.1,1.3,5a' +
  '.4,44.4,52.5,7,3f,1,4.1,7,1,4.1,27,1,4.1,1f,1,4.1,7,1,4.1,7,7,17,1f,1,4.1,7,27,13.5,1c.22,55.b,276.8' +
  ',1d.2,51.e,d,7.a,17.8,14.b,d,3,2.b,5d.2,a.15,f,a.5,58.7,2a.555,9c.3,5a.5,16.1,6.1,26.1,6.1,8,1,1,1,1' +
  'f.1,35,f,e.1,6,13.1,3,9,53.3,1.6,5.5,8.1,1b.10,12.1d,1b.14,3b.1,f.6,31.b,23f.30,27.18,b.14,9f,114.1,' +
  '2,65.1,a.76,4,4.1,1c,23,1,4.2,1,7.1,34.2,18,e.10,1c.3,310.37f,1a,59.b,d6.19,c.3,40,56.1,67.4,28.3,5e' +
  ',28.37,2d.2,24.c,2b.2,4d.3,2f,77.3,63.1,1f,19b6.49,51a6.59,48d.2,37.738,2ba4.5b,222e.1,3b.94,7.b,5.4' +
  ',1a,5,1,2,2,6c.20,16d.f,40.1,36.7,2d.2,10.f,4.b,17.1,a,13,4.3,5,87.1,1,be.2,6.1,6.1,6.1,3.2,7,7.9,7.' +
  '2ff,1f,4.b,1b.b4,26.1,26.cbb1,f6.9,27.2,b4.221,55,47,2.1,1.1,2.1,4,c,1,4,2,41,4.1,8,7,1c,4,5,1.2,7,1' +
  '52.3,122.3,32.27fd,a6d9.5128,21e.5df,2.fffd,2.fffd,2.fffd,2.fffd,2.fffd,2.fffd,2.fffd,2.fffd,2.fffd,' +
  '2.fffd,2.fffd,2,1.1d,60.ff7d');

/** RFC 3454 D.1: bidi property R or AL. */
const RAND_AL_CAT = decodeRanges(
  '5be,1,2,c.1a,5.4,26,3,1.19,5.a,22.2,1.64,7,7.1,13.4,1.d,2,1.1a,53.25,b,185d,db0d,1.9,1.c,1.4,1,1.1,1' +
  '.1,1.6b,21.16a,12.3f,2.35,28.c,73.4,1.86');

/** RFC 3454 D.2: bidi property L. */
const L_CAT = decodeRanges(
  '41.19,6.19,2f,a,4,5.16,1.1e,1.128,1.11,1c.5d,2.8,2.6,e.1,e.4,9,8b,b,1.2,1,1.13,1.2b,1.25,a.82,7.44,1' +
  '.25,2.1,6.f,21.25,2.6,1.26,1,379,1.34,3.3,8.3,3,7.9,2.c,11.1,1.7,2.1,2.15,1.6,1,3.3,4.2,6.1,2.1,a,4.' +
  '1,1.2,4.b,2.6,a.5,4.1,2.15,1.6,1.1,1.1,1.1,4.2,18.3,1,7.9,2.2,e,1.6,1,1.2,1.15,1.6,1.1,1.4,3.3,8,1.1' +
  ',3,f,5.9,12.1,1.7,2.1,2.15,1.6,1.1,2.3,3.1,1,6.1,2.1,a,4.1,1.2,4.a,12,1.5,3.2,1.3,3.1,1,1.1,3.1,3.2,' +
  '3.7,1.2,4.1,1.1,3.2,1.2,a,f.b,e.2,1.7,1.2,1.16,1.9,1.4,7.3,1b.1,4.9,12.1,1.7,1.2,1.16,1.9,1.4,4,1.4,' +
  '2.1,1.1,9.1,7,1.1,4.9,12.1,1.7,1.2,1.16,1.f,4.2,5.2,1.2,a,8.1,4.9,12.1,1.11,3.17,1.8,1,2.6,8.2,6.7,1' +
  '2.2,c.2f,1.1,c.6,8.c,25.1,1,2.1,1,2,6.3,1.6,1.2,1,1,2.1,1.3,1.1,9,2.4,1,9.9,2.1,22.17,2.1a,1,1,5.9,1' +
  '.21,14,5,2.3,32.7,1.5,2,30.21,1.4,1.1,1,4,6,7.17,48.25,a.28,2,4.59,5.43,5.51,6.6,1.3e,1,1.3,2.6,1,1.' +
  '3,2.26,1,1.3,2.1e,1,1.3,2.6,1,1.3,2.6,1.6,1.16,1.1e,1,1.3,2.6,1.26,1.12,6.1b,23.54,c.275,a.19,5.50,f' +
  '.c,1.3,e.11,3.1,9.11,e.c,1.2,f.36,7.7,1.1,b.6,1,3.9,26.9,6.57,8.28,557.9b,4.59,6.15,2.5,2.25,2.5,2.7' +
  ',1,1,1,1.1e,2.34,1.6,1,3.2,1.6,3.3,2.5,4.c,5.2,1.6,11,62,d,82,4,2.9,1,3.4,6,1,1,1.3,1.2,1.6,3.2,5.4,' +
  '16.23,1b2.44,1a,106.4d,b1b.2,19.8,7.4,2.4,4.55,6.2,1.59,1.3,5.27,4.5d,1.27,38.2c,3.23,1c.1b,3.31,f.b' +
  ',4.2e,1.76,4.62,2.1e,1.19b5,4a.51a5,5a.48c,773.2ba3,5c.222d,2.3a,95.6,c.4,409.19,6.19,b.58,3.5,2.5,2' +
  '.5,2.2,323.1e,1.3,c.1a,b5.25,2.25,cbb2.f5,a.26,3.3c,3.8,10.1,7.1d,4.2f,222.54,1.46,1.1,2,2.1,2.3,1.b' +
  ',1,1.3,1.1,1.40,1.3,2.7,1.6,1.1b,1.3,1.4,1,3.6,1.151,4.121,2836.a6d6,5129.21d,c05e2.fffd,2.fffd');

/** Binary search of a code point in decoded ranges. */
function inTable(cp: number, table: Uint32Array): boolean {
  let lo = 0;
  let hi = table.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < table[2 * mid]) hi = mid - 1;
    else if (cp > table[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * SASLprep (RFC 4013) exactly as PostgreSQL's pg_saslprep applies it on both ends: ASCII passwords are used as they
 * are; otherwise map non-ASCII spaces to space, drop "mapped to nothing" characters and NFKC-normalise. When the
 * result would be empty, or the mapped text holds prohibited or Unicode-3.2-unassigned code points or breaks the
 * bidi rule, PostgreSQL uses the raw password instead, and so do we. Like pg_saslprep, the checks run on the mapped
 * text before normalisation. NFKC comes from ICU (a newer Unicode than 3.2); normalisation is stable for code
 * points assigned in 3.2, and any other code point sends us (and the server) to the raw password anyway.
 */
export function saslPrep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  if (/\p{Cs}/u.test(password)) return password; // lone surrogate: not valid UTF-8, the server uses raw bytes
  const mapped: number[] = [];
  for (const ch of password) {
    const cp = ch.codePointAt(0) as number;
    if (inTable(cp, NON_ASCII_SPACE)) mapped.push(0x20);
    else if (!inTable(cp, MAPPED_TO_NOTHING)) mapped.push(cp);
  }
  if (mapped.length === 0) return password;
  if (mapped.some((cp) => inTable(cp, PROHIBITED) || inTable(cp, UNASSIGNED_3_2))) return password;
  if (mapped.some((cp) => inTable(cp, RAND_AL_CAT))) {
    const ends = inTable(mapped[0], RAND_AL_CAT) && inTable(mapped[mapped.length - 1], RAND_AL_CAT);
    if (!ends || mapped.some((cp) => inTable(cp, L_CAT))) return password;
  }
  return String.fromCodePoint(...mapped).normalize('NFKC');
}
