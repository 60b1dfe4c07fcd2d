/**
 * CPU time of whole process trees while something runs, read from /proc (Linux only): every process below each root
 * pid (scp and the ssh it starts, an sshd and the session processes it forks, Warden) is sampled every few
 * milliseconds and its last utime+stime kept, so the CPU of processes that start and exit during the measurement is
 * counted too. A process that exits loses at most its last sampling interval. Used by bench/ssh.ts to say where the
 * CPU of a transfer goes on a machine whose cores all the parties share.
 */
import fs from 'node:fs/promises';
import os from 'node:os';

const TICK_MS = 1000 / 100; // USER_HZ is 100 on every Linux Node.js runs on
const INTERVAL_MS = 20;

interface Stat { pid: number; ppid: number; ticks: number }

/** utime+stime (fields 14 and 15) and the parent of one process; undefined when it is gone. */
async function readStat(pid: number): Promise<Stat | undefined> {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its closing parenthesis.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

async function allStats(): Promise<Stat[]> {
  const pids = (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  return (await Promise.all(pids.map(readStat))).filter((s): s is Stat => s !== undefined);
}

/** Samples the trees under named root pids until `stop()`; reports CPU seconds per name. */
export class TreeCpu {
  private readonly seen = new Map<number, { group: string; first: number; last: number }>();
  private readonly roots: Map<number, string>;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private wallStart = 0;
  private machineStart = 0;

  /** `roots`: group name by root pid; processes present at the start count only what they use afterwards. */
  constructor(roots: Record<string, number | undefined>) {
    this.roots = new Map(Object.entries(roots).filter((e): e is [string, number] => e[1] !== undefined).map(([g, p]) => [p, g]));
  }

  /** Takes the first sample and starts sampling. */
  async start(): Promise<void> {
    this.wallStart = Date.now();
    this.machineStart = machineBusyMs();
    await this.sample();
    this.timer = setInterval(() => { this.sampling = this.sampling.then(() => this.sample()); }, INTERVAL_MS);
  }

  /** A new root (a client started after start()). */
  add(group: string, pid: number | undefined): void {
    if (pid !== undefined) this.roots.set(pid, group);
  }

  /** Stops; returns CPU seconds by group, and the whole machine's busy CPU seconds over the same wall time. */
  async stop(): Promise<{ cpu: Record<string, number>; machine: number; wall: number }> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const cpu: Record<string, number> = {};
    for (const g of this.roots.values()) cpu[g] = 0;
    for (const s of this.seen.values()) cpu[s.group] += ((s.last - s.first) * TICK_MS) / 1000;
    return { cpu, machine: (machineBusyMs() - this.machineStart) / 1000, wall: (Date.now() - this.wallStart) / 1000 };
  }

  private async sample(): Promise<void> {
    const stats = await allStats();
    const byPid = new Map(stats.map((s) => [s.pid, s]));
    for (const s of stats) {
      const group = this.groupOf(s, byPid);
      if (group === undefined) continue;
      const known = this.seen.get(s.pid);
      // A process first seen after the start began at 0 ticks; one present at the start counts from its sample.
      if (known) known.last = s.ticks;
      else this.seen.set(s.pid, { group, first: this.wallStart === 0 || this.timer === undefined ? s.ticks : 0, last: s.ticks });
    }
  }

  private groupOf(s: Stat, byPid: Map<number, Stat>): string | undefined {
    for (let cur: Stat | undefined = s, depth = 0; cur !== undefined && depth < 16; cur = byPid.get(cur.ppid), depth++) {
      const group = this.roots.get(cur.pid);
      if (group !== undefined) return group;
    }
    return undefined;
  }
}

/** Busy milliseconds of all CPUs since boot (everything but idle and iowait), from os.cpus(). */
function machineBusyMs(): number {
  return os.cpus().reduce((sum, c) => sum + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
}
