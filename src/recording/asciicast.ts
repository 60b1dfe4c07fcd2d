/**
 * Records a PTY session as asciicast v2 material through the session Recorder: the terminal's real size and TERM,
 * output ('o'), input ('i') and resize ('r') events, batched into one store event per ~100 ms or 64 KiB (the
 * Recorder writes them every 250 ms, so a crash loses well under a second), and a keyframe of the screen (a
 * serialised headless xterm, recording/screen.ts) every few seconds or few hundred KiB of output, so a player can
 * start anywhere from the nearest keyframe. At close an index event lists every keyframe with the sequence number
 * to read from (cast-replay.ts seeks with it, reading only the end of the session and what follows the keyframe).
 *
 * Events written (all carry `channel`: one session can have several PTYs):
 * - `terminal.start` { version: 2, width, height, timestamp (Unix seconds), env: { TERM } }
 * - `terminal.events` { batch, events: [[seconds, 'o'|'i'|'r', data], ...] }
 * - `terminal.keyframe` { keyframe, time, width, height, afterBatch, screen }: the screen after batch `afterBatch`
 * - `terminal.index` { startSeq, keyframes: [[time, keyframeSeq, fromSeq], ...], duration, withheldInput }
 * What it must never do: record output that was not masked (the engine passes output through its StreamMasker first
 * and hands this recorder the bytes the caller saw; on top, the recorded copy, keyframes included, gets the detectors
 * every recording gets, ALWAYS_REDACTED of recording/redact.ts: a private key or card number the caller printed is
 * kept out of the recording even without a masking rule), or record input the host did not echo (input-echo.ts:
 * what is typed at a password prompt stays out). Field names avoid `text`/`message`, which the Recorder's SQL redactor reads.
 */
import { StringDecoder } from 'node:string_decoder';
import { StreamMasker } from '../masking/stream.js';
import type { Recorder } from './recorder.js';
import { EchoGate } from './input-echo.js';
import { ALWAYS_REDACTED } from './redact.js';
import { ScreenModel } from './screen.js';

/** Options of a TerminalRecorder. */
export interface TerminalRecorderOptions {
  recorder: Pick<Recorder, 'append'>;
  sessionId: string;
  /** Which PTY of the session (the SSH channel number). */
  channel: string;
  width: number;
  height: number;
  term?: string;
  /** Clock in ms (tests). */
  now?: () => number;
  batchMs?: number;
  batchBytes?: number;
  keyframeMs?: number;
  keyframeBytes?: number;
  /** Seal idle batches on a timer (default true; tests drive flush() themselves). */
  timer?: boolean;
}

/** One asciicast event: seconds since the start, code, data. */
export type CastEvent = [number, 'o' | 'i' | 'r', string];

/** Records one PTY. Call output/input/resize as the session runs and close() at its end. */
export class TerminalRecorder {
  private readonly now: () => number;
  private readonly started: number;
  private readonly screen: ScreenModel;
  private readonly echo = new EchoGate();
  private readonly outText = new StringDecoder('utf8');
  private readonly inText = new StringDecoder('utf8');
  private events: CastEvent[] = [];
  private batchStart = 0;
  private batchSize = 0;
  private batch = 0;
  private lastBatchSeq: number | undefined;
  private readonly startSeq: number | undefined;
  private lastKeyframeAt: number;
  private outputSinceKeyframe = 0;
  private keyframePending: Promise<void> | null = null;
  private readonly keyframes: Array<[number, number, number]> = [];
  private width: number;
  private height: number;
  private readonly timer: NodeJS.Timeout | null;
  private closed = false;
  /** Redacts the recorded copy of the output (see the module comment). */
  private readonly redactor = StreamMasker.forRules([{ rule: 'recording', items: [{ detectors: [...ALWAYS_REDACTED], strategy: 'redact' }] }],
    Buffer.alloc(0))!;
  private outputSinceFlush = false;

