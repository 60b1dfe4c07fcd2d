/**
 * Streaming masking of server-sent events (text/event-stream): each event is held until its blank line, masked, and
 * emitted at once (events are never delayed behind later ones). An event's data (its `data:` lines joined by
 * newlines) is masked as JSON (field selectors and detectors) when it is valid JSON, else as text (detectors and
 * patterns); every other line (`id:`, `event:`, comments) is scanned as text. An event that changed is rewritten
 * with its data lines at the place of the first; an unchanged one passes as it came. An event larger than
 * MAX_EVENT_CHARS errors the stream (fail closed). Line ends: CRLF, LF or CR, as the SSE format allows.
 */
import { StringDecoder } from 'node:string_decoder';
import { maskCounted, type HttpMaskSpec } from './json-spec.js';
import { JsonMaskError, maskJsonText } from './json-stream.js';
import type { ChunkMasker } from './masking-transform.js';

/** Largest event held to mask (characters). */
export const MAX_EVENT_CHARS = 16 * 1024 * 1024;

interface Line {
  text: string;
  eol: string;
}

/** A ChunkMasker for one text/event-stream body. */
export class SseMasker implements ChunkMasker {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private lines: Line[] = [];
  private held = 0;
  private readonly counts: Record<string, number> = {};

  constructor(private readonly spec: HttpMaskSpec, private readonly hashKey: Buffer) {}

  push(chunk: Buffer): Buffer {
    this.pending += this.decoder.write(chunk);
    return this.drain(false);
  }

  end(): Buffer {
    this.pending += this.decoder.end();
    return this.drain(true);
  }

  hits(): Record<string, number> {
    return { ...this.counts };
  }

  private drain(final: boolean): Buffer {
    let out = '';
    let pos = 0;
    const text = this.pending;
    for (;;) {
      let eol = pos;
      while (eol < text.length && text.charCodeAt(eol) !== 10 && text.charCodeAt(eol) !== 13) eol++;
      if (eol === text.length) break;
      // A CR at the very end may be the first half of a CRLF: wait for the next byte (unless the body ended).
      if (text.charCodeAt(eol) === 13 && eol + 1 === text.length && !final) break;
      const width = text.charCodeAt(eol) === 13 && text.charCodeAt(eol + 1) === 10 ? 2 : 1;
      const line = { text: text.slice(pos, eol), eol: text.slice(eol, eol + width) };
      pos = eol + width;
      this.lines.push(line);
      if (line.text.length === 0) out += this.event();
    }
    this.pending = text.slice(pos);
    if (final) {
      if (this.pending.length > 0) this.lines.push({ text: this.pending, eol: '' });
      this.pending = '';
      if (this.lines.length > 0) out += this.event();
    } else {
      this.held = this.pending.length + this.lines.reduce((n, l) => n + l.text.length + l.eol.length, 0);
      if (this.held > MAX_EVENT_CHARS) throw new JsonMaskError(`a server-sent event longer than ${MAX_EVENT_CHARS} characters must be masked`);
    }
    return out.length === 0 ? Buffer.alloc(0) : Buffer.from(out, 'utf8');
  }

  /** The held lines as one event, masked; clears them. */
  private event(): string {
    const lines = this.lines;
    this.lines = [];
    const data: string[] = [];
    let firstData = -1;
    for (let i = 0; i < lines.length; i++) {
      const field = fieldOf(lines[i].text);
      if (field.name === 'data') {
        if (firstData === -1) firstData = i;
        data.push(field.value);
      }
    }
    let changed = false;
    const rest = lines.map((line, i) => {
      if (i === firstData || (firstData !== -1 && fieldOf(line.text).name === 'data')) return line;
      const masked = this.text(line.text);
      if (masked !== line.text) changed = true;
      return { text: masked, eol: line.eol };
    });
    let dataLines: Line[] = [];
    if (firstData !== -1) {
      const joined = data.join('\n');
      const json = maskJsonText(joined, this.spec, this.hashKey, this.counts);
      // An event whose data is not JSON while a rule masks JSON fields could hold those values: cut the stream.
      if (json === null && this.spec.matcher !== null) throw new Error('an event\'s data is not JSON, and a rule masks JSON fields');
      const masked = json ?? this.text(joined);
      if (masked !== joined) {
        changed = true;
        dataLines = masked.split('\n').map((part) => ({ text: `data: ${part}`, eol: lines[firstData].eol || '\n' }));
      }
    }
    if (!changed) return lines.map((l) => l.text + l.eol).join('');
    let out = '';
    for (let i = 0; i < rest.length; i++) {
      if (i === firstData && dataLines.length > 0) out += dataLines.map((l) => l.text + l.eol).join('');
      else if (firstData !== -1 && dataLines.length > 0 && fieldOf(rest[i].text).name === 'data') continue;
      else out += rest[i].text + rest[i].eol;
    }
    return out;
  }

  private text(value: string): string {
    return this.spec.content === null ? value : maskCounted(value, this.spec.content, this.hashKey, this.counts);
  }
}

/** An SSE line's field name and value (`data: x` -> data, x; a comment `: x` has the name ''). */
function fieldOf(line: string): { name: string; value: string } {
  const colon = line.indexOf(':');
  if (colon === -1) return { name: line, value: '' };
  const value = line.slice(colon + 1);
  return { name: line.slice(0, colon), value: value.startsWith(' ') ? value.slice(1) : value };
}
