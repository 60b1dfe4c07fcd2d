/**
 * The data directory's lock: one `warden start` per data directory. Two servers on one directory would share the
 * SQLite store, the keys and `ports.json` (the second overwriting the first's ports with ports that later point
 * nowhere), so a second start must refuse. The lock is a pid file created atomically (hard link); a lock left behind
 * by a process that died (SIGKILL, power loss) is taken over once its pid is gone or belongs to a process started
 * later (a reused pid), so a crash never leaves the directory stuck. Two starts racing to take over the same stale
 * lock are not fully excluded (both may remove it); that needs a crash and two simultaneous starts. This module only manages that file; it never opens the store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WardenError } from '../errors.js';

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'warden.lock';

/** A held data-directory lock. */
export interface DataDirLock {
  /** Removes the lock file if it is still ours. Idempotent and synchronous, so it can run in an 'exit' handler. */
  release(): void;
}

/** Lock files this process holds: a pid equal to ours is live only when it is one of these. */
const heldHere = new Set<string>();

/** What the lock file holds: who owns the directory since when. */
interface LockContent {
  pid: number;
  startedAt: string;
  /** The holder's start time in clock ticks (Linux), to tell a reused pid from the holder. */
  startTicks?: string | null;
}

function readLock(file: string): LockContent | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockContent>;
    return Number.isInteger(parsed.pid) && (parsed.pid as number) > 0 ? (parsed as LockContent) : null;
  } catch {
    return null; // missing or not ours (never half-written: see tryCreate): treated as stale below
  }
}

/** A process's start time in clock ticks since boot (Linux `/proc/PID/stat` field 22); null where unknown. */
function startTicks(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * True when the lock's holder still runs. `kill(pid, 0)` tests existence (EPERM: it exists but belongs to someone
 * else); where the start time is known, a pid the kernel gave to another process since is told apart by it.
 */
function holderAlive(holder: LockContent, file: string): boolean {
  if (holder.pid === process.pid) return heldHere.has(file);
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTicks(holder.pid);
  return holder.startTicks == null || now === null || now === holder.startTicks;
}

/** Creates the lock file with its whole content at once: written aside, then hard-linked into place (fails if taken). */
function tryCreate(file: string, content: LockContent): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(content)}\n`, { mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Takes the data directory's lock or throws WARDEN_ERR_DATA_DIR_LOCKED naming the Warden that holds it. A stale lock (its
 * pid gone, or its content unreadable) is replaced once; a second failure means another start won the race.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const mine: LockContent = { pid: process.pid, startedAt: new Date().toISOString(), startTicks: startTicks(process.pid) };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(file, mine)) {
      heldHere.add(file);
      return ownedLock(file, mine);
    }
    const holder = readLock(file);
    if (holder !== null && holderAlive(holder, file)) {
      throw new WardenError('WARDEN_ERR_DATA_DIR_LOCKED', `data dir ${dataDir} is in use by another Warden (pid ${holder.pid}, ` +
        `started ${holder.startedAt}): stop it first, or give this one its own --data-dir`);
    }
    fs.rmSync(file, { force: true }); // its owner is gone: a crash must not keep the directory locked
  }
  throw new WardenError('WARDEN_ERR_DATA_DIR_LOCKED', `data dir ${dataDir} is being locked by another Warden starting at the same time`);
}

function ownedLock(file: string, mine: LockContent): DataDirLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    heldHere.delete(file);
    process.off('exit', release);
    const current = readLock(file);
    if (current?.pid === mine.pid && current.startedAt === mine.startedAt) fs.rmSync(file, { force: true });
  };
  process.on('exit', release); // an uncaught error still frees the directory
  return { release };
}
