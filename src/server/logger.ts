/**
 * The process logger (pino, JSON lines on stderr so stdout stays free for what a command prints). Secrets are
 * redacted by key wherever they could appear; nothing should log them in the first place, this is the second guard.
 */
import { pino, type Logger } from 'pino';

/** Keys whose values never reach a log line, wherever they sit in a logged object. */
export const REDACTED_PATHS = [
  'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'passwordEnc', '*.passwordEnc',
  'req.headers.authorization', 'headers.authorization', 'authorization',
];

/** Creates the process logger at the given level. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'warden' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    pino.destination({ fd: 2, sync: false }));
}
