/**
 * Rules for programs with subcommands or options that decide their class: git, systemctl/service, docker/podman,
 * kubectl, package managers, network clients (curl, wget, nc, socat, scp, rsync) and shell built-ins that define or
 * replay commands (alias, trap, hash, fc, history). Unknown subcommands are unknown (fail closed). Pure.
 */
import { has, parseOptions, valueOf, type Effect, type Rule } from './context.js';
import { riskySshOptions } from './wrappers.js';
import { EVALUATOR_RULES } from './evaluators.js';
import { syntheticWord, type Word } from './words.js';

/** A subcommand table: the first operand after the global options picks the classes; others are `unknown`. */
function bySubcommand(valued: string[], table: Record<string, Effect['classes']>, alone: Effect['classes'] = ['read']): Rule {
  return (args) => {
    const parsed = parseOptions(args, valued, true);
    const sub = args[parsed.firstOperand];
    if (sub === undefined) return { classes: alone };
    const v = sub.value;
    if (v !== null && Object.hasOwn(table, v)) return { classes: table[v] };
    return { classes: ['unknown'], reason: `subcommand ${sub.raw} is not known` };
  };
}

function group(classes: Effect['classes'], names: string): Record<string, Effect['classes']> {
  return Object.fromEntries(names.trim().split(/\s+/).map((name) => [name, classes]));
}

const GIT_TABLE = {
  ...group(['read'], `status log diff show blame grep ls-files ls-tree rev-parse describe shortlog reflog cat-file
    show-ref name-rev count-objects whatchanged help version var rev-list for-each-ref merge-base check-ignore`),
  ...group(['write'], `add commit checkout switch restore merge rebase cherry-pick revert am apply mv rm init
    stash tag branch notes worktree submodule bisect gc prune sparse-checkout config remote reset clean`),
  ...group(['network', 'write'], 'clone fetch pull'),
  ...group(['network'], 'push ls-remote'),
};

/** git: the subcommand's class; `reset --hard`, `clean -f`, `push --force`, `stash clear` are destructive. */
const git: Rule = (args, ctx, name) => {
  const valued = ['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--exec-path', '--config-env'];
  const parsed = parseOptions(args, valued, true);
  const risky = args.slice(0, parsed.firstOperand).some((w, i, all) =>
    w.value === null || w.value.startsWith('--exec-path') || w.value.startsWith('--config-env') ||
    ((all[i - 1]?.value === '-c' || w.value.startsWith('-c')) &&
      /sshcommand|pager|editor|hookspath|fsmonitor|external|helper|alias\.|proxy|textconv|filter\.|askpass|command/i
        .test(w.value)));
  if (risky) return { classes: ['unknown'], reason: 'git configured to run another program' };
  const sub0 = args[parsed.firstOperand]?.value;
  const after = args.slice(parsed.firstOperand + 1).map((w) => w.value);
  if ((sub0 === 'submodule' && after.includes('foreach')) || (sub0 === 'bisect' && after[0] === 'run') ||
    after.some((v) => v !== null && v.startsWith('ext::')))
    return { classes: ['unknown'], reason: 'git running a command it was given' };
  const runs = args.slice(parsed.firstOperand + 1).some((w) => w.value === null ||
    /^(--upload-pack|--receive-pack|--exec|--ext-diff|--open-files-in-pager|-O|--textconv|--template|-x$|--config|-c$|--extcmd|--tool|--run|-u$)/
      .test(w.value));
  if (runs) return { classes: ['unknown'], reason: 'git options that run another program' };
  const effect = bySubcommand(valued, GIT_TABLE)(args, ctx, name);
  const rest = args.slice(parsed.firstOperand + 1).map((w) => w.value ?? '');
  const sub = args[parsed.firstOperand]?.value;
  const readOnly = (sub === 'branch' || sub === 'tag' || sub === 'remote' || sub === 'config' || sub === 'stash') &&
    (rest.length === 0 || rest.every((v) => /^(-[avlr]+|--list|--all|-vv|show|list|--get.*|-l|get-url)$/.test(v)));
  if (readOnly) return { classes: ['read'] };
  const destructive =
    (sub === 'reset' && rest.includes('--hard')) ||
    (sub === 'clean' && rest.some((v) => /^-[a-z]*f/.test(v) || v === '--force')) ||
    (sub === 'push' && rest.some((v) => v === '--force' || /^-[a-z]*f/.test(v) || v.startsWith('+') || v === '--delete' || v === '--mirror')) ||
    (sub === 'stash' && (rest[0] === 'clear' || rest[0] === 'drop')) ||
    (sub === 'checkout' && rest.includes('--') && rest.includes('.'));
  if (destructive) return { classes: [...effect.classes, 'destructive'] };
  return effect;
};

