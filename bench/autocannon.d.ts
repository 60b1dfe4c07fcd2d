/**
 * The little of `autocannon` (which ships no types) that bench/http.ts uses: run one load with a promise and read
 * requests per second and latency percentiles (ms) from its result.
 */
declare module 'autocannon' {
  /** Options of one run. */
  export interface Options {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    headers?: Record<string, string>;
    method?: string;
    pipelining?: number;
  }
  /** A distribution as autocannon reports it (latency in ms, requests per second sampled each second). */
  export interface Histogram {
    average: number; mean: number; stddev: number; min: number; max: number;
    p50: number; p90: number; p99: number; total?: number;
  }
  /** The result of a run. */
  export interface Result {
    requests: Histogram;
    latency: Histogram;
    throughput: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }
  /** Runs the load; resolves with the result when no callback is given. */
  export default function autocannon(options: Options): Promise<Result>;
}
