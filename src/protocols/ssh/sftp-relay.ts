/**
 * The relay of an `sftp` subsystem channel (sftp, and scp in its default SFTP mode): both directions are framed
 * into SFTP packets (sftp-codec.ts) and followed by the tracker (sftp-tracker.ts), so every file operation is
 * recorded with its path, bytes and result, and READ data is masked in place (same length, offsets intact) when
 * masking rules apply. Backpressure is kept per direction. A malformed or oversized packet ends the channel
 * (fail closed); nothing the tracker did not release reaches the caller.
 */
import type { ClientChannel, ServerChannel } from 'ssh2';
import { toWardenError } from '../../errors.js';
import type { SameLengthMasker } from '../../masking/same-length.js';
import type { ConnectionContext } from './context.js';
import { SftpFramer } from './sftp-codec.js';
import { SftpTracker, type SftpOperation } from './sftp-tracker.js';

/** Writes frames to `to`; pauses `from` until `to` drains when its buffer is full. */
function send(frames: Buffer[], to: ServerChannel | ClientChannel, from: ServerChannel | ClientChannel): void {
  let full = false;
  for (const frame of frames) full = !to.write(frame) || full;
  if (full) {
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
  stream.on('data', (chunk: Buffer) => {
    conn.touch();
    try {
      const frames = fromCaller.push(chunk);
      for (const frame of frames) tracker.request(frame);
      send(frames, upstream, stream);
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