  constructor(private readonly options: TerminalRecorderOptions) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.lastKeyframeAt = this.started;
    this.width = options.width;
    this.height = options.height;
    this.screen = new ScreenModel(options.width, options.height);
    this.startSeq = this.append('terminal.start', { version: 2, width: options.width, height: options.height,
      timestamp: Math.floor(this.started / 1000), env: { TERM: options.term ?? 'xterm' } });
    this.timer = options.timer === false ? null : setInterval(() => this.flush(), options.batchMs ?? 100);
    this.timer?.unref();
  }

  /** Output as the caller saw it (masked). */
  output(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    this.outputSinceFlush = true;
    this.recordOutput(this.redactor.push(bytes));
  }

  private recordOutput(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const text = this.outText.write(bytes);
    this.screen.write(bytes);
    this.outputSinceKeyframe += bytes.length;
    if (text.length > 0) {
      this.add([this.seconds(), 'o', text]);
      this.echo.output(text);
    }
    this.takeInput();
    this.maybeSeal();
  }

  /** Input the caller sent (recorded only when the host echoes it). */
  input(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    const text = this.inText.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    if (text.length > 0) this.echo.input(text, this.seconds());
    this.takeInput();
    this.maybeSeal();
  }

  /** The caller's terminal changed size. */
  resize(width: number, height: number): void {
    if (this.closed) return;
    this.width = width;
    this.height = height;
    this.screen.resize(width, height);
    this.add([this.seconds(), 'r', `${width}x${height}`]);
    this.maybeSeal();
  }

  /** Seals the current batch into a store event (the timer calls this every batchMs). */
  flush(): void {
    // Output held back by the redactor goes out once the host has been quiet for a batch interval.
    if (!this.outputSinceFlush && this.redactor.pending > 0) this.recordOutput(this.redactor.flush());
    this.outputSinceFlush = false;
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.batchSize = 0;
    this.batch++;
    this.lastBatchSeq = this.append('terminal.events', { batch: this.batch, events }) ?? this.lastBatchSeq;
    const elapsed = this.now() - this.lastKeyframeAt;
    if (this.keyframePending === null && (elapsed >= (this.options.keyframeMs ?? 5000)
      || this.outputSinceKeyframe >= (this.options.keyframeBytes ?? 256 * 1024))) this.keyframe();
  }

  /** Ends the recording: what input may be kept, the last batch, the index. Frees the screen. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.recordOutput(this.redactor.flush());
    for (const [t, data] of this.echo.finish()) this.add([t, 'i', data]);
    this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.keyframePending;
    this.append('terminal.index', { startSeq: this.startSeq ?? null, keyframes: this.keyframes,
      duration: this.seconds(), withheldInput: this.echo.withheld });
    this.screen.dispose();
  }

  /** Input characters withheld so far (not echoed by the host). */
  get withheldInput(): number {
    return this.echo.withheld;
  }

  private keyframe(): void {
    const afterBatch = this.batch;
    const fromSeq = (this.lastBatchSeq ?? this.startSeq ?? 0) + 1;
    const time = this.seconds();
    const [width, height] = [this.width, this.height];
    this.lastKeyframeAt = this.now();
    this.outputSinceKeyframe = 0;
    this.keyframePending = this.screen.snapshot().then((screen) => {
      const n = this.keyframes.length + 1;
      const seq = this.append('terminal.keyframe', { keyframe: n, time, width, height, afterBatch, screen });
      if (seq !== undefined) this.keyframes.push([time, seq, fromSeq]);
    }).finally(() => {
      this.keyframePending = null;
    });
  }

  private takeInput(): void {
    for (const [t, data] of this.echo.take()) this.add([t, 'i', data]);
  }

  private add(event: CastEvent): void {
    if (this.events.length === 0) this.batchStart = this.now();
    this.events.push(event);
    this.batchSize += event[2].length;
  }

  private maybeSeal(): void {
    if (this.events.length === 0) return;
    if (this.batchSize >= (this.options.batchBytes ?? 64 * 1024) || this.now() - this.batchStart >= (this.options.batchMs ?? 100)) this.flush();
  }

  private seconds(): number {
    return Math.round(this.now() - this.started) / 1000;
  }

  private append(type: string, data: Record<string, unknown>): number | undefined {
    return this.options.recorder.append(this.options.sessionId, type, { channel: this.options.channel, ...data });
  }
}
