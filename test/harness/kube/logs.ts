/**
 * `pods/NAME/log`: a container's log is `log line N of POD/CONTAINER` for N = 1..initialLines (or what the test set
 * with `setLogs`); `follow=true` then writes one more numbered line every `intervalMs` until the client goes away.
 * Supports `container` (required when the pod has several), `tailLines`, `timestamps` and `limitBytes`; `previous`
 * answers 400 as for a container that never restarted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest } from './status.js';
import type { Obj } from './store.js';

/** One log request in flight or finished, so tests can see a follow end when its client goes away. */
export interface LogStream {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  /** Lines written so far. */
  linesSent: number;
  closed: boolean;
}

/** Picks the container a log or exec request means (400 as the real server words it when it cannot). */
export function chooseContainer(pod: Obj, requested: string | null): string {
  const name = String((pod.metadata as Obj).name);
  const containers = (((pod.spec as Obj | undefined)?.containers ?? []) as Obj[]).map((c) => String(c.name));
  if (requested) {
    if (!containers.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${name}`);
    return requested;
  }
  if (containers.length === 1) return containers[0];
  throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
}

/** Options of serveLog. */
export interface LogOptions {
  lines: string[];
  intervalMs: number;
  stream: LogStream;
}

/** Writes the log (and, with follow, keeps writing) to `res`. */
export function serveLog(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, options: LogOptions): void {
  const { stream } = options;
  if (query.get('previous') === 'true') {
    throw badRequest(`previous terminated container "${stream.container}" in pod "${stream.pod}" not found`);
  }
  const tail = query.get('tailLines');
  const timestamps = query.get('timestamps') === 'true';
  let budget = query.get('limitBytes') ? Number(query.get('limitBytes')) : Infinity;
  let lines = options.lines;
  if (tail !== null) lines = Number(tail) <= 0 ? [] : lines.slice(-Number(tail));
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  const write = (line: string): void => {
    let text = `${timestamps ? `${new Date().toISOString()} ` : ''}${line}\n`;
    if (text.length > budget) text = text.slice(0, budget);
    budget -= text.length;
    stream.linesSent++;
    res.write(text);
  };
  for (const line of lines) write(line);
  if (!stream.follow || budget <= 0) {
    stream.closed = true;
    res.end();
    return;
  }
  let n = options.lines.length;
  const timer = setInterval(() => {
    write(`log line ${++n} of ${stream.pod}/${stream.container}`);
    if (budget <= 0) finish();
  }, options.intervalMs);
  const finish = (): void => {
    clearInterval(timer);
    stream.closed = true;
    if (!res.writableEnded) res.end();
  };
  req.on('close', finish);
  res.on('close', finish);
}
