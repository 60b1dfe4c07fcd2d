/**
 * SFTP tracker tests: operations from request/reply pairs, bytes per handle, same-length masking of READ data across
 * two replies (every split position of a card number), no holding without masking or without a further read, the
 * limits, and the real OpenSSH `sftp` client against the real `sftp-server` through the codec (get, put, rename,
 * mkdir, rmdir, rm, ls), with masking checked on the bytes the client wrote to disk.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { SameLengthMasker } from '../../masking/same-length.js';
import { SFTP, SftpFramer, decodePacket, frameBytes, type SftpFrame } from './sftp-codec.js';
import { MAX_OUTSTANDING, SftpTracker, type SftpOperation } from './sftp-tracker.js';
import { attrs, packet, str, u32, u64 } from './sftp-test-packets.js';

const H = Buffer.from('h1');
const CARDS = SameLengthMasker.forRules([{ rule: 't/c', items: [{ detectors: ['card'], strategy: 'redact' }] }])!;

function replyAll(t: SftpTracker, frames: SftpFrame[]): { forward: Buffer[]; operations: SftpOperation[] } {
  const forward: Buffer[] = [];
  const operations: SftpOperation[] = [];
  for (const f of frames) {
    const r = t.reply(f);
    forward.push(...r.forward.map(frameBytes));
    operations.push(...r.operations);
  }
  return { forward, operations };
}

function opened(t: SftpTracker, flags = 0x01, file = '/srv/data.txt'): void {
  t.request(packet(SFTP.OPEN, u32(1), str(file), u32(flags), attrs()));
  assert.deepEqual(t.reply(packet(SFTP.HANDLE, u32(1), str(H))).operations,
    [{ op: 'open', path: file, flags: flags === 0x01 ? ['read'] : ['write', 'creat', 'trunc'], status: 'ok' }]);
}

describe('SftpTracker: operations', () => {
  it('records a download: open, reads, EOF, close with the bytes read', () => {
    const t = new SftpTracker();
    opened(t);
    t.request(packet(SFTP.READ, u32(2), str(H), u64(0), u32(5)));
    t.request(packet(SFTP.READ, u32(3), str(H), u64(5), u32(5)));
    t.request(packet(SFTP.READ, u32(4), str(H), u64(10), u32(5)));
    const r = replyAll(t, [packet(SFTP.DATA, u32(2), str('hello')), packet(SFTP.DATA, u32(3), str('!!')),
      packet(SFTP.STATUS, u32(4), u32(1), str('EOF'), str(''))]);
    assert.equal(r.forward.length, 3);
    assert.deepEqual(r.operations, []);
    t.request(packet(SFTP.CLOSE, u32(5), str(H)));
    assert.deepEqual(t.reply(packet(SFTP.STATUS, u32(5), u32(0), str(''), str(''))).operations,
      [{ op: 'close', path: '/srv/data.txt', flags: ['read'], bytesRead: 7, bytesWritten: 0, status: 'ok' }]);
    assert.deepEqual(t.end(), []);
  });

  it('records an upload: only writes the server accepted count', () => {
    const t = new SftpTracker();
    opened(t, 0x1a, '/srv/up.bin');
    t.request(packet(SFTP.WRITE, u32(2), str(H), u64(0), str('abcd')));
    t.request(packet(SFTP.WRITE, u32(3), str(H), u64(4), str('efgh')));
    replyAll(t, [packet(SFTP.STATUS, u32(2), u32(0)), packet(SFTP.STATUS, u32(3), u32(4), str('disk full'), str(''))]);
    assert.deepEqual(t.end(), [{ op: 'close', path: '/srv/up.bin', flags: ['write', 'creat', 'trunc'], bytesRead: 0, bytesWritten: 4, status: 'unclosed' }]);
  });

  it('records path operations with their result, and failures with the server message', () => {
    const t = new SftpTracker();
    const reqs = [
      packet(SFTP.REMOVE, u32(1), str('/a')), packet(SFTP.RENAME, u32(2), str('/b'), str('/c')), packet(SFTP.MKDIR, u32(3), str('/d'), attrs()),
      packet(SFTP.RMDIR, u32(4), str('/d')), packet(SFTP.SYMLINK, u32(5), str('/t'), str('/l')), packet(SFTP.SETSTAT, u32(6), str('/e'), attrs({ permissions: 0o600 })),
      packet(SFTP.STAT, u32(7), str('/f')), packet(SFTP.LSTAT, u32(8), str('/g')), packet(SFTP.REALPATH, u32(9), str('.')),
      packet(SFTP.OPEN, u32(10), str('/nope'), u32(1), attrs()),
    ];
    reqs.forEach((r) => t.request(r));
    const { operations } = replyAll(t, [
      packet(SFTP.STATUS, u32(1), u32(0)), packet(SFTP.STATUS, u32(2), u32(0)), packet(SFTP.STATUS, u32(3), u32(0)),
      packet(SFTP.STATUS, u32(4), u32(3), str('Permission denied'), str('')), packet(SFTP.STATUS, u32(5), u32(0)), packet(SFTP.STATUS, u32(6), u32(0)),
      packet(SFTP.ATTRS, u32(7), attrs({ size: 1 })), packet(SFTP.STATUS, u32(8), u32(2), str('No such file'), str('')),
      packet(SFTP.NAME, u32(9), u32(1), str('/home/u'), str(''), attrs()), packet(SFTP.STATUS, u32(10), u32(2), str('No such file'), str('')),
    ]);
    assert.deepEqual(operations, [
      { op: 'remove', path: '/a', status: 'ok' },
      { op: 'rename', path: '/b', target: '/c', status: 'ok' },
      { op: 'mkdir', path: '/d', status: 'ok' },
      { op: 'rmdir', path: '/d', status: 'permission_denied', message: 'Permission denied' },
      { op: 'symlink', path: '/t', target: '/l', status: 'ok' },
      { op: 'setstat', path: '/e', status: 'ok' },
      { op: 'stat', path: '/f', status: 'ok' },
      { op: 'lstat', path: '/g', status: 'no_such_file', message: 'No such file' },
      { op: 'realpath', path: '.', target: '/home/u', status: 'ok' },
      { op: 'open', path: '/nope', flags: ['read'], status: 'no_such_file', message: 'No such file' },
    ]);
  });

  it('counts directory entries and records the listing at close', () => {
    const t = new SftpTracker();
    t.request(packet(SFTP.OPENDIR, u32(1), str('/srv')));
    t.reply(packet(SFTP.HANDLE, u32(1), str(H)));
    t.request(packet(SFTP.READDIR, u32(2), str(H)));
    t.reply(packet(SFTP.NAME, u32(2), u32(2), str('a'), str('a'), attrs(), str('b'), str('b'), attrs()));
    t.request(packet(SFTP.READDIR, u32(3), str(H)));
    t.reply(packet(SFTP.STATUS, u32(3), u32(1)));
    t.request(packet(SFTP.CLOSE, u32(4), str(H)));
    assert.deepEqual(t.reply(packet(SFTP.STATUS, u32(4), u32(0))).operations, [{ op: 'close', path: '/srv', entries: 2, status: 'ok' }]);
  });

  it('refuses more outstanding requests than the limit', () => {
    const t = new SftpTracker();
    for (let id = 0; id < MAX_OUTSTANDING; id++) t.request(packet(SFTP.STAT, u32(id), str('/x')));
    assert.throws(() => t.request(packet(SFTP.STAT, u32(MAX_OUTSTANDING), str('/x'))), { code: 'WARDEN_ERR_PROTOCOL' });
  });
});

describe('SftpTracker: masking READ data', () => {
  const CARD = '4111111111111111';

  it('masks a card number split between two READ replies at every position, keeping every length', () => {
    for (let cut = 1; cut < CARD.length; cut++) {
      const text = `abc ${CARD} def`;
      const splitAt = 4 + cut;
      const t = new SftpTracker(CARDS);
      opened(t);
      t.request(packet(SFTP.READ, u32(2), str(H), u64(0), u32(splitAt)));
      t.request(packet(SFTP.READ, u32(3), str(H), u64(splitAt), u32(100)));
      t.request(packet(SFTP.READ, u32(4), str(H), u64(text.length), u32(100)));
      const first = packet(SFTP.DATA, u32(2), str(text.slice(0, splitAt)));
      const second = packet(SFTP.DATA, u32(3), str(text.slice(splitAt)));
      const lengths = [first.length, second.length];
      const r1 = t.reply(first);
      assert.deepEqual(r1.forward, [], 'held while the next read is outstanding');
      const r2 = t.reply(second);
      const r3 = t.reply(packet(SFTP.STATUS, u32(4), u32(1)));
      const out = [...r2.forward, ...r3.forward].map(frameBytes).filter((f) => f[4] === SFTP.DATA);
      assert.equal(r3.forward.length, 2, 'the last data goes out before the EOF status');
      assert.deepEqual(out.map((f) => f.length), lengths);
      const data = out.map((f) => {
        const p = decodePacket(f);
        assert.ok(p.type === 'data');
        assert.equal(f.readUInt32BE(0), f.length - 4);
        return f.toString('latin1', p.dataStart, p.dataStart + p.dataLength);
      }).join('');
      assert.equal(data, `abc ${'*'.repeat(16)} def`, `cut ${cut}`);
    }
  });

  it('does not hold a reply when no further read of the handle is outstanding', () => {
    const t = new SftpTracker(CARDS);
    opened(t);
    t.request(packet(SFTP.READ, u32(2), str(H), u64(0), u32(100)));
    const r = t.reply(packet(SFTP.DATA, u32(2), str(`x ${CARD} y`)));
    assert.equal(r.forward.length, 1);
    assert.match(r.forward[0].toString('latin1'), /x \*{16} y$/);
  });

  it('masks DATA replies that came in slices (large replies spanning channel chunks), at every chunk size', () => {
    // Two 40 KiB replies with a card number across their boundary and one inside each, cut into chunks of n bytes.
    const first = `${'a'.repeat(40 * 1024 - 30)} ${CARD} ${'b'.repeat(11)} 4111 1111`;
    const second = ` 1111 1111 ${'c'.repeat(20 * 1024)} ${CARD} ${'d'.repeat(20 * 1024)}`;
    const replies = Buffer.concat([packet(SFTP.DATA, u32(2), str(first)), packet(SFTP.DATA, u32(3), str(second)), packet(SFTP.STATUS, u32(4), u32(1))]);
    for (const n of [1000, 4096, 32768, 32769]) {
      const t = new SftpTracker(CARDS);
      opened(t);
      t.request(packet(SFTP.READ, u32(2), str(H), u64(0), u32(first.length)));
      t.request(packet(SFTP.READ, u32(3), str(H), u64(first.length), u32(second.length)));
      t.request(packet(SFTP.READ, u32(4), str(H), u64(first.length + second.length), u32(100)));
      const framer = new SftpFramer();
      const frames: SftpFrame[] = [];
      for (let at = 0; at < replies.length; at += n) frames.push(...framer.push(Buffer.from(replies.subarray(at, at + n))));
      assert.ok(n > 32768 || frames.some((f) => !Buffer.isBuffer(f)), `chunks of ${n}: some reply came in slices`);
      const data = replyAll(t, frames).forward.filter((f) => f[4] === SFTP.DATA).map((f) => {
        const p = decodePacket(f);
        assert.ok(p.type === 'data');
        return f.toString('latin1', p.dataStart, p.dataStart + p.dataLength);
      }).join('');
      const expected = (first + second).replaceAll(CARD, '*'.repeat(16)).replaceAll('4111 1111 1111 1111', '*'.repeat(19));
      const diff = [...data].findIndex((c, i) => c !== expected[i]);
      assert.equal(diff, -1, `chunks of ${n}: differs at ${diff}: ${JSON.stringify(data.slice(diff - 30, diff + 30))} vs ${JSON.stringify(expected.slice(diff - 30, diff + 30))}`);
      assert.equal(data.length, expected.length);
    }
  });

  it('passes data through untouched without a masker', () => {
    const t = new SftpTracker();
    opened(t);
    t.request(packet(SFTP.READ, u32(2), str(H), u64(0), u32(100)));
    t.request(packet(SFTP.READ, u32(3), str(H), u64(100), u32(100)));
    const frame = packet(SFTP.DATA, u32(2), str(CARD));
    assert.deepEqual(t.reply(frame).forward, [frame]);
  });
});

describe('SftpTracker: real sftp client and sftp-server', () => {
  it('follows get, put, rename, mkdir, rmdir, rm and ls, and masks cards in a downloaded file, same size', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'warden-sftp-'));
    try {
      const repo = path.resolve(import.meta.dirname, '../../..');
      const wrapper = path.join(dir, 'relay.sh');
      await writeFile(wrapper, `#!/bin/sh\ncd '${repo}' && exec node --import tsx src/protocols/ssh/sftp-relay-fixture.ts\n`);
      await chmod(wrapper, 0o755);
      // 1 MiB of text with a card number across each 32 KiB boundary (the client's read size).
      const lines: string[] = [];
      let size = 0;
      while (size < 1024 * 1024) {
        const boundary = (Math.floor(size / 32768) + 1) * 32768;
        const filler = 'x'.repeat(Math.max(0, boundary - size - 8 - 1));
        const line = `${filler} 4111 1111 1111 1111 ok\n`;
        lines.push(line);
        size += line.length;
      }
      const src = lines.join('');
      await writeFile(path.join(dir, 'src.txt'), src);
      await writeFile(path.join(dir, 'up.txt'), 'uploaded\n');
      const batch = [`get ${dir}/src.txt ${dir}/got.txt`, `put ${dir}/up.txt ${dir}/put.txt`, `rename ${dir}/put.txt ${dir}/moved.txt`,
        `mkdir ${dir}/d`, `rmdir ${dir}/d`, `rm ${dir}/moved.txt`, `ls ${dir}`].join('\n');
      await writeFile(path.join(dir, 'batch'), `${batch}\n`);
      const log = path.join(dir, 'ops.jsonl');
      await promisify(execFile)('sftp', ['-D', wrapper, '-b', path.join(dir, 'batch')],
        { env: { ...process.env, WARDEN_SFTP_LOG: log, WARDEN_SFTP_MASK: '1' }, timeout: 60_000 });
      const got = await readFile(path.join(dir, 'got.txt'), 'latin1');
      assert.equal((await stat(path.join(dir, 'got.txt'))).size, Buffer.byteLength(src));
      assert.equal(got, src.replaceAll('4111 1111 1111 1111', '*'.repeat(19)));
      const ops = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SftpOperation);
      const closeOf = (p: string) => ops.find((o) => o.op === 'close' && o.path === p);
      assert.equal(closeOf(`${dir}/src.txt`)?.bytesRead, Buffer.byteLength(src));
      assert.equal(closeOf(`${dir}/put.txt`)?.bytesWritten, 9);
      for (const [op, p] of [['rename', `${dir}/put.txt`], ['mkdir', `${dir}/d`], ['rmdir', `${dir}/d`], ['remove', `${dir}/moved.txt`], ['opendir', `${dir}/`]]) {
        assert.ok(ops.some((o) => o.op === op && o.path === p && o.status === 'ok'), `${op} ${p}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
