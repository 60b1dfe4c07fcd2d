/**
 * Streams through Warden must flow as the upstream sends them: a server-sent event or a chunk of a long-lived response
 * is passed on when it arrives, not when the next one comes. A stage that searches the stream for fixed byte strings
 * across chunk boundaries (the credential scrubber, secret-scrub.ts) must therefore hold back only the bytes that
 * could still begin a match, never a fixed-size tail: holding the last `longest - 1` bytes would keep the end of
 * every event (its blank line) until the next event arrives. Pure.
 */

/**
 * How many bytes at the end of `data` to hold back: the longest suffix of `data` that is a proper prefix of one of
 * `needles` (0 when none is, which is almost always). Every occurrence of a needle that starts before the held part
 * lies wholly inside `data`, so a search of `data` has already found it; the held part is searched again with the
 * next chunk.
 */
export function heldBackLength(data: Buffer, needles: readonly Buffer[]): number {
  let held = 0;
  for (const needle of needles) {
    for (let k = Math.min(needle.length - 1, data.length); k > held; k--) {
      const at = data.length - k;
      // The first byte rules out nearly every candidate before the comparison.
      if (data[at] === needle[0] && data.subarray(at).equals(needle.subarray(0, k))) {
        held = k;
        break;
      }
    }
  }
  return held;
}
