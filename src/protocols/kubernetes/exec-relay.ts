/**
 * One exec or attach stream over `v5.channel.k8s.io` / `v4.channel.k8s.io`, relayed between kubectl and the API
 * server after both handshakes (websocket-relay.ts): stdin and resizes up, stdout, stderr and the final Status down.
 * - Only what each side may send passes: from the caller stdin, resize and (v5) the close of stdin; from the server
 *   stdout, stderr, the error channel and (v5) closes. Anything else is dropped and recorded.
 * - Resizes are re-encoded from what Warden read (Go's reading of TerminalSize), so the server sizes the terminal
 *   exactly as recorded; one Warden cannot read is dropped.
 * - stdout and stderr pass through the shared streaming masker (output-masking.ts) when a rule scans content, so a
 *   value split over frames is still masked; the error channel's Status is held until the stream ends (the server
 *   sends it last) and masked as a whole.
 * - Recorded as asciicast exactly as an SSH terminal (recording/asciicast.ts): the output the caller saw, input the
 *   program echoed, the size from the resize channel; then the exit status and duration with pipeline.onOutcome.
 * What it must never do: send the caller a byte of stdout or stderr the masker did not release, or record one.
 */
import { Duplex } from 'node:stream';
import { MaskingStream } from '../output-masking.js';
import { StreamMasker } from '../../masking/stream.js';
import type { ResultMasking } from '../../session/pipeline.js';
import {
  CHANNEL, JsonObjectSplitter, decodeStreamFrame, encodeClose, encodeFrame, encodeResize, parseExitStatus, parseResize,
  type CommandExit,
} from './channel-codec.js';
import { kubeStatus } from './errors.js';
import { ExecRecording } from './exec-recording.js';
import type { RelayContext, StreamRelay } from './relay-context.js';
import type { WsPair } from './ws-pair.js';

/** How long held output may take to flush when the stream ends. */
const FLUSH_DEADLINE_MS = 2000;

