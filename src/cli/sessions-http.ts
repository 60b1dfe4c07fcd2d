/**
 * The HTTP lines of `warden sessions show`: one line per recorded exchange (`http.exchange`: method, path and query,
 * status, duration, bytes up and down, masked values) and short ones for WebSocket messages and closes. Returns the
 * detail parts only; format.ts's eventLine puts the offset and type before them and escapes control characters.
 */
import type { HttpExchangeRecord, HttpWsCloseRecord, HttpWsMessageRecord } from '../protocols/http/exchange-record.js';

/** `512B`, `1.5KiB`, `3.2MiB`. */
export function byteSize(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)}MiB`;
}

/** How many values masking replaced, summed over rules and detectors. */
function maskedCount(masked: Record<string, number> | undefined): number {
  return Object.values(masked ?? {}).reduce((sum, n) => sum + n, 0);
}

function exchangeDetails(x: HttpExchangeRecord): string[] {
  const parts = [`${x.method} ${x.path}${x.query ? `?${x.query}` : ''}`, `${x.status}`, `${x.durationMs.toFixed(x.durationMs < 10 ? 2 : 0)}ms`,
    `up=${byteSize(x.requestBytes)}`, `down=${byteSize(x.responseBytes)}`];
  const masked = maskedCount(x.masked);
  if (masked > 0) parts.push(`masked=${masked}`);
  if (x.websocket) parts.push('websocket');
  if (x.error) parts.push(`error="${x.error}"`);
  return parts;
}

function messageDetails(m: HttpWsMessageRecord): string[] {
  const arrow = m.direction === 'client' ? 'client->server' : 'server->client';
  const text = m.binary ? 'binary' : JSON.stringify((m.text ?? '').slice(0, 80)) + (m.truncated || (m.text ?? '').length > 80 ? '...' : '');
  return [arrow, byteSize(m.bytes), text];
}

/** The details of an `http.*` event, or undefined for any other type (or a malformed one). */
export function httpEventDetails(type: string, data: Record<string, unknown>): string[] | undefined {
  if (type === 'http.exchange' && typeof data.method === 'string' && typeof data.status === 'number') {
    return exchangeDetails(data as unknown as HttpExchangeRecord);
  }
  if (type === 'http.ws.message' && typeof data.bytes === 'number') return messageDetails(data as unknown as HttpWsMessageRecord);
  if (type === 'http.ws.close' && typeof data.code === 'number') {
    const c = data as unknown as HttpWsCloseRecord;
    return [`close ${c.code}${c.reason ? ` "${c.reason}"` : ''}`];
  }
  return undefined;
}
