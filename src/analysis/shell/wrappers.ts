/**
 * Wrappers: programs that run another command (sudo, env, xargs, timeout, ...), shells given a command string
 * (`sh -c`), and remote shells (`ssh host cmd`). Each rule finds the wrapped command the way the wrapper does and
 * has it judged (recursively, through ctx.classify or ctx.reparse); the wrapper's own classes (privilege for sudo,
 * network for ssh) join every unit it runs. What cannot be seen (a shell reading its script from the caller's input
 * or a pipe, a script file, a command string built at run time) is unknown.
 */
import { has, parseOptions, valueOf, type Ctx, type Draft, type Effect, type Rule } from './context.js';
import { dangerousVariable } from './variables.js';
import { syntheticWord, type Word } from './words.js';

/** Judge `words` as a command line, one level deeper; an empty line is `empty`'s effect. */
function run(words: Word[], ctx: Ctx): Draft[] {
  const text = words.map((w) => w.raw).join(' ');
  return ctx.classify(words, { ...ctx, depth: ctx.depth + 1 }, text);
}

/** Judge `text` as shell source, one level deeper. */
function reparse(text: string, ctx: Ctx): Draft[] {
  return ctx.reparse(text, { ...ctx, depth: ctx.depth + 1 });
}

/** The values of `words` joined by spaces (how ssh and watch build a command string), or null if one is unknown. */
function joined(words: Word[]): string | null {
  if (words.some((w) => w.value === null)) return null;
  return words.map((w) => w.value).join(' ');
}

/** A wrapper whose command starts after its options (valued ones listed); `alone` is its effect without one. */
function prefix(valued: string[], own: Effect['classes'], alone: Effect = { classes: ['read'] }): Rule {
  return (args, ctx) => {
    const parsed = parseOptions(args, valued, true);
    const rest = args.slice(parsed.firstOperand);
    if (rest.length === 0) return alone;
    return { classes: own, inner: run(rest, ctx) };
  };
}

/** What a shell reading commands from its standard input runs. */
function fromStdin(ctx: Ctx, own: Effect['classes']): Effect {
  const stdin = ctx.stdin;
  if (typeof stdin === 'object' && stdin.text !== null) return { classes: own, inner: reparse(stdin.text, ctx) };
  return { classes: [...own, 'unknown'], reason: 'a shell reading commands Warden cannot see (standard input)' };
}

/** `sh`, `bash`, `zsh`, ...: `-c STRING` is parsed again; a script file or standard input is unknown. */
const shell: Rule = (args, ctx) => {
  const parsed = parseOptions(args, ['-o', '+o', '-O', '+O', '--rcfile', '--init-file']);
  if (has(parsed, '--rcfile', '--init-file')) return { classes: ['unknown'], reason: 'a shell started with an rc file' };
  if (has(parsed, '-c')) {
    const command = parsed.operands[0];
    if (command === undefined || command.value === null)
      return { classes: ['unknown'], reason: 'a shell command string known only when it runs' };
    return { classes: [], inner: reparse(command.value, ctx), consumed: [command] };
  }
  if (parsed.operands.length > 0 && !has(parsed, '-s'))
    return { classes: ['unknown'], reason: 'a shell running a script file' };
  return fromStdin(ctx, []);
};

/** `sudo [options] [VAR=value] cmd`: privilege, and the command (through a shell with -s/-i). */
const sudo: Rule = (args, ctx) => {
  const valued = ['-u', '-g', '-h', '-p', '-C', '-D', '-r', '-t', '-U', '-T', '--user', '--group', '--host',
    '--prompt', '--close-from', '--chdir', '--role', '--type', '--other-user', '--command-timeout'];
  const parsed = parseOptions(args, valued, true);
  let rest = args.slice(parsed.firstOperand);
  const env = leadingAssignments(rest);
  rest = rest.slice(env.count);
  const own: Effect['classes'] = env.dangerous ? ['privilege', 'unknown'] : ['privilege'];
  if (has(parsed, '-e', '--edit')) return { classes: own, writes: rest };
  if (has(parsed, '-s', '--shell', '-i', '--login')) {
    if (rest.length === 0) return fromStdin(ctx, own);
    const text = joined(rest);
    if (text === null) return { classes: [...own, 'unknown'], reason: 'a command string known only when it runs' };
    return { classes: own, inner: reparse(text, ctx) };
  }
  if (rest.length === 0) return { classes: own };
  return { classes: own, inner: run(rest, ctx) };
};

