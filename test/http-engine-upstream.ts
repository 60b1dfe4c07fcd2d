/**
 * A small plain-HTTP upstream for the HTTP engine's e2e tests (until the shared harness, test/harness/http-upstream.ts,
 * is merged): it checks the injected credential, echoes what it received, streams SSE, hangs, resets and echoes the
 * credential back in a redirect, an error page and a challenge. Records every request it received.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the upstream received. */
export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A running test upstream. */
export interface TestUpstream {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** Starts the upstream; `credentialOk(req)` says whether the injected credential is right. */
export async function startTestUpstream(secret: string, credentialOk: (req: http.IncomingMessage, url: URL) => boolean): Promise<TestUpstream> {
  const received: Received[] = [];
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://upstream');
      if (url.pathname === '/reset') return req.socket.destroy();
      if (url.pathname === '/hang') return;
      if (url.pathname === '/www-auth') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="x", error="${secret}"` });
        return res.end('no');
      }
      if (!credentialOk(req, url)) {
        res.writeHead(401, { 'content-type': 'text/plain' });
        return res.end('missing credential');
      }
      if (url.pathname === '/redirect-secret') {
        res.writeHead(302, { location: `https://elsewhere.example/?token=${encodeURIComponent(secret)}&raw=${secret}` });
        return res.end();
      }
      if (url.pathname === '/error-secret') {
        // Written in small pieces so the secret straddles chunk boundaries.
        res.writeHead(500, { 'content-type': 'text/plain', 'x-debug': `used ${secret}` });
        const text = `upstream failed while using ${secret} (again: ${secret}) end`;
        let at = 0;
        const step = () => {
          if (at >= text.length) return res.end();
          res.write(text.slice(at, at + 3));
          at += 3;
          setImmediate(step);
        };
        return step();
      }
      if (url.pathname === '/sse') {
        open.add(res);
        res.on('close', () => open.delete(res));
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let n = 0;
        const tick = () => {
          if (res.destroyed) return;
          res.write(`data: {"n":${n++}}\n\n`);
          setTimeout(tick, 100);
        };
        return tick();
      }
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'upstream_session=abc; Path=/', connection: 'close, x-hop', 'x-hop': '1' });
      res.end(JSON.stringify({ method: req.method, path: url.pathname, query: url.search, headers: req.headers, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
