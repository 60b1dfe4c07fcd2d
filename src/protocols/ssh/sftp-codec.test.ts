/**
 * SFTP codec tests: framing at every split point, refusal of oversized and empty packets before buffering them,
 * each request and reply type decoded, and every truncation of a packet refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '../../errors.js';
import { SFTP, SftpFramer, decodePacket } from './sftp-codec.js';
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
        let frames: Buffer[] = [];
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