const SYSTEMCTL_TABLE = {
  ...group(['read'], `status show cat list-units list-unit-files list-sockets list-timers list-jobs list-machines
    list-dependencies is-active is-enabled is-failed is-system-running get-default show-environment help`),
  ...group(['write', 'destructive'], `stop disable mask kill isolate poweroff reboot halt emergency rescue kexec
    suspend hibernate hybrid-sleep suspend-then-hibernate soft-reboot exit switch-root`),
  ...group(['write'], `start restart reload try-restart reload-or-restart try-reload-or-restart enable reenable
    unmask daemon-reload daemon-reexec preset preset-all revert reset-failed set-environment unset-environment`),
  ...group(['privilege', 'write'], 'edit link set-default set-property add-wants add-requires'),
};

/** `service NAME ACTION`. */
const service: Rule = (args) => {
  const parsed = parseOptions(args);
  if (has(parsed, '--status-all') || parsed.operands.length < 2) return { classes: parsed.operands.length ? ['unknown'] : ['read'] };
  const action = parsed.operands[1].value;
  if (action === 'status') return { classes: ['read'] };
  if (action === 'stop') return { classes: ['write', 'destructive'] };
  if (action !== null && /^(start|restart|reload|force-reload|try-restart|condrestart)$/.test(action)) return { classes: ['write'] };
  return { classes: ['unknown'], reason: `service action ${parsed.operands[1].raw} is not known` };
};

const DOCKER_TABLE = {
  ...group(['read'], `ps images logs inspect version info stats top port history diff events`),
  ...group(['write', 'destructive'], 'rm rmi kill stop prune down'),
  ...group(['privilege', 'unknown'], 'run exec create start attach restart compose build buildx cp commit debug'),
  ...group(['network'], 'pull push login logout search'),
  ...group(['write'], 'tag rename pause unpause update wait save load import export'),
};

/** docker/podman: container, image and volume management; sub-resources (`docker volume rm`) by their verb. */
const docker: Rule = (args, ctx, name) => {
  const valued = ['-H', '--host', '--context', '-c', '--config', '-l', '--log-level'];
  const parsed = parseOptions(args, valued, true);
  const sub = args[parsed.firstOperand]?.value;
  if (sub && /^(container|image|volume|network|system|builder|plugin|secret|config|node|service|stack)$/.test(sub)) {
    const verb = parseOptions(args.slice(parsed.firstOperand + 1), [], true).operands[0]?.value ?? '';
    if (/^(ls|list|inspect|df|history|ps|logs)$/.test(verb)) return { classes: ['read'] };
    if (/^(rm|remove|prune|kill|stop)$/.test(verb)) return { classes: ['write', 'destructive'] };
    return { classes: ['privilege', 'unknown'], reason: `${name} ${sub} ${verb}` };
  }
  return bySubcommand(valued, DOCKER_TABLE)(args, ctx, name);
};

