/**
 * Rules for programs whose class depends on their arguments, for files and processes: rm, chmod/chown, kill, dd,
 * truncate, find, sed, awk, tar, sort, uniq. Each returns the command's own classes and the operands it writes;
 * the path rules (paths.ts) then add destructive, privilege or unknown. Pure.
 */
import { has, parseOptions, valueOf, type Ctx, type Effect, type Rule } from './context.js';
import { insideTemp, normalizePath, resolvePath } from './paths.js';
import { syntheticWord, type Word } from './words.js';

/** `rm`: a write; with -r/-f on anything not strictly inside /tmp or /var/tmp, destructive. */
const rm: Rule = (args, ctx) => {
  const parsed = parseOptions(args);
  const forceful = has(parsed, '-r', '-R', '-f', '--recursive', '--force', '--no-preserve-root');
  const classes: Effect['classes'] = ['write'];
  if (forceful && parsed.operands.some((w) => !wordInsideTemp(w, ctx))) classes.push('destructive');
  if (has(parsed, '--no-preserve-root')) classes.push('destructive');
  return { classes, removes: parsed.operands };
};

/** Whether a word certainly names something strictly inside a temporary directory. */
function wordInsideTemp(word: Word, ctx: Ctx): boolean {
  if (word.value === null || word.brace) return false;
  const path = resolvePath(word.value, ctx.scope.cwd);
  return path !== null && insideTemp(path, word.glob);
}

/** `chmod MODE FILE...`: privilege for setuid/setgid modes; metadata of system paths is privilege (paths.ts). */
const chmod: Rule = (args) => {
  const parsed = parseOptions(args, ['--reference']);
  const reference = has(parsed, '--reference');
  const mode = reference ? undefined : parsed.operands[0];
  const files = reference ? parsed.operands : parsed.operands.slice(1);
  const classes: Effect['classes'] = ['write'];
  const m = mode?.value;
  if (m === null) classes.push('unknown');
  else if (m !== undefined && (/s/.test(m.replace(/^[0-7]+$/, '')) || /^[0-7]*[2-7][0-7]{3}$/.test(m)))
    classes.push('privilege');
  return { classes, metaWrites: files };
};

/** `chown OWNER FILE...`, `chgrp GROUP FILE...`, `chattr MODE FILE...`: the files' metadata. */
const owner: Rule = (args) => {
  const parsed = parseOptions(args, ['--reference', '--from', '-v', '-p']);
  const files = has(parsed, '--reference') ? parsed.operands : parsed.operands.slice(1);
  return { classes: ['write'], metaWrites: files };
};

/** `setfacl`: the files' ACLs. */
const setfacl: Rule = (args) => {
  const parsed = parseOptions(args, ['-m', '-M', '-x', '-X', '--set', '--set-file', '--modify', '--remove']);
  return { classes: ['write'], metaWrites: parsed.operands };
};

/** `kill`: signalling init (1) or every process (-1) is destructive; signal 0 and -l only look. */
const kill: Rule = (args) => {
  const pids: Word[] = [];
  let signal: string | null = 'TERM';
  let list = false;
  for (let i = 0; i < args.length; i++) {
    const v = args[i].value;
    if (pids.length === 0 && v !== null) {
      if (v === '--') {
        pids.push(...args.slice(i + 1));
        break;
      }
      if (v === '-s' || v === '-n' || v === '--signal') {
        signal = args[++i]?.value ?? null;
        continue;
      }
      if (v === '-l' || v === '-L' || v === '--list' || v === '--table') {
        list = true;
        continue;
      }
      // `-1` may be SIGHUP or "every process": taken as a process (fail closed).
      if (/^-[A-Za-z0-9]+$/.test(v) && v !== '-1') {
        signal = v.slice(1);
        continue;
      }
    }
    pids.push(args[i]);
  }
  if (list || signal === '0') return { classes: ['read'] };
  const fatal = pids.some((w) => w.value === '1' || w.value === '-1');
  return { classes: fatal ? ['write', 'destructive'] : ['write'] };
};

/** `dd`: `of=` is written and destructive (unless a harmless device); `if=` is read. */
const dd: Rule = (args) => {
  const out = args.filter((w) => w.value === null || w.value.startsWith('of='));
  if (out.length === 0) return { classes: ['read'] };
  const targets = out.map((w) => (w.value === null ? w : { ...w, value: w.value.slice(3) }));
  const harmless = targets.every((w) => w.value !== null && /^\/dev\/(null|stdout|stderr)$/.test(w.value));
  return { classes: harmless ? ['read'] : ['write', 'destructive'], writes: targets };
};