/** Relays one exec or attach stream; resolves `closed` once both sides are closed and the outcome is recorded. */
export function relayRemoteCommand(ctx: RelayContext, pair: WsPair, options: { v5: boolean; tty: boolean }): StreamRelay {
  const { session, pipeline, command } = ctx;
  const started = Date.now();
  const masking = pipeline.masking(session);
  const makeMask = masking.rules.length > 0 ? MaskingStream.forRules(masking.rules, masking.hashKey) : null;
  const recording = new ExecRecording(session, pipeline, options.tty);
  const counts = { stdin: 0, stdout: 0, stderr: 0, dropped: 0 };
  const dropped = (from: string, reason: string): void => {
    if (counts.dropped++ < 10) pipeline.onEvent(session, 'kubernetes.stream.dropped', { from, reason });
  };
  // stdout and stderr: one masking stream each (or none), whose output is what the caller sees and the recording gets.
  const outputs = [CHANNEL.stdout, CHANNEL.stderr].map((channel) => {
    const mask = makeMask?.(options.tty) ?? null;
    const emit = (bytes: Buffer): void => {
      if (bytes.length === 0) return;
      pair.send('caller', encodeFrame(channel, bytes));
      recording.output(bytes);
    };
    mask?.on('data', emit);
    return { channel, mask, write: (bytes: Buffer) => (mask ? mask.write(bytes) : emit(bytes)) };
  });
  const resizes = new JsonObjectSplitter();
  const status = new JsonObjectSplitter();
  const heldStatus: Buffer[] = [];
  let exit: CommandExit | null = null;
  let ending: string | undefined;

  pair.onMessage('caller', (message) => {
    if (ending !== undefined) return;
    const frame = decodeStreamFrame(message, options.v5);
    if (frame.kind === 'malformed') return dropped('caller', frame.reason);
    if (frame.kind === 'empty') return;
    if (frame.kind === 'close') {
      if (frame.channel !== CHANNEL.stdin) return dropped('caller', `close of channel ${frame.channel}`);
      return pair.send('upstream', encodeClose(CHANNEL.stdin));
    }
    if (frame.channel === CHANNEL.stdin) {
      counts.stdin += frame.data.length;
      if (frame.data.length > 0) recording.input(frame.data);
      return pair.send('upstream', message);
    }
    if (frame.channel !== CHANNEL.resize) return dropped('caller', `data on channel ${frame.channel}`);
    const read = resizes.push(frame.data);
    if ('error' in read) return dropped('caller', `resize: ${read.error}`);
    for (const text of read.objects) {
      const size = parseResize(text);
      if (size === null) return dropped('caller', 'a resize Warden cannot read');
      recording.resize(size);
      pair.send('upstream', encodeResize(size));
    }
  });

  pair.onMessage('upstream', (message) => {
    if (ending !== undefined) return;
    const frame = decodeStreamFrame(message, options.v5);
    if (frame.kind === 'malformed') return dropped('upstream', frame.reason);
    if (frame.kind === 'empty') return;
    if (frame.kind === 'close') return pair.send('caller', message);
    if (frame.channel === CHANNEL.stdout || frame.channel === CHANNEL.stderr) {
      counts[frame.channel === CHANNEL.stdout ? 'stdout' : 'stderr'] += frame.data.length;
      return outputs[frame.channel - 1].write(frame.data);
    }
    if (frame.channel !== CHANNEL.error) return dropped('upstream', `data on channel ${frame.channel}`);
    const read = status.push(frame.data);
    if ('error' in read) return dropped('upstream', `error channel: ${read.error}`);
    for (const text of read.objects) {
      exit = parseExitStatus(text) ?? exit;
      heldStatus.push(Buffer.from(text));
    }
  });

  const finish = async (): Promise<void> => {
    for (const o of outputs) o.mask?.end();
    await Promise.race([Promise.all(outputs.map((o) => (o.mask ? ended(o.mask) : undefined))),
      new Promise((r) => setTimeout(r, FLUSH_DEADLINE_MS).unref())]);
    for (const text of heldStatus) pair.send('caller', encodeFrame(CHANNEL.error, maskWhole(masking, text)));
  };

  pair.upstream.once('close', (code: number) => {
    if (ending !== undefined) return;
    ending = 'the stream ended';
    finish().then(() => pair.close('caller', code), () => pair.close('caller', code));
  });
  pair.caller.once('close', () => {
    ending ??= 'the caller closed the stream';
    pair.close('upstream', 1000);
  });

  const terminate = (reason: string): void => {
    if (ending !== undefined && pair.caller.readyState !== pair.caller.OPEN) return;
    ending = `terminated: ${reason}`;
    // What the maskers still hold is dropped, not flushed: nothing more of the program's output after the reason.
    for (const o of outputs) o.mask?.destroy();
    const text = `warden: session ended: ${reason}`;
    pair.send('caller', encodeFrame(CHANNEL.stderr, `\r\n${text}\r\n`));
    pair.send('caller', encodeFrame(CHANNEL.error, JSON.stringify(kubeStatus(403, 'Forbidden', text))));
    pair.destroy('upstream');
    pair.close('caller', 1000, 'warden: session ended');
  };

  const closed = pair.closed.then(async () => {
    for (const o of outputs) o.mask?.destroy();
    const outcome = ending?.startsWith('terminated: ') ? ending : exit === null ? 'closed'
      : exit.code !== null ? `exit ${exit.code}` : 'failed';
    pipeline.onOutcome(session, command, { durationMs: Date.now() - started, tag: outcome,
      ...(exit && exit.code === null && exit.message ? { error: { code: 'KUBERNETES_STATUS', message: exit.message } } : {}) });
    pipeline.onEvent(session, 'kubernetes.stream.end', { outcome, exitCode: exit?.code ?? null, tty: options.tty,
      bytesIn: counts.stdin, bytesOut: counts.stdout + counts.stderr });
    await recording.close();
  });
  return { closed, terminate };
}

/** Resolves once a masking stream has emitted everything (or was destroyed). */
function ended(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.resume();
  });
}

/** The error channel's Status with the session's content masking applied to it whole. */
function maskWhole(masking: ResultMasking, text: Buffer): Buffer {
  const masker = masking.rules.length > 0 ? StreamMasker.forRules(masking.rules, masking.hashKey) : null;
  if (masker === null) return text;
  return Buffer.concat([masker.push(text), masker.flush()]);
}