const KUBECTL_TABLE = {
  ...group(['network', 'read'], `get describe logs top explain api-resources api-versions version cluster-info
    diff wait events`),
  ...group(['network', 'write'], `apply create edit patch label annotate scale set rollout replace expose
    autoscale cordon uncordon taint certificate`),
  ...group(['network', 'write', 'destructive'], 'delete drain'),
  ...group(['network', 'unknown'], 'exec run debug port-forward proxy attach cp plugin auth config kustomize'),
};

const PACKAGE_READ = /^(list|search|show|policy|info|madison|depends|rdepends|query|check|outdated|audit|why|view|ls|help|--version|-v|freeze)$/;
const PACKAGE_REMOVE = /^(remove|purge|autoremove|erase|uninstall|autoclean|clean|-R|-Rs|-Rns|del)$/;

/** apt, dnf, pip, npm, ...: listing is read, removing is destructive, everything else (install, upgrade) write. */
const packages: Rule = (args) => {
  const parsed = parseOptions(args, ['-o', '-c', '-t', '--target-release', '--index-url', '-i', '--prefix', '-C'], true);
  const sub = args[parsed.firstOperand]?.value ?? null;
  if (sub === null) return { classes: args.length ? ['unknown'] : ['read'] };
  if (PACKAGE_READ.test(sub)) return { classes: ['read'] };
  if (PACKAGE_REMOVE.test(sub)) return { classes: ['write', 'destructive'] };
  if (/^(run|exec|run-script|start|test|x|dlx|shell)$/.test(sub)) return { classes: ['unknown'], reason: `${sub} runs project scripts` };
  return { classes: ['write'] };
};

/** curl: network; `-o FILE`/`--output` writes; `-K` reads a config that can say anything. */
const curl: Rule = (args) => {
  const valued = ['-o', '--output', '-d', '--data', '--data-binary', '--data-raw', '--data-urlencode', '-F', '--form',
    '-H', '--header', '-u', '--user', '-X', '--request', '-T', '--upload-file', '-K', '--config', '-x', '--proxy',
    '-A', '--user-agent', '-e', '--referer', '-b', '--cookie', '-c', '--cookie-jar', '--output-dir', '-w',
    '--write-out', '-m', '--max-time', '--connect-timeout', '-r', '--range', '--retry', '-D', '--dump-header',
    '--cacert', '--cert', '--key', '--resolve', '--url'];
  const parsed = parseOptions(args, valued);
  if (has(parsed, '-K', '--config')) return { classes: ['network', 'unknown'], reason: 'curl reading a config file' };
  const writes: Word[] = [];
  for (const [name, value] of parsed.options)
    if (value !== true && /^(-o|--output|-c|--cookie-jar|-D|--dump-header)$/.test(name) && value.value !== '-') writes.push(value);
  if (has(parsed, '-O', '--remote-name', '-J', '--remote-name-all')) writes.push(syntheticWord('.'));
  return { classes: writes.length ? ['network', 'write'] : ['network'], writes };
};

/** wget: network and a write (it saves into the working directory) unless `-O -` or `--spider`. */
const wget: Rule = (args) => {
  const parsed = parseOptions(args, ['-O', '--output-document', '-o', '--output-file', '-a', '--append-output',
    '-P', '--directory-prefix', '-i', '--input-file', '-e', '--execute', '-U', '--user-agent', '--header', '-t', '-T']);
  if (has(parsed, '-e', '--execute')) return { classes: ['network', 'unknown'], reason: 'wget -e runs wgetrc commands' };
  const out = valueOf(parsed, '-O', '--output-document');
  if (has(parsed, '--spider') || out?.value === '-') return { classes: ['network'] };
  const dir = valueOf(parsed, '-P', '--directory-prefix');
  const log = valueOf(parsed, '-o', '--output-file', '-a', '--append-output');
  const writes = [out ?? dir ?? syntheticWord('.'), ...(log ? [log] : [])];
  return { classes: ['network', 'write'], writes };
};

