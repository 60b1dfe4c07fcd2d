/**
 * Test fixture (run as a process): a real OpenSSH `sftp-server` behind the SFTP framer and tracker, speaking on
 * stdin/stdout, so `sftp -D <wrapper>` drives real client and server bytes through Warden's codec. Writes each
 * file operation as a JSON line to $WARDEN_SFTP_LOG; with WARDEN_SFTP_MASK set, masks card numbers in READ data
 * (redact). Test support only: nothing on the data path imports it.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { SameLengthMasker } from '../../masking/same-length.js';
import { SftpFramer, framePieces } from './sftp-codec.js';
import { SftpTracker, type SftpOperation } from './sftp-tracker.js';

const log = process.env.WARDEN_SFTP_LOG ?? '/dev/null';
const masker = process.env.WARDEN_SFTP_MASK ? SameLengthMasker.forRules([{ rule: 't/cards', items: [{ detectors: ['card'], strategy: 'redact' }] }]) : null;
const tracker = new SftpTracker(masker);
const fromClient = new SftpFramer();
const fromServer = new SftpFramer();
const server = spawn('/usr/lib/openssh/sftp-server', [], { stdio: ['pipe', 'pipe', 'inherit'] });

function record(ops: SftpOperation[]): void {
  for (const op of ops) appendFileSync(log, `${JSON.stringify(op)}\n`);
}

process.stdin.on('data', (chunk: Buffer) => {
  for (const frame of fromClient.push(chunk)) {
    tracker.request(frame);
    for (const piece of framePieces(frame)) server.stdin.write(piece);
  }
});
process.stdin.on('end', () => server.stdin.end());
server.stdout.on('data', (chunk: Buffer) => {
  for (const frame of fromServer.push(chunk)) {
    const { forward, operations } = tracker.reply(frame);
    for (const out of forward) for (const piece of framePieces(out)) process.stdout.write(piece);
    record(operations);
  }
});
server.on('exit', () => {
  record(tracker.end());
  process.exit(0);
});
