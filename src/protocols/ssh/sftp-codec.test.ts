/**
 * SFTP codec tests: framing at every split point, refusal of oversized and empty packets before buffering them,
 * each request and reply type decoded, and every truncation of a packet refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '../../errors.js';
import { MAX_PIECES, SFTP, SPLIT_MIN, SftpFramer, decodePacket, frameBytes, frameHead, frameLength, type SftpFrame } from './sftp-codec.js';
import { attrs, packet, str, u32, u64 } from './sftp-test-packets.js';

const H = Buffer.from([0, 0, 0, 7]);

const REQUESTS: Array<[Buffer, unknown]> = [
  [packet(SFTP.INIT, u32(3)), { type: 'init', version: 3 }],
  [packet(SFTP.VERSION, u32(3), str('posix-rename@openssh.com'), str('1')), { type: 'version', version: 3 }],
  [packet(SFTP.OPEN, u32(1), str('/etc/passwd'), u32(0x1a), attrs({ permissions: 0o644 })),
    { type: 'open', id: 1, path: '/etc/passwd', flags: ['write', 'creat', 'trunc'], attrs: { permissions: 0o644 } }],
  [packet(SFTP.CLOSE, u32(2), str(H)), { type: 'close', id: 2, handle: '00000007' }],
  [packet(SFTP.READ, u32(3), str(H), u64(2 ** 40), u32(32768)), { type: 'read', id: 3, handle: '00000007', offset: 2 ** 40, length: 32768 }],
  [packet(SFTP.WRITE, u32(4), str(H), u64(5), str('hello')), { type: 'write', id: 4, handle: '00000007', offset: 5, dataStart: 29, dataLength: 5 }],
  [packet(SFTP.LSTAT, u32(5), str('/tmp')), { type: 'lstat', id: 5, path: '/tmp' }],
  [packet(SFTP.FSTAT, u32(6), str(H)), { type: 'fstat', id: 6, handle: '00000007' }],
  [packet(SFTP.SETSTAT, u32(7), str('/x'), attrs({ permissions: 0o600 })), { type: 'setstat', id: 7, path: '/x', attrs: { permissions: 0o600 } }],
  [packet(SFTP.FSETSTAT, u32(8), str(H), attrs({ size: 10 })), { type: 'fsetstat', id: 8, handle: '00000007', attrs: { size: 10 } }],
  [packet(SFTP.OPENDIR, u32(9), str('/home')), { type: 'opendir', id: 9, path: '/home' }],
  [packet(SFTP.READDIR, u32(10), str(H)), { type: 'readdir', id: 10, handle: '00000007' }],
  [packet(SFTP.REMOVE, u32(11), str('/a b')), { type: 'remove', id: 11, path: '/a b' }],
  [packet(SFTP.MKDIR, u32(12), str('/d'), attrs()), { type: 'mkdir', id: 12, path: '/d', attrs: {} }],
  [packet(SFTP.RMDIR, u32(13), str('/d')), { type: 'rmdir', id: 13, path: '/d' }],
  [packet(SFTP.REALPATH, u32(14), str('.')), { type: 'realpath', id: 14, path: '.' }],
  [packet(SFTP.STAT, u32(15), str('/é')), { type: 'stat', id: 15, path: '/é' }],
  [packet(SFTP.RENAME, u32(16), str('/a'), str('/b')), { type: 'rename', id: 16, path: '/a', target: '/b' }],
  [packet(SFTP.READLINK, u32(17), str('/l')), { type: 'readlink', id: 17, path: '/l' }],
  [packet(SFTP.SYMLINK, u32(18), str('/t'), str('/l')), { type: 'symlink', id: 18, path: '/t', target: '/l' }],
  [packet(SFTP.EXTENDED, u32(19), str('statvfs@openssh.com'), str('/')), { type: 'extended', id: 19, request: 'statvfs@openssh.com', path: '/' }],
  [packet(SFTP.EXTENDED, u32(30), str('posix-rename@openssh.com'), str('/a'), str('/b')),
    { type: 'extended', id: 30, request: 'posix-rename@openssh.com', path: '/a', target: '/b' }],
  [packet(SFTP.EXTENDED, u32(31), str('limits@openssh.com')), { type: 'extended', id: 31, request: 'limits@openssh.com' }],
  [packet(SFTP.STATUS, u32(20), u32(2), str('No such file'), str('')), { type: 'status', id: 20, code: 2, message: 'No such file' }],
  [packet(SFTP.STATUS, u32(21), u32(0)), { type: 'status', id: 21, code: 0, message: '' }],
  [packet(SFTP.HANDLE, u32(22), str(H)), { type: 'handle', id: 22, handle: '00000007' }],
  [packet(SFTP.DATA, u32(23), str('abc')), { type: 'data', id: 23, dataStart: 13, dataLength: 3 }],
  [packet(SFTP.NAME, u32(24), u32(2), str('a'), str('-rw a'), attrs({ size: 1 }), str('b'), str('drwx b'), attrs()),
    { type: 'name', id: 24, count: 2, names: ['a', 'b'] }],
  [packet(SFTP.ATTRS, u32(25), attrs({ size: 99, permissions: 0o755 })), { type: 'attrs', id: 25, attrs: { size: 99, permissions: 0o755 } }],
  [packet(SFTP.EXTENDED_REPLY, u32(26), u64(1)), { type: 'extended_reply', id: 26 }],
  [packet(250, u32(27)), { type: 'unknown', id: 27, code: 250 }],
];

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WardenError, String(err));
    return err.code;
  }
  return undefined;
}

describe('decodePacket', () => {
  for (const [frame, expected] of REQUESTS) {
    it(`decodes ${(expected as { type: string }).type}`, () => assert.deepEqual(decodePacket(frame), expected));
  }

  it('refuses every truncation of every packet (fields running past the end)', () => {
    for (const [frame] of REQUESTS) {
      const fixedSize = (expectedFieldsEnd(frame));
      for (let cut = 5; cut < fixedSize; cut++) {
        const short = Buffer.from(frame.subarray(0, cut));
        short.writeUInt32BE(cut - 4, 0);
        assert.equal(code(() => decodePacket(short)), 'WARDEN_ERR_PROTOCOL', `${frame[4]} cut at ${cut}`);
      }
    }
  });
});

/** Where the fields the decoder reads end (STATUS may stop after its code; a VERSION's extensions are not read). */
function expectedFieldsEnd(frame: Buffer): number {
  if (frame[4] === SFTP.STATUS) return 13;
  if (frame[4] === SFTP.VERSION || frame[4] === SFTP.INIT) return 9;
  if (frame[4] === SFTP.EXTENDED && frame.includes('limits@')) return 9 + 4 + 'limits@openssh.com'.length;
  if (frame[4] === SFTP.EXTENDED_REPLY || frame[4] === 250) return 9;
  return frame.length;
}