/** nc/ncat/netcat: network; `-e`/`-c`/`--exec`/`--sh-exec` hand the connection to a program (unknown). */
const netcat: Rule = (args) => {
  const runs = args.some((w) => w.value === null || /^(-[a-zA-Z]*[ec]|--exec|--sh-exec|--lua-exec)/.test(w.value));
  return runs ? { classes: ['network', 'unknown'], reason: 'netcat running a program' } : { classes: ['network'] };
};

/** socat: network; EXEC/SYSTEM addresses run programs (unknown); file addresses write. */
const socat: Rule = (args) => {
  const effect: Effect & { writes: Word[] } = { classes: ['network'], writes: [] };
  for (const word of args) {
    const v = word.value;
    if (v === null || /^(exec|system):/i.test(v)) return { classes: ['network', 'unknown'], reason: 'socat running a program' };
    const file = /^(create|open|gopen|pipe):([^,]*)/i.exec(v);
    if (file) effect.writes.push({ ...word, value: file[2] });
  }
  if (effect.writes.length) effect.classes = ['network', 'write'];
  return effect;
};

/**
 * The far end of a copy over ssh, as an exec: `scp -t DEST` (legacy scp receiving), `scp -f SRC` (sending),
 * `rsync --server [--sender] ... . PATHS` (its `-e.xyz` carries protocol flags, not a remote shell). A receiving end
 * writes whatever names the client sends in the data stream, into DEST or below it: DEST and `DEST/*` are listed and
 * the unit is `unknown` (SFTP is the transfer Warden judges per file). Null when the command is not a far end.
 */
function receivingEnd(parsed: ReturnType<typeof parseOptions>, rsync: boolean): Effect | null {
  const server = rsync ? has(parsed, '--server') : has(parsed, '-t', '-f');
  if (!server) return null;
  const sending = rsync ? has(parsed, '--sender') : has(parsed, '-f');
  const operands = rsync ? parsed.operands.slice(1) : parsed.operands;
  if (sending) return { classes: ['read'], reads: operands };
  const dest = operands[operands.length - 1];
  if (dest === undefined) return { classes: ['unknown'], reason: 'a copy that names no destination' };
  const below: Word = dest.value === null ? dest : { ...dest, raw: `${dest.raw}/*`, value: `${dest.value.replace(/\/+$/, '')}/*`, glob: true };
  return { classes: ['write', 'unknown'], writes: [dest, below], reason: 'the client names the files it sends in the data stream' };
}