/** `su [options] [user [args]]`, `runuser`: privilege; `-c CMD` parsed again; without it a shell on stdin. */
const su: Rule = (args, ctx) => {
  const parsed = parseOptions(args, ['-c', '--command', '-s', '--shell', '-g', '--group', '-G', '--supp-group',
    '-w', '--whitelist-environment', '-u', '--user', '--session-command']);
  if (has(parsed, '-s', '--shell')) return { classes: ['privilege', 'unknown'], reason: 'su with another shell' };
  if (has(parsed, '-u', '--user') && parsed.operands.length > 0)
    return { classes: ['privilege'], inner: run(parsed.operands, ctx) };
  const command = valueOf(parsed, '-c', '--command', '--session-command');
  if (command) {
    if (command.value === null) return { classes: ['privilege', 'unknown'], reason: 'a command known only when it runs' };
    return { classes: ['privilege'], inner: reparse(command.value, ctx), consumed: [command] };
  }
  if (parsed.operands.length > 1) return { classes: ['privilege', 'unknown'], reason: 'su passing arguments to a shell' };
  return fromStdin(ctx, ['privilege']);
};

/** `env [-i] [-u NAME] [-C DIR] [-S STRING] [NAME=value]... [cmd]`. */
const env: Rule = (args, ctx) => {
  const parsed = parseOptions(args, ['-u', '--unset', '-C', '--chdir', '-S', '--split-string'], true);
  let rest = args.slice(parsed.firstOperand);
  const assigned = leadingAssignments(rest);
  rest = rest.slice(assigned.count);
  const own: Effect['classes'] = assigned.dangerous ? ['unknown'] : [];
  const split = valueOf(parsed, '-S', '--split-string');
  if (split) {
    const text = joined([split, ...rest]);
    if (text === null) return { classes: ['unknown'], reason: 'env -S with a string known only when it runs' };
    return { classes: own, inner: reparse(text, ctx), consumed: [split, ...rest] };
  }
  const dir = valueOf(parsed, '-C', '--chdir');
  const inner = dir ? { ...ctx, scope: { cwd: null } } : ctx;
  if (rest.length === 0) return { classes: own.length ? own : ['read'] };
  return { classes: own, inner: run(rest, inner) };
};

/** Leading `NAME=value` words (env, sudo): how many, and whether one sets a variable that changes what runs. */
function leadingAssignments(words: Word[]): { count: number; dangerous: boolean } {
  let count = 0;
  let dangerous = false;
  for (const word of words) {
    const match = word.value === null ? null : /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(word.value);
    if (!match) break;
    count++;
    if (dangerousVariable(match[1])) dangerous = true;
  }
  return { count, dangerous };
}

/** `xargs [options] [cmd [args]]`: the command runs with operands read from input (unknown words). */
const xargs: Rule = (args, ctx) => {
  const parsed = parseOptions(args, ['-a', '--arg-file', '-d', '--delimiter', '-E', '-I', '-L', '-n', '--max-args',
    '-P', '--max-procs', '-s', '--max-chars', '--process-slot-var', '--replace', '--max-lines'], true);
  let rest = args.slice(parsed.firstOperand);
  if (rest.length === 0) rest = [syntheticWord('echo')];
  const replace = valueOf(parsed, '-I', '--replace')?.value;
  const input = syntheticWord(null);
  const words = replace
    ? rest.map((w, i) => (i > 0 && w.value !== null && w.value.includes(replace) ? input : w))
    : [...rest, input];
  return { classes: [], inner: run(words, ctx) };
};

/** `timeout [options] DURATION cmd`. */
const timeout: Rule = (args, ctx) => {
  const parsed = parseOptions(args, ['-s', '--signal', '-k', '--kill-after'], true);
  const rest = args.slice(parsed.firstOperand + 1);
  return rest.length ? { classes: [], inner: run(rest, ctx) } : { classes: ['read'] };
};