/** `truncate -s SIZE FILE...`: destructive. */
const truncate: Rule = (args) => {
  const parsed = parseOptions(args, ['-s', '--size', '-r', '--reference']);
  return { classes: ['write', 'destructive'], writes: parsed.operands };
};

/** Options of find that write a file named by their value. */
const FIND_WRITES = new Set(['-fprint', '-fprint0', '-fprintf', '-fls']);

/**
 * `find START... EXPR`: read; `-delete` removes (destructive outside temp directories, like `rm -r`), `-exec`,
 * `-execdir`, `-ok`, `-okdir` run a command (judged with `{}` standing for the start paths), `-fprint` writes.
 */
const find: Rule = (args, ctx) => {
  let i = 0;
  while (i < args.length && args[i].value !== null && !/^[-(!,]/.test(args[i].value!)) i++;
  const starts = i === 0 ? [syntheticWord('.')] : args.slice(0, i);
  const effect: Effect & { classes: Effect['classes']; writes: Word[] } = { classes: ['read'], writes: [], inner: [] };
  for (; i < args.length; i++) {
    const v = args[i].value;
    if (v === null) continue;
    if (v === '-delete') {
      effect.classes.push('write');
      if (starts.some((w) => !wordInsideTemp(w, ctx))) effect.classes.push('destructive');
    } else if (FIND_WRITES.has(v) && i + 1 < args.length) effect.writes.push(args[++i]);
    else if (v === '-exec' || v === '-execdir' || v === '-ok' || v === '-okdir') {
      let end = i + 1;
      while (end < args.length && args[end].value !== ';' && args[end].value !== '+') end++;
      const command = args.slice(i + 1, end).flatMap((w) => (w.value === '{}' ? starts : [w]));
      if (command.length === 0) effect.classes.push('unknown');
      else effect.inner!.push(...ctx.classify(command, { ...ctx, depth: ctx.depth + 1 }, command.map((w) => w.raw).join(' ')));
      i = end;
    }
  }
  if (effect.inner!.length === 0) delete effect.inner;
  return effect;
};

/** `sed`: read; `-i` writes its files; a script that runs commands or writes files (`e`, `w`, `s///e`) is unknown. */
const sed: Rule = (args) => {
  const parsed = parseOptions(args, ['-e', '--expression', '-f', '--file', '-l', '--line-length']);
  if (has(parsed, '-f', '--file')) return { classes: ['unknown'], reason: 'a sed script file' };
  const scripts: Word[] = [];
  for (const [name, value] of parsed.options) if ((name === '-e' || name === '--expression') && value !== true) scripts.push(value);
  const files = scripts.length ? parsed.operands : parsed.operands.slice(1);
  if (!scripts.length && parsed.operands[0]) scripts.push(parsed.operands[0]);
  // Only the last -e is kept by parseOptions; find every one.
  for (let i = 0; i < args.length - 1; i++) if (args[i].value === '-e') scripts.push(args[i + 1]);
  if (scripts.some((w) => w.value === null || sedRuns(w.value)))
    return { classes: ['unknown'], reason: 'a sed script that runs commands or writes files' };
  return has(parsed, '-i', '--in-place')
    ? { classes: ['write'], writes: files, consumed: scripts }
    : { classes: ['read'], consumed: scripts };
};

/**
 * Whether a sed script may run a command or write a file: the `e`, `w`, `W` commands, `s` flags `e` or `w`, or
 * anything this small reader does not recognise (fail closed).
 */
export function sedRuns(script: string): boolean {
  let i = 0;
  const n = script.length;
  const skipRegex = (delim: string): void => {
    for (i++; i < n && script[i] !== delim; i++) if (script[i] === '\\') i++;
    i++;
  };
  while (i < n) {
    const c = script[i];
    if (/[\s;{}!,0-9$~+]/.test(c)) { i++; continue; }
    if (c === '/') { skipRegex('/'); continue; }
    if (c === '\\') { i++; skipRegex(script[i]); continue; }
    if ('ewW'.includes(c)) return true;
    if (c === 's' || c === 'y') {
      const delim = script[i + 1];
      if (delim === undefined || delim === '\\' || delim === '\n') return true;
      i++;
      skipRegex(delim);
      i--;
      skipRegex(delim);
      if (c === 's') {
        const flags = /^[^;\n}]*/.exec(script.slice(i))![0];
        if (/[ewW]/.test(flags)) return true;
        i += flags.length;
      }
      continue;
    }
    if ('aicrRbtT:'.includes(c)) { while (i < n && script[i] !== '\n') i++; continue; }
    if ('pdDqQ=nNgGhHxlzFP#'.includes(c)) {
      if (c === '#') while (i < n && script[i] !== '\n') i++;
      i++;
      continue;
    }
    return true;
  }
  return false;
}