describe('SftpFramer', () => {
  const stream = Buffer.concat(REQUESTS.map(([f]) => f));

  it('gives the same packets for every split of a stream, and for byte-by-byte input', () => {
    const whole = new SftpFramer().push(stream);
    assert.equal(whole.length, REQUESTS.length);
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new SftpFramer();
      const got = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
      assert.deepEqual(got, whole, `cut ${cut}`);
      assert.equal(f.pending, 0);
    }
    const f = new SftpFramer();
    // Small packets are joined when they span chunks: each is one Buffer.
    assert.deepEqual([...stream].flatMap((b) => f.push(Buffer.from([b]))), whole);
  });

  it('refuses a length above the limit as soon as the length is known, without waiting for the body', () => {
    const header = u32(256 * 1024 + 1);
    for (let cut = 0; cut <= 4; cut++) {
      const f = new SftpFramer();
      const first = code(() => f.push(header.subarray(0, cut)));
      const second = first ?? code(() => f.push(Buffer.concat([header.subarray(cut), Buffer.from([SFTP.DATA])])));
      assert.equal(second, 'WARDEN_ERR_MESSAGE_TOO_LARGE', `cut ${cut}`);
    }
    assert.equal(code(() => new SftpFramer(100).push(packet(SFTP.DATA, u32(1), str('x'.repeat(100))))), 'WARDEN_ERR_MESSAGE_TOO_LARGE');
    assert.equal(new SftpFramer().push(packet(SFTP.DATA, u32(1), str('x'.repeat(256 * 1024 - 9)))).length, 1);
  });

  it('refuses an empty packet', () => {
    assert.equal(code(() => new SftpFramer().push(u32(0))), 'WARDEN_ERR_PROTOCOL');
  });
});