/** `ionice`/`taskset`/`chrt`: with -p they change a running process (write); else they wrap a command. */
function scheduler(valued: string[], skip: number): Rule {
  return (args, ctx) => {
    const parsed = parseOptions(args, valued, true);
    if (has(parsed, '-p', '--pid', '-P', '--pgid', '-u', '--uid', '-a', '--all-tasks')) return { classes: ['write'] };
    const rest = args.slice(parsed.firstOperand + skip);
    return rest.length ? { classes: [], inner: run(rest, ctx) } : { classes: ['read'] };
  };
}

/** `watch [options] cmd...`: the words joined and run by `sh -c` (with -x, run as they are). */
const watch: Rule = (args, ctx) => {
  const parsed = parseOptions(args, ['-n', '--interval', '-q', '--equexit'], true);
  const rest = args.slice(parsed.firstOperand);
  if (rest.length === 0) return { classes: ['read'] };
  if (has(parsed, '-x', '--exec')) return { classes: [], inner: run(rest, ctx) };
  const text = joined(rest);
  if (text === null) return { classes: ['unknown'], reason: 'watch with a command known only when it runs' };
  return { classes: [], inner: reparse(text, ctx), consumed: rest };
};

/** `ssh [options] host [cmd...]`: network, and the command as the remote shell parses it. */
const ssh: Rule = (args, ctx) => {
  const valued = ['-b', '-c', '-D', '-E', '-e', '-F', '-I', '-i', '-J', '-L', '-l', '-m', '-O', '-o', '-p', '-Q',
    '-R', '-S', '-W', '-w', '-B', '-P'];
  const parsed = parseOptions(args, valued, true);
  const risky = riskySshOptions(args);
  if (risky) return { classes: ['network', 'unknown'], reason: risky };
  const rest = args.slice(parsed.firstOperand + 1);
  if (rest.length === 0) {
    if (has(parsed, '-N', '-W')) return { classes: ['network'] };
    return fromStdin(ctx, ['network']);
  }
  const text = joined(rest);
  if (text === null) return { classes: ['network', 'unknown'], reason: 'a remote command known only when it runs' };
  return { classes: ['network'], inner: reparse(text, ctx), consumed: rest };
};

/** ssh, scp and rsync options that run a local command or read a config that can. */
export function riskySshOptions(args: Word[]): string | null {
  for (const [i, word] of args.entries()) {
    const v = word.value;
    if (v === null) continue;
    const option = v === '-o' ? args[i + 1]?.value ?? '' : v.startsWith('-o') ? v.slice(2) : '';
    if (/^\s*(ProxyCommand|LocalCommand|PermitLocalCommand|KnownHostsCommand|Match)\b/i.test(option))
      return `ssh option ${option.split(/[\s=]/)[0]} runs a local command`;
    if (v === '-F' || /^-F./.test(v)) return 'ssh with another configuration file';
  }
  return null;
}

