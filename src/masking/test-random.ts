/**
 * Seeded randomness for the masking fuzz tests: a small deterministic PRNG (mulberry32), so a failing case can be
 * reproduced from its seed. Test support only; nothing on the data path imports it.
 */

/** A generator of floats in [0, 1) from `seed`. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
