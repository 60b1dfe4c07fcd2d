/**
 * A small checker of HAR 1.2 documents written from the spec (http://www.softwareishard.com/blog/har-12-spec/):
 * every required field of log, creator, entries, request, response, content, cache and timings, with its type, and
 * absolute request URLs. For the HAR export's tests (unit and end to end).
 */

type Json = Record<string, unknown>;

/** Every violation of HAR 1.2's required fields and types in `doc` (empty when it conforms). */
export function harViolations(doc: unknown): string[] {
  const errors: string[] = [];
  const obj = (v: unknown, at: string): v is Json => (v !== null && typeof v === 'object' && !Array.isArray(v)) || (errors.push(`${at}: not an object`), false);
  const need = (o: Json, at: string, key: string, type: 'string' | 'number' | 'object' | 'array'): boolean => {
    const v = o[key];
    const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v) : typeof v === type;
    if (!ok) errors.push(`${at}.${key}: missing or not ${type}`);
    return ok;
  };
  const pairs = (o: Json, at: string, key: string): void => {
    if (!need(o, at, key, 'array')) return;
    (o[key] as unknown[]).forEach((p, i) => {
      if (obj(p, `${at}.${key}[${i}]`)) { need(p, `${at}.${key}[${i}]`, 'name', 'string'); need(p, `${at}.${key}[${i}]`, 'value', 'string'); }
    });
  };
  if (!obj(doc, 'doc') || !need(doc, 'doc', 'log', 'object')) return errors;
  const log = doc.log as Json;
  if (log.version !== '1.2') errors.push('log.version: not "1.2"');
  if (need(log, 'log', 'creator', 'object')) { need(log.creator as Json, 'log.creator', 'name', 'string'); need(log.creator as Json, 'log.creator', 'version', 'string'); }
  if (!need(log, 'log', 'entries', 'array')) return errors;
  (log.entries as unknown[]).forEach((e, i) => {
    const at = `log.entries[${i}]`;
    if (!obj(e, at)) return;
    if (need(e, at, 'startedDateTime', 'string') && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(e.startedDateTime as string)) {
      errors.push(`${at}.startedDateTime: not ISO 8601`);
    }
    need(e, at, 'time', 'number');
    if (need(e, at, 'request', 'object')) {
      const r = e.request as Json;
      for (const k of ['method', 'url', 'httpVersion'] as const) need(r, `${at}.request`, k, 'string');
      for (const k of ['cookies', 'headers', 'queryString'] as const) pairs(r, `${at}.request`, k);
      for (const k of ['headersSize', 'bodySize'] as const) need(r, `${at}.request`, k, 'number');
      if (typeof r.url === 'string' && !URL.canParse(r.url)) errors.push(`${at}.request.url: not absolute`);
      if (r.postData !== undefined && obj(r.postData, `${at}.request.postData`)) need(r.postData, `${at}.request.postData`, 'mimeType', 'string');
    }
    if (need(e, at, 'response', 'object')) {
      const r = e.response as Json;
      need(r, `${at}.response`, 'status', 'number');
      for (const k of ['statusText', 'httpVersion', 'redirectURL'] as const) need(r, `${at}.response`, k, 'string');
      for (const k of ['cookies', 'headers'] as const) pairs(r, `${at}.response`, k);
      for (const k of ['headersSize', 'bodySize'] as const) need(r, `${at}.response`, k, 'number');
      if (need(r, `${at}.response`, 'content', 'object')) {
        need(r.content as Json, `${at}.response.content`, 'size', 'number');
        need(r.content as Json, `${at}.response.content`, 'mimeType', 'string');
      }
    }
    need(e, at, 'cache', 'object');
    if (need(e, at, 'timings', 'object')) {
      for (const k of ['send', 'wait', 'receive'] as const) {
        const v = (e.timings as Json)[k];
        if (typeof v !== 'number' || v < -1) errors.push(`${at}.timings.${k}: missing or not a number >= -1`);
      }
    }
  });
  return errors;
}