/** Wrapper rules by program name. */
export const WRAPPERS: Record<string, Rule> = {
  sh: shell, bash: shell, zsh: shell, dash: shell, ksh: shell, mksh: shell, ash: shell, yash: shell, fish: shell,
  rbash: shell, sudo, su, runuser: su, env, xargs, timeout, watch, ssh,
  doas: (args, ctx) => {
    const rule = prefix(['-u', '-C'], ['privilege'], { classes: ['privilege'] });
    const parsed = parseOptions(args, ['-u', '-C'], true);
    if (has(parsed, '-s')) return fromStdin(ctx, ['privilege']);
    return rule(args, ctx, 'doas');
  },
  pkexec: prefix(['--user'], ['privilege'], { classes: ['privilege', 'unknown'], reason: 'pkexec runs a shell' }),
  sg: (args, ctx) => {
    const parsed = parseOptions(args, ['-c']);
    const command = valueOf(parsed, '-c') ?? parsed.operands[1];
    if (!command) return fromStdin(ctx, ['privilege']);
    if (command.value === null) return { classes: ['privilege', 'unknown'], reason: 'a command known only when it runs' };
    return { classes: ['privilege'], inner: reparse(command.value, ctx), consumed: [command] };
  },
  nohup: prefix([], []),
  setsid: prefix([], []),
  unbuffer: prefix([], []),
  builtin: prefix([], []),
  coproc: prefix([], []),
  nice: prefix(['-n', '--adjustment'], []),
  stdbuf: prefix(['-i', '-o', '-e', '--input', '--output', '--error'], []),
  ionice: scheduler(['-c', '--class', '-n', '--classdata', '-p', '--pid', '-P', '--pgid', '-u', '--uid'], 0),
  taskset: scheduler([], 1),
  chrt: scheduler(['-T', '-P', '-D'], 1),
  time: (args, ctx) => {
    const parsed = parseOptions(args, ['-f', '--format', '-o', '--output'], true);
    const output = valueOf(parsed, '-o', '--output');
    const rest = args.slice(parsed.firstOperand);
    return { classes: rest.length ? [] : ['read'], writes: output ? [output] : [], inner: rest.length ? run(rest, ctx) : undefined };
  },
  command: (args, ctx) => {
    const parsed = parseOptions(args, [], true);
    if (has(parsed, '-v', '-V')) return { classes: ['read'] };
    const rest = args.slice(parsed.firstOperand);
    return rest.length ? { classes: [], inner: run(rest, ctx) } : { classes: ['read'] };
  },
  exec: prefix(['-a'], []),
  busybox: (args, ctx) => {
    const rest = args[0]?.value?.startsWith('-') ? [] : args;
    return rest.length ? { classes: [], inner: run(rest, ctx) } : { classes: ['read'] };
  },
  chroot: (args, ctx) => {
    const parsed = parseOptions(args, ['--userspec', '--groups'], true);
    const rest = args.slice(parsed.firstOperand + 1);
    if (rest.length === 0) return fromStdin(ctx, ['privilege']);
    return { classes: ['privilege'], inner: run(rest, { ...ctx, scope: { cwd: null } }) };
  },
  nsenter: prefix(['-t', '--target', '-S', '--setuid', '-G', '--setgid', '-w', '--wd'], ['privilege'],
    { classes: ['privilege', 'unknown'], reason: 'nsenter runs a shell' }),
  unshare: prefix([], ['privilege'], { classes: ['privilege', 'unknown'], reason: 'unshare runs a shell' }),
  'systemd-run': prefix(['-u', '--unit', '-p', '--property', '-M', '--machine', '-H', '--host', '--uid', '--gid',
    '-E', '--setenv', '--working-directory', '--description', '--slice'], ['privilege'], { classes: ['privilege'] }),
  flock: (args, ctx) => {
    const parsed = parseOptions(args, ['-w', '--timeout', '-E', '--conflict-exit-code', '-c', '--command'], true);
    const command = valueOf(parsed, '-c', '--command');
    const after = parseOptions(args.slice(parsed.firstOperand + 1), ['-c', '--command'], true);
    const late = valueOf(after, '-c', '--command');
    const text = command ?? late;
    if (text) return text.value === null ? { classes: ['unknown'], reason: 'a command known only when it runs' } : { classes: [], inner: reparse(text.value, ctx), consumed: [text] };
    const rest = args.slice(parsed.firstOperand + 1);
    return rest.length ? { classes: [], inner: run(rest, ctx) } : { classes: ['read'] };
  },
  strace: tracer, ltrace: tracer,
  script: (args, ctx) => {
    const parsed = parseOptions(args, ['-c', '--command', '-t', '-T', '--log-timing', '-I', '--log-in', '-O',
      '--log-out', '-B', '--log-io', '-E', '--echo']);
    const command = valueOf(parsed, '-c', '--command');
    const file = parsed.operands[0] ?? syntheticWord('typescript');
    if (!command) return { classes: ['write', 'unknown'], writes: [file], reason: 'script starts a shell' };
    if (command.value === null) return { classes: ['unknown'], reason: 'a command known only when it runs' };
    return { classes: ['write'], writes: [file], inner: reparse(command.value, ctx), consumed: [command] };
  },
};

/** `strace`/`ltrace [options] cmd`: the command; `-o FILE` is written; `-p PID` only watches. */
function tracer(args: Word[], ctx: Ctx): Effect {
  const parsed = parseOptions(args, ['-o', '-e', '-p', '-s', '-u', '-E', '-a', '-P', '-I', '-b', '-O', '-S', '-X'], true);
  const output = valueOf(parsed, '-o');
  const rest = args.slice(parsed.firstOperand);
  const writes = output ? [output] : [];
  if (rest.length === 0) return { classes: ['read'], writes };
  return { classes: [], writes, inner: run(rest, ctx) };
}
