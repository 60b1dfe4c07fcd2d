/**
 * Write coalescing for the two sockets of one SSH connection (caller and target). ssh2 writes every SSH packet to its
 * socket on its own, so a 255 KiB SFTP packet relayed to the other side costs eight 32 KiB write syscalls, each of
 * which also wakes the reader on the other end. While either socket's input is being handled, both sockets are corked;
 * they are uncorked once the event loop has run everything that input caused (setImmediate, the same loop turn), so
 * Node flushes each socket's packets with one writev. Nothing is reordered or held past the current loop turn, and
 * ssh2's flow control (channel windows) is untouched. It never looks at the bytes.
 */
import type { Duplex } from 'node:stream';

/** Corks both sockets whenever one of them delivers data; returns the function that stops doing so. */
export function coalesceWrites(a: Duplex, b: Duplex): () => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    a.uncork();
    b.uncork();
  };
  const cork = (): void => {
    if (corked) return;
    corked = true;
    a.cork();
    b.cork();
    setImmediate(uncork);
  };
  // Prepended: the cork must be in place before ssh2's own 'data' listener parses the input and writes.
  a.prependListener('data', cork);
  b.prependListener('data', cork);
  return () => {
    a.off('data', cork);
    b.off('data', cork);
  };
}
