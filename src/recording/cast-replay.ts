/**
 * Turns a session's terminal events (asciicast.ts) into an asciicast v2 file: a header line (JSON object with
 * version 2, width, height, timestamp, env) then one `[time, code, data]` JSON array per line, times in seconds
 * and never decreasing. `asciinema play` accepts it. From a time offset, the file starts from the nearest keyframe
 * at or before it: the keyframe's screen is the first output (at time 0), events between the keyframe and the offset
 * are played at time 0 too (output and resizes in order; input there is dropped), and later events are shifted by
 * the offset. Seeking reads the index event at the end of the session and then only the events after the keyframe
 * (loadCastEvents); without an index (a live or crashed session) everything is read.
 * Reads recordings only; never writes. The cast holds what the recording holds: masked output, echoed input.
 */
import { WardenError } from '../errors.js';
import type { SessionEventRecord, SessionRepository } from '../store/types.js';
import type { CastEvent } from './asciicast.js';

/** Options of a cast. */
export interface CastOptions {
  /** Start at this many seconds into the recording. */
  from?: number;
  /** The PTY channel (default: the session's first terminal). */
  channel?: string;
}

interface Start {
  width: number;
  height: number;
  timestamp: number;
  env: Record<string, string>;
}

interface Keyframe {
  time: number;
  width: number;
  height: number;
  afterBatch: number;
  screen: string;
}

const round = (t: number) => Math.round(t * 1e6) / 1e6;

/** The asciicast v2 text of one terminal in `events` (see the module comment). */
export function buildCast(events: readonly SessionEventRecord[], options: CastOptions = {}): string {
  const startEvent = events.find((e) => e.type === 'terminal.start' && (options.channel === undefined || e.data.channel === options.channel));
  if (!startEvent) throw new WardenError('WARDEN_ERR_NOT_FOUND', 'this session has no terminal recording');
  const channel = startEvent.data.channel;
  const mine = events.filter((e) => e.data.channel === channel);
  const start = startEvent.data as unknown as Start;
  const from = Math.max(0, options.from ?? 0);
  const keyframe = from > 0 ? nearestKeyframe(mine, from) : undefined;
  const afterBatch = keyframe?.afterBatch ?? 0;
  const timed: CastEvent[] = [];
  for (const e of mine) {
    if (e.type !== 'terminal.events' || (e.data.batch as number) <= afterBatch) continue;
    timed.push(...(e.data.events as CastEvent[]));
  }
  // Input withheld until its echo was seen is recorded late: order by time (stable: same-time events keep order).
  timed.sort((a, b) => a[0] - b[0]);
  const header = { version: 2, width: keyframe?.width ?? start.width, height: keyframe?.height ?? start.height,
    timestamp: start.timestamp + Math.floor(from), env: start.env };
  const lines = [JSON.stringify(header)];
  let lead = keyframe?.screen ?? '';
  const flushLead = () => {
    if (lead.length > 0) lines.push(JSON.stringify([0, 'o', lead]));
    lead = '';
  };
  for (const [t, code, data] of timed) {
    if (t < from) {
      if (code === 'o') lead += data;
      else if (code === 'r') {
        flushLead();
        lines.push(JSON.stringify([0, 'r', data]));
      }
      continue;
    }
    flushLead();
    lines.push(JSON.stringify([round(t - from), code, data]));
  }
  flushLead();
  return `${lines.join('\n')}\n`;
}

function nearestKeyframe(events: readonly SessionEventRecord[], from: number): Keyframe | undefined {
  let best: Keyframe | undefined;
  for (const e of events) {
    if (e.type !== 'terminal.keyframe') continue;
    const k = e.data as unknown as Keyframe;
    if (k.time <= from && (best === undefined || k.time > best.time)) best = k;
  }
  return best;
}

/** Events read from the end at first when looking for the index (doubling each time, up to MAX_TAIL). */
const TAIL = 16;
const MAX_TAIL = 1024;

/**
 * The events a cast needs: with `from`, the session's start event, the nearest keyframe and what follows it, found
 * through the index written at the end; otherwise (or without an index) all of them.
 */
export async function loadCastEvents(
  sessions: Pick<SessionRepository, 'events' | 'eventsRange' | 'lastSeq'>, sessionId: string, options: CastOptions = {},
): Promise<SessionEventRecord[]> {
  if (!options.from || options.from <= 0) return sessions.events(sessionId);
  const found = await findIndex(sessions, sessionId, options.channel);
  const index = found?.index;
  if (!found || !index || typeof index.data.startSeq !== 'number') return sessions.events(sessionId);
  const startSeq = index.data.startSeq;
  const keyframes = (index.data.keyframes as Array<[number, number, number]>).filter(([time]) => time <= options.from!);
  if (keyframes.length === 0) return sessions.events(sessionId);
  const [, , fromSeq] = keyframes[keyframes.length - 1];
  // What the search for the index read already is not read again.
  const [start, middle] = await Promise.all([sessions.eventsRange(sessionId, startSeq, startSeq),
    fromSeq < found.tailFrom ? sessions.eventsRange(sessionId, fromSeq, found.tailFrom - 1) : Promise.resolve([])]);
  return [...start, ...middle, ...found.tail.filter((e) => e.seq >= fromSeq && e.seq !== startSeq)];
}

/** The last index event of the channel, looked for backwards from the end in growing steps; undefined if absent. */
async function findIndex(sessions: Pick<SessionRepository, 'eventsRange' | 'lastSeq'>, sessionId: string, channel: string | undefined) {
  const last = await sessions.lastSeq(sessionId);
  let tail: SessionEventRecord[] = [];
  let upTo = last;
  for (let size = TAIL; upTo >= 1 && size <= MAX_TAIL; size *= 2) {
    const from = Math.max(1, upTo - size + 1);
    tail = [...(await sessions.eventsRange(sessionId, from, upTo)), ...tail];
    const index = [...tail].reverse().find((e) => e.type === 'terminal.index' && (channel === undefined || e.data.channel === channel));
    if (index) return { index, tail, tailFrom: from };
    upTo = from - 1;
  }
  return undefined;
}

/** Parses an asciicast v2 text (for tests and checks): the header and the events; throws on anything off-format. */
export function parseCast(text: string): { header: Record<string, unknown>; events: CastEvent[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const header = JSON.parse(lines[0]) as Record<string, unknown>;
  if (header.version !== 2 || !Number.isInteger(header.width) || !Number.isInteger(header.height)) throw new Error('bad asciicast v2 header');
  let last = 0;
  const events = lines.slice(1).map((line, i) => {
    const e = JSON.parse(line) as unknown;
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'number' || !['o', 'i', 'r', 'm'].includes(e[1] as string)
      || typeof e[2] !== 'string') throw new Error(`bad asciicast v2 event on line ${i + 2}`);
    if (e[0] < last) throw new Error(`time goes back on line ${i + 2}`);
    if (e[1] === 'r' && !/^\d+x\d+$/.test(e[2] as string)) throw new Error(`bad resize on line ${i + 2}`);
    last = e[0] as number;
    return e as CastEvent;
  });
  return { header, events };
}
