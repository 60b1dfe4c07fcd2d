/**
 * The process-level guard: what happens to an error no session's failure path caught. Node's default is to end the
 * process, which for a gateway means every caller's session drops and new callers are refused until a supervisor
 * restarts it: one caller's malformed frame reaching a forgotten promise would stop Warden for everyone.
 *
 * Reasoning, per kind:
 * - An unhandled rejection is a promise nobody awaited. Its continuation already ran to the point of failure; the
 *   state it leaves is that of a function that threw, which the code around it has to survive anyway (sockets
 *   close, timers fire). It is logged as an error with its stack and contained.
 * - An uncaught exception was thrown from an event callback (a socket's `data`, a timer). Node warns the process
 *   may be in an undefined state after one; in Warden those callbacks each serve one connection, so the damage is
 *   usually one session. It is logged at fatal level and contained too, but a burst of them (STORM_LIMIT within
 *   STORM_WINDOW_MS) means something systemic is broken: then the guard asks the server to stop gracefully (ending
 *   sessions with a reason and flushing recordings) and exits non-zero, so a supervisor restarts a clean process.
 * Both are bugs to fix where they arise (the data path wires every continuation to its session's failure path and
 * CI lints for floating promises); this guard is the last line, not the error handling.
 */
import type { Logger } from 'pino';

/** Uncaught exceptions within STORM_WINDOW_MS that make the guard stop the process. */
export const STORM_LIMIT = 20;
/** The window of STORM_LIMIT (ms). */
export const STORM_WINDOW_MS = 60_000;

/** An installed guard. */
export interface ProcessGuard {
  /** Removes the handlers (the server stopped). */
  uninstall(): void;
}

/**
 * Installs `unhandledRejection` and `uncaughtException` handlers that log and contain. `onStorm` is called once
 * when uncaught exceptions come too fast to trust the process; it should stop the server and exit.
 */
export function installProcessGuard(logger: Logger, onStorm: () => void): ProcessGuard {
  const recent: number[] = [];
  let stormed = false;
  const onRejection = (reason: unknown): void => {
    logger.error({ err: reason }, 'unhandled promise rejection contained; this is a bug, please report it');
  };
  const onException = (err: Error, origin: string): void => {
    logger.fatal({ err, origin }, 'uncaught exception contained; this is a bug, please report it');
    const now = Date.now();
    recent.push(now);
    while (recent.length > 0 && now - recent[0] > STORM_WINDOW_MS) recent.shift();
    if (recent.length >= STORM_LIMIT && !stormed) {
      stormed = true;
      logger.fatal({ exceptions: recent.length, windowMs: STORM_WINDOW_MS }, 'too many uncaught exceptions: stopping');
      onStorm();
    }
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    uninstall() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