describe('SftpFramer: bulk packets in slices', () => {
  const H2 = Buffer.from('hnd2');
  // A 255 KiB WRITE (OpenSSH's upload size), a 40 KiB DATA, small packets between them, a 20 KiB OPEN path.
  const BIG = [
    packet(SFTP.WRITE, u32(40), str(H2), u64(0), str(Buffer.alloc(255 * 1024 - 40, 7))),
    packet(SFTP.STATUS, u32(41), u32(0), str(''), str('')),
    packet(SFTP.DATA, u32(42), str(Buffer.alloc(40 * 1024, 9))),
    packet(SFTP.OPEN, u32(43), str(`/tmp/${'p'.repeat(20 * 1024)}`), u32(0x1a), attrs()),
    packet(SFTP.WRITE, u32(44), str(Buffer.alloc(2000, 1)), u64(9), str(Buffer.alloc(30 * 1024, 3))),
    packet(SFTP.WRITE, u32(45), str(H2), u64(1), str('tiny')),
  ];
  const stream = Buffer.concat(BIG);
  const expected = BIG.map((f) => decodePacket(f));

  /** Frames a copy of `stream` cut at `cuts`; checks bytes, decoding and that bulk packets were not copied. */
  function check(cuts: number[], label: string): SftpFrame[] {
    const chunks: Buffer[] = [];
    let at = 0;
    for (const cut of [...cuts, stream.length]) {
      chunks.push(Buffer.from(stream.subarray(at, cut)));
      at = cut;
    }
    const f = new SftpFramer();
    const frames = chunks.flatMap((c) => f.push(c));
    assert.equal(f.pending, 0, label);
    assert.deepEqual(frames.map(frameBytes), BIG, label);
    assert.deepEqual(frames.map((fr) => decodePacket(fr)), expected, label);
    const inputs = new Set(chunks.map((c) => c.buffer));
    for (const frame of frames) {
      if (Buffer.isBuffer(frame)) {
        assert.ok(inputs.has(frame.buffer) || frame.length <= SPLIT_MIN || chunks.length - 1 > MAX_PIECES, `${label}: a big packet was copied`);
        continue;
      }
      assert.ok(frameLength(frame) > SPLIT_MIN && frame.length <= MAX_PIECES, label);
      // At most the 4-byte length field is copied (when it spans chunks itself).
      const copied = frame.filter((p) => !inputs.has(p.buffer)).reduce((n, p) => n + p.length, 0);
      assert.ok(copied <= 4, `${label}: ${copied} bytes copied`);
    }
    return frames;
  }

  it('gives the same packets, uncopied, for every cut near the packet boundaries and at 32 KiB chunks', () => {
    let offset = 0;
    for (const frame of BIG) {
      for (let d = -6; d <= 40; d++) {
        const cut = offset + d;
        if (cut > 0 && cut < stream.length) check([cut], `cut ${cut}`);
        if (cut > 0 && cut + 3 < stream.length) check([cut, cut + 1, cut + 3], `cuts ${cut}, +1, +3`);
      }
      offset += frame.length;
    }
    const frames = check(Array.from({ length: Math.floor(stream.length / 32768) }, (_, i) => (i + 1) * 32768), '32 KiB chunks');
    assert.ok(frames.some((fr) => !Buffer.isBuffer(fr)), 'the 255 KiB WRITE stays in slices');
  });

  it('gives the same packets for random chunkings', async () => {
    const { prng } = await import('../../masking/test-random.js');
    for (let seed = 1; seed <= 100; seed++) {
      const rand = prng(seed);
      const max = [16, 1000, 40000][seed % 3];
      const cuts: number[] = [];
      for (let at = 1 + Math.floor(rand() * max); at < stream.length; at += 1 + Math.floor(rand() * max)) cuts.push(at);
      check(cuts, `seed ${seed}`);
    }
  });

  it('joins a packet that came in more than MAX_PIECES slices (byte by byte), and decodes it the same', () => {
    const f = new SftpFramer();
    const frames = [...BIG[2]].flatMap((b) => f.push(Buffer.from([b])));
    assert.equal(frames.length, 1);
    assert.ok(Buffer.isBuffer(frames[0]));
    assert.deepEqual(frames[0], BIG[2]);
  });

  it('refuses a WRITE or DATA in slices whose payload length runs past the packet', () => {
    for (const [type, fields] of [[SFTP.WRITE, [u32(1), str(H2), u64(0)]], [SFTP.DATA, [u32(1)]]] as const) {
      const body = Buffer.alloc(30 * 1024, 5);
      const frame = packet(type, ...fields, u32(body.length + 1), body);
      const parts = [frame.subarray(0, 20000), frame.subarray(20000)];
      assert.equal(code(() => decodePacket(parts)), 'WARDEN_ERR_PROTOCOL', `type ${type}`);
      assert.equal(code(() => decodePacket(frame)), 'WARDEN_ERR_PROTOCOL', `type ${type} whole`);
    }
  });

  it('reads the head of a frame across slices', () => {
    const parts = [Buffer.from([0, 0]), Buffer.from([0, 9, 6]), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])];
    assert.deepEqual(frameHead(parts, 9), Buffer.from([0, 0, 0, 9, 6, 1, 2, 3, 4]));
    assert.deepEqual(frameHead(parts, 100), Buffer.concat(parts));
    assert.equal(frameLength(parts), 13);
  });
});

describe('SFTP codec: fuzz', () => {
  it('never fails on random bytes with anything but a WardenError, and never buffers past the limit', async () => {
    const { prng } = await import('../../masking/test-random.js');
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const f = new SftpFramer(4096);
      for (let k = 0; k < 20; k++) {
        // Mostly small plausible lengths, so that packets complete and get decoded.
        const body = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
        const len = rand() < 0.8 ? body.length : Math.floor(rand() * 2 ** 32);
        const chunk = Buffer.concat([u32(len), body]);
        let frames: SftpFrame[] = [];
        try {
          frames = f.push(chunk);
        } catch (err) {
          assert.ok(err instanceof WardenError, `seed ${seed}: ${String(err)}`);
          break;
        }
        assert.ok(f.pending <= 4096 + 4, `seed ${seed}`);
        for (const frame of frames) {
          try {
            decodePacket(frame);
          } catch (err) {
            assert.ok(err instanceof WardenError, `seed ${seed}: ${String(err)}`);
          }
        }
      }
    }
  });
});