/** `awk`: read, unless the program runs commands, writes files, or comes from a file (unknown). */
const awk: Rule = (args) => {
  const parsed = parseOptions(args, ['-f', '--file', '-v', '--assign', '-F', '--field-separator', '-e', '--source',
    '-i', '--include', '-l', '--load', '-E', '--exec']);
  if (has(parsed, '-f', '--file', '-i', '--include', '-l', '--load', '-E', '--exec'))
    return { classes: ['unknown'], reason: 'an awk program from a file or extension' };
  const program = valueOf(parsed, '-e', '--source') ?? parsed.operands[0];
  if (!program || program.value === null) return { classes: ['unknown'], reason: 'an awk program known only when it runs' };
  if (/system|getline|\||printf?\b[^;}\n]*>|@load|@include/.test(program.value))
    return { classes: ['unknown'], reason: 'an awk program that runs commands or writes files' };
  return { classes: ['read'], consumed: [program] };
};

/** `tar`: list is read; create writes its archive; extract writes (into -C or the working directory). */
const tar: Rule = (args) => {
  const first = args[0]?.value;
  const words = first && /^[A-Za-z]+$/.test(first) ? [{ ...args[0], value: '-' + first }, ...args.slice(1)] : args;
  const parsed = parseOptions(words, ['-f', '--file', '-C', '--directory', '-T', '--files-from', '-X',
    '--exclude-from', '-I', '--use-compress-program', '-b', '-N', '--newer', '-g', '-K', '-L', '-V']);
  if (has(parsed, '-I', '--use-compress-program', '--to-command', '--info-script', '--new-volume-script') ||
    words.some((w) => w.value?.startsWith('--checkpoint-action') || w.value?.startsWith('--to-command')))
    return { classes: ['unknown'], reason: 'tar running another program' };
  const file = valueOf(parsed, '-f', '--file');
  if (has(parsed, '-x', '--extract', '--get')) {
    const dir = valueOf(parsed, '-C', '--directory') ?? syntheticWord('.');
    return { classes: ['write'], writes: [dir] };
  }
  if (has(parsed, '-c', '--create', '-r', '--append', '-u', '--update', '-A', '--catenate', '--delete'))
    // To standard output (`-f -`, or no -f: GNU tar's default) it writes nothing.
    return file && file.value !== '-' ? { classes: ['write'], writes: [file] } : { classes: ['read'] };
  return { classes: ['read'] };
};

/** `sort`: read; `-o FILE` writes it. */
const sort: Rule = (args) => {
  const parsed = parseOptions(args, ['-o', '--output', '-k', '--key', '-t', '--field-separator', '-S',
    '--buffer-size', '-T', '--temporary-directory', '--parallel', '--files0-from', '--random-source']);
  if (has(parsed, '--compress-program')) return { classes: ['unknown'], reason: 'sort --compress-program starts a program' };
  const out = valueOf(parsed, '-o', '--output');
  return out ? { classes: ['write'], writes: [out] } : { classes: ['read'] };
};

/** `uniq [IN [OUT]]`: a second operand is written. */
const uniq: Rule = (args) => {
  const parsed = parseOptions(args, ['-f', '--skip-fields', '-s', '--skip-chars', '-w', '--check-chars']);
  return parsed.operands.length > 1 ? { classes: ['write'], writes: [parsed.operands[1]] } : { classes: ['read'] };
};

/** `cp`/`mv`/`ln`/`install`-style options that take a value; `-t DIR` names the written directory. */
export const TARGET_VALUED = ['-t', '--target-directory', '-S', '--suffix', '-m', '--mode', '-o', '--owner', '-g',
  '--group', '-d', '--date', '-r', '--reference', '-Z', '--context'];

/** The path of a word relative to nothing: for messages (normalised value or the raw text). */
export function shown(word: Word): string {
  return word.value === null ? word.raw : normalizePath(word.value);
}

/** File and process rules by program name. */
export const FILE_RULES: Record<string, Rule> = {
  rm, chmod, chown: owner, chgrp: owner, chattr: owner, setfacl, kill, dd, truncate, find, sed, awk, gawk: awk,
  mawk: awk, nawk: awk, busybox_awk: awk, tar, sort, uniq,
};
