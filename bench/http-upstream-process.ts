/**
 * The test HTTP upstream in a process of its own for bench/http.ts (plain HTTP, no credential), so the load
 * generator and the server it loads never share an event loop. Prints its URL as one line, serves until stdin ends
 * or it gets SIGTERM.
 */
import { startHttpUpstream } from '../test/harness/http-upstream.js';

const upstream = await startHttpUpstream({ tls: false });
// Nothing keeps the requests: a benchmark sends hundreds of thousands.
setInterval(() => { upstream.received.length = 0; }, 1000).unref();
process.stdout.write(`${upstream.url}\n`);
const stop = (): void => { upstream.close().then(() => process.exit(0), () => process.exit(1)); };
process.once('SIGTERM', stop);
process.stdin.on('end', stop).resume();
