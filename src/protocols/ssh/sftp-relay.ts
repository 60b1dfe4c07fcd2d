/**
 * The relay of an `sftp` subsystem channel (sftp, and scp in its default SFTP mode): both directions are framed
 * into SFTP packets (sftp-codec.ts) and followed by the tracker (sftp-tracker.ts), so every file operation is
 * recorded with its path, bytes and result, and READ data is masked in place (same length, offsets intact) when
 * masking rules apply; each request that opens or changes a path is judged by the pipeline first (sftp-policy.ts),
 * in order, and a refused one is answered with permission denied. Backpressure is kept per direction. A malformed or
 * oversized packet ends the channel (fail closed); nothing the tracker did not release reaches the caller.
 */
import type { ClientChannel, ServerChannel } from 'ssh2';
import { WardenError, toWardenError } from '../../errors.js';
import type { SameLengthMasker } from '../../masking/same-length.js';
import type { ConnectionContext } from './context.js';
import { SFTP, SftpFramer, decodePacket, frameHead, framePieces, type SftpFrame } from './sftp-codec.js';
import { SftpTracker, type SftpOperation } from './sftp-tracker.js';
import { sftpDenied, sftpJudgment } from './sftp-policy.js';
import type { Verdict } from '../../session/types.js';

/** Requests kept while one waits for an approval; a client that sends more is cut off. */
const MAX_QUEUED = 4096;

/** Packet types sftpJudgment may judge. */
const JUDGED_TYPES: ReadonlySet<number> = new Set([SFTP.OPEN, SFTP.SETSTAT, SFTP.FSETSTAT, SFTP.OPENDIR, SFTP.REMOVE, SFTP.MKDIR,
  SFTP.RMDIR, SFTP.RENAME, SFTP.SYMLINK, SFTP.EXTENDED]);

const DENIED: Verdict = { effect: 'deny', message: 'Warden could not judge this request', note: { effect: 'deny', classes: [] } };

/** The pipeline's verdict on one caller request, or undefined when it changes no path (sftp-policy.ts). */
function judgeSftp(conn: ConnectionContext, stream: ServerChannel, frame: SftpFrame): Verdict | Promise<Verdict> | undefined {
  // READ and WRITE (the bulk of a transfer) use a judged handle: not decoded twice on the data path.
  if (!JUDGED_TYPES.has(frameHead(frame, 5)[4])) return undefined;
  const judgment = sftpJudgment(decodePacket(frame));
  if (judgment === undefined) return undefined;
  try {
    return conn.pipeline.onCommand(conn.session, { protocol: 'ssh', kind: 'sftp', text: judgment.text, attributes: { shell: judgment.shell } },
      { notify: (m) => stream.stderr.write(`warden: ${m}\n`) });
  } catch (err) {
    conn.logger.error({ err, session: conn.session.id }, 'could not judge an sftp request');
    return DENIED;
  }
}

type Channel = ServerChannel | ClientChannel;

/**
 * Writes frames to `to`, a packet in slices slice by slice (ssh2 cuts writes into 32 KiB channel packets anyway, so
 * joining them first would only copy); pauses `from` until `to` drains when its buffer is full.
 */
function send(frames: SftpFrame[], to: Channel, from: Channel): void {
  let full = false;
  for (const frame of frames) {
    for (const piece of framePieces(frame)) full = !to.write(piece) || full;
  }
  if (full && !from.isPaused()) {
    from.pause();
    to.once('drain', () => from.resume());
  }
}

/** Relays an SFTP channel between the caller (`stream`) and the target (`upstream`) until either ends. */
export function relaySftp(conn: ConnectionContext, stream: ServerChannel, upstream: ClientChannel, masker: SameLengthMasker | null): void {
  const tracker = new SftpTracker(masker);
  const fromCaller = new SftpFramer();
  const fromTarget = new SftpFramer();
  const record = (operations: SftpOperation[]): void => {
    for (const op of operations) conn.pipeline.onEvent(conn.session, 'sftp.operation', { ...op });
  };
  const fail = (err: unknown): void => {
    const error = toWardenError(err);
    conn.logger.warn({ session: conn.session.id, code: error.code, detail: error.detail }, `sftp channel ended: ${error.message}`);
    conn.pipeline.onEvent(conn.session, 'sftp.error', { code: error.code, message: error.callerMessage });
    stream.stderr.write(`warden: ${error.callerMessage}\n`);
    upstream.close();
    stream.close();
  };
  // Requests that change a path are judged one by one (sftp-policy.ts), in order: while one waits for an approval,
  // later requests wait behind it. A refused request gets a permission-denied status and never reaches the target.
  const queue: SftpFrame[] = [];
  let waiting = false;
  const pass = (frame: SftpFrame, verdict: Verdict | undefined, out: SftpFrame[]): void => {
    if (verdict === undefined || verdict.effect === 'allow') {
      tracker.request(frame);
      out.push(frame);
    } else {
      stream.write(sftpDenied(frameHead(frame, 9).readUInt32BE(5), `warden: ${verdict.effect === 'deny' ? verdict.message : 'refused'}`));
    }
  };
  const drain = (): void => {
    const out: SftpFrame[] = [];
    while (queue.length > 0 && !waiting) {
      const frame = queue.shift()!;
      const verdict = judgeSftp(conn, stream, frame);
      if (verdict instanceof Promise) {
        waiting = true;
        stream.pause();
        verdict.catch((): Verdict => DENIED).then((v) => {
          const held: SftpFrame[] = [];
          pass(frame, v, held);
          send(held, upstream, stream);
          waiting = false;
          stream.resume();
          drain();
        }).catch(fail);
        break;
      }
      pass(frame, verdict, out);
    }
    send(out, upstream, stream);
  };
  stream.on('data', (chunk: Buffer) => {
    conn.touch();
    try {
      queue.push(...fromCaller.push(chunk));
      if (queue.length > MAX_QUEUED) throw new WardenError('WARDEN_ERR_PROTOCOL', 'too many SFTP requests while one is held');
      drain();
    } catch (err) {
      fail(err);
    }
  });
  upstream.on('data', (chunk: Buffer) => {
    conn.touch();
    try {
      for (const frame of fromTarget.push(chunk)) {
        const { forward, operations } = tracker.reply(frame);
        send(forward, stream, upstream);
        record(operations);
      }
    } catch (err) {
      fail(err);
    }
  });
  stream.on('end', () => upstream.end());
  upstream.once('close', () => {
    record(tracker.end());
    if (masker && masker.hits.size > 0) conn.pipeline.onEvent(conn.session, 'masking.hits', { hits: Object.fromEntries(masker.hits) });
  });
}