/** scp/sftp/rsync: network when a remote is named; the local destination is written. */
function copier(remoteShell: boolean): Rule {
  return (args) => {
    const risky = riskySshOptions(args);
    if (risky) return { classes: ['network', 'unknown'], reason: risky };
    const parsed = parseOptions(args, ['-P', '-i', '-l', '-o', '-c', '-F', '-J', '-S', '-e', '--rsh', '-B', '-b',
      '--rsync-path', '--exclude', '--include', '--filter', '-f', '--files-from', '--exclude-from', '--port']);
    if (has(parsed, '-S') || (remoteShell && has(parsed, '--rsync-path'))) return { classes: ['network', 'unknown'], reason: 'a remote program named' };
    const sink = receivingEnd(parsed, remoteShell);
    if (sink !== null) return sink;
    const rsh = valueOf(parsed, '-e', '--rsh');
    if (rsh && (rsh.value === null || !/^ssh(\s|$)/.test(rsh.value) || /ProxyCommand|LocalCommand|KnownHostsCommand|Match|\s-F/i.test(rsh.value)))
      return { classes: ['network', 'unknown'], reason: 'rsync with another remote shell or ssh options that run commands' };
    const remote = parsed.operands.some((w) => w.value === null || /^[^/]*:|^rsync:\/\//.test(w.value));
    const last = parsed.operands[parsed.operands.length - 1];
    const writes = last && last.value !== null && !/^[^/]*:|^rsync:\/\//.test(last.value) ? [last] : [];
    const classes: Effect['classes'] = remote ? ['network'] : [];
    if (writes.length || (last && !remote)) classes.push('write');
    return { classes: classes.length ? classes : ['read'], writes };
  };
}

/** Shell built-ins that define or replay commands. */
const builtins: Record<string, Rule> = {
  alias: (args) =>
    args.some((w) => w.value === null || w.value.includes('='))
      ? { classes: ['unknown'], reason: 'an alias changes what a name runs' }
      : { classes: ['read'] },
  hash: (args) => (args.some((w) => w.value === null || w.value.startsWith('-p')) ? { classes: ['unknown'], reason: 'hash -p' } : { classes: ['read'] }),
  fc: (args) => (args[0]?.value === '-l' ? { classes: ['read'] } : { classes: ['unknown'], reason: 'fc replays commands' }),
  history: (args) => (args.some((w) => w.value === null || /^-[cdwanrsp]/.test(w.value)) ? { classes: ['write'] } : { classes: ['read'] }),
  trap: (args, ctx) => {
    const action = args[0];
    if (action === undefined || action.value === '-l' || action.value === '-p' || args.length === 1) return { classes: ['read'] };
    if (action.value === null) return { classes: ['unknown'], reason: 'a trap known only when it runs' };
    if (action.value === '' || action.value === '-') return { classes: ['read'] };
    return { classes: [], inner: ctx.reparse(action.value, { ...ctx, depth: ctx.depth + 1 }), consumed: [action] };
  },
  crontab: (args) => {
    const parsed = parseOptions(args, ['-u']);
    if (has(parsed, '-l')) return { classes: ['read'] };
    if (has(parsed, '-r')) return { classes: ['write', 'destructive'] };
    return { classes: ['write', 'unknown'], reason: 'crontab installs commands Warden cannot see' };
  },
  mount: (args) => (parseOptions(args).operands.length === 0 ? { classes: ['read'] } : { classes: ['privilege'] }),
  umount: () => ({ classes: ['privilege'] }),
  date: (args) => (args.some((w) => w.value === null || /^(-s|--set)/.test(w.value)) ? { classes: ['write'] } : { classes: ['read'] }),
  hostname: (args) => (parseOptions(args, ['-F', '--file']).operands.length ? { classes: ['write'] } : { classes: ['read'] }),
  journalctl: (args) => (args.some((w) => w.value === null || /^--(vacuum|rotate|flush|relinquish)/.test(w.value)) ? { classes: ['write', 'destructive'] } : { classes: ['read'] }),
  dmesg: (args) => (args.some((w) => w.value === null || /^(-[a-zA-Z]*[cCD]|--clear|--read-clear|--console-off)/.test(w.value)) ? { classes: ['write'] } : { classes: ['read'] }),
  ip: (args, ctx) => {
    const parsed = parseOptions(args, ['-n', '-netns', '-f', '-family', '-b', '-batch'], true);
    const ops = args.slice(parsed.firstOperand).map((w) => w.value);
    if (ops[0] === 'netns' && ops[1] === 'exec') return { classes: ['privilege'], inner: ctx.classify(args.slice(parsed.firstOperand + 3), { ...ctx, depth: ctx.depth + 1 }, 'ip netns exec') };
    if (ops.length <= 1 || /^(show|list|ls|lst|get|sh|s)$/.test(ops[1] ?? '')) return { classes: ['read'] };
    return { classes: ['privilege'] };
  },
  ifconfig: (args) => (args.length <= 1 || args.every((w) => w.value === '-a' || w.value === '-s') ? { classes: ['read'] } : { classes: ['privilege'] }),
  route: (args) => (args.every((w) => w.value !== null && /^-[nveA]/.test(w.value)) ? { classes: ['read'] } : { classes: ['privilege'] }),
};

/** Options that make an otherwise reading program start another one: unknown. */
function runsWith(pattern: RegExp, then: Effect['classes']): Rule {
  return (args) =>
    args.some((w) => w.value === null ? false : pattern.test(w.value))
      ? { classes: ['unknown'], reason: 'an option that starts another program' }
      : { classes: then };
}

/** systemd's *ctl tools: show and list are read, set-* writes, anything else unknown. */
const ctl: Rule = (args) => {
  const parsed = parseOptions(args, ['-H', '--host', '-M', '--machine', '-p', '--property'], true);
  const sub = args[parsed.firstOperand]?.value;
  if (sub === undefined || /^(status|show|list.*|get.*|query|dns|domain|statistics|help|timesync-status|show-.*|cat|introspect|tree|monitor|capture)$/.test(sub ?? '-'))
    return { classes: ['read'] };
  if (sub !== null && /^set-/.test(sub)) return { classes: ['write'] };
  if (sub !== null && /^(kill-|terminate-|poweroff|reboot|halt)/.test(sub)) return { classes: ['write', 'destructive'] };
  return { classes: ['unknown'], reason: `subcommand ${sub ?? '?'} is not known` };
};

/** Disk partitioners: listing (-l, print) is read; anything else destructive. */
const partitioner: Rule = (args) =>
  args.some((w) => w.value !== null && /^(-l|--list|-d|--dump|print|-s|--show-size)$/.test(w.value)) && args.length <= 3
    ? { classes: ['read'] }
    : { classes: ['write', 'destructive'] };

/** init/telinit: runlevels 0, 1, 6, S halt, isolate or reboot. */
const init: Rule = (args) => {
  const level = args[0]?.value;
  if (level !== undefined && level !== null && /^[qQuU]$/.test(level)) return { classes: ['write'] };
  return { classes: ['write', 'destructive'] };
};

/** Rules by program name. */
export const SERVICE_RULES: Record<string, Rule> = {
  git,
  systemctl: bySubcommand(['-H', '--host', '-M', '--machine', '-p', '--property', '-t', '--type', '-s', '--signal',
    '--state', '-n', '--lines', '-o', '--output', '--root'], SYSTEMCTL_TABLE),
  service, docker, podman: docker, nerdctl: docker,
  kubectl: bySubcommand(['-n', '--namespace', '--context', '--kubeconfig', '-s', '--server', '--cluster', '--user',
    '-l', '--selector', '-o', '--output'], KUBECTL_TABLE, ['network', 'read']),
  apt: packages, 'apt-get': packages, 'apt-cache': packages, aptitude: packages, dnf: packages, yum: packages,
  zypper: packages, apk: packages, pacman: packages, pip: packages, pip3: packages, npm: packages, pnpm: packages,
  yarn: packages, gem: packages, cargo: packages, brew: packages, snap: packages, composer: packages,
  npx: () => ({ classes: ['unknown'], reason: 'npx runs a package' }),
  curl, wget, nc: netcat, ncat: netcat, netcat, socat, scp: copier(false), rsync: copier(true), sftp: copier(false),
  fdisk: partitioner, sfdisk: partitioner, parted: partitioner, gdisk: partitioner, sgdisk: partitioner,
  init, telinit: init,
  hostnamectl: ctl, timedatectl: ctl, localectl: ctl, loginctl: ctl, networkctl: ctl, resolvectl: ctl, busctl: ctl,
  // Reading programs with an option that starts another program (a pager, a compressor, a post-rotate hook).
  man: runsWith(/^(-P|--pager|-H|--html|-X)/, ['read']),
  less: runsWith(/^(\+|-\+)/, ['read']),
  more: runsWith(/^\+/, ['read']),
  tcpdump: runsWith(/^(-z|-[a-zA-Z]*z)/, ['network']),
  zip: runsWith(/^(-TT|--unzip-command|-[a-zA-Z]*TT)/, ['write']),
  ...builtins,
  ...EVALUATOR_RULES,
};
