/**
 * The program table: what running a program does, by its name, when no special rule (commands.ts, wrappers.ts)
 * looks at its arguments. Data only. Programs not listed here are `unknown` (fail closed: a policy that allows
 * `read` must not allow a program Warden knows nothing about; a policy may allow such a program by name with the
 * `programs` match key).
 *
 * Each entry gives the program's classes and, for programs that write files named on their command line, which
 * operands they write (`operands`: every operand; `last`: the last one, or the value of `-t`/`--target-directory`).
 * Written operands go through the path rules (paths.ts): a write under a system path adds `destructive`, a write
 * to a privilege path adds `privilege`, a write to a place not known statically adds `unknown`.
 *
 * Classes:
 * - read: shows or computes without changing anything lasting (ls, cat, grep, ps, df, ...);
 * - write: changes files or state the caller may change (touch, cp, mv, mkdir, tee, editors, package installs);
 * - destructive: loses data or availability (mkfs, shred, truncate, wipefs, fdisk, shutdown, killall, ...);
 * - privilege: changes who may do what (accounts, passwords, sudo, capabilities, firewall, mounts);
 * - network: talks to other hosts or listens (curl, wget, nc, ssh, ping, dig, ...);
 * - unknown: runs code Warden cannot see (interpreters, build tools, schedulers, containers' commands).
 */
import type { ShellClass } from './types.js';

/** One program's entry. */
export interface ProgramSpec {
  classes: ShellClass[];
  /** Which operands the program writes (path rules apply to them). */
  writes?: 'operands' | 'last';
}

const table: Record<string, ProgramSpec> = {};

function add(classes: ShellClass[], names: string, writes?: ProgramSpec['writes']): void {
  for (const name of names.trim().split(/\s+/)) table[name] = writes ? { classes, writes } : { classes };
}

// Read: files, text, processes, system information, shell built-ins without lasting effect.
add(['read'], `
  ls dir vdir cat tac head tail less more most grep egrep fgrep rgrep rg ag ack zgrep zcat zless zmore bzcat xzcat
  zstdcat lz4cat wc cut tr diff diff3 cmp comm file stat du df free uptime uname whoami id groups who w last lastlog
  ps top htop atop pgrep pidof lsof ss netstat echo printf true false pwd cd pushd popd dirs printenv which whereis
  type basename dirname realpath readlink md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum sum
  base32 base64 basenc xxd od hexdump strings jq yq column nl fold fmt paste join rev expand unexpand seq yes sleep
  test [ [[ tree locate plocate mlocate lsblk blkid findmnt lscpu lsusb lspci lsmod vmstat iostat mpstat sar nproc
  getent locale tty clear reset man info help apropos whatis tldr sort uniq tput stty wait jobs fg bg disown
  read mapfile readarray getopts compgen exit return logout shift set shopt unset ulimit umask times caller let local getconf arch
  lsattr namei numfmt tsort factor expr bc cal ncal users hostid logname lsipc lsns lslocks lsmem dmidecode
  journalctl dmesg timedatectl hostnamectl localectl loginctl networkctl resolvectl busctl ipcs ldd nm objdump
  readelf size sha3sum shasum uuidgen pv iconv envsubst look
  systemd-analyze systemd-cgls systemd-cgtop
`);

// Write: change files or state the caller may change. Operands written, when the program names them.
add(['write'], 'touch mkdir rmdir unlink tee mkfifo mknod', 'operands');
add(['write'], 'cp mv ln install link', 'last');
table.mv = { classes: ['write'], writes: 'operands' }; // mv also removes its sources.
add(['write'], `vi vim nvim view nano pico emacs ed ex joe mcedit micro kate gedit`, 'operands');
add(['write'], `
  patch gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 zip unzip 7z 7za split csplit mktemp tempfile
  mkdirhier
`);
add(['write'], `
  pip pip3 pipx npm pnpm yarn gem cargo go composer bundle conda mamba poetry uv brew snap flatpak
  apt apt-get aptitude dpkg yum dnf rpm zypper apk pacman emerge nix-env
`);
add(['write'], 'logger wall write mesg renice ipcrm history', undefined);

// Destructive: lose data or availability.
add(['destructive'], 'shred wipefs', 'operands');
add(['destructive'], `
  mkswap blkdiscard sgdisk gdisk cfdisk badblocks shutdown reboot halt poweroff killall killall5 pkill
  swapoff losetup cryptsetup lvremove vgremove pvremove mdadm zpool zfs
`);
for (const name of ['mkfs', 'mkfs.ext2', 'mkfs.ext3', 'mkfs.ext4', 'mkfs.xfs', 'mkfs.btrfs', 'mkfs.vfat', 'mkfs.fat',
  'mkfs.ntfs', 'mkfs.exfat', 'mkfs.minix', 'mke2fs', 'mkdosfs', 'mkntfs']) table[name] = { classes: ['destructive'] };

// Privilege: accounts, passwords, sudo, capabilities, security settings.
add(['privilege'], `
  sudo sudoedit su doas pkexec passwd chpasswd chage useradd userdel usermod adduser deluser groupadd groupdel groupmod
  addgroup delgroup gpasswd newgrp sg visudo vipw vigr setcap setenforce semanage setsebool aa-disable
  aa-complain auditctl chsh chfn pam-auth-update update-alternatives ssh-copy-id insmod rmmod modprobe sysctl
  iptables ip6tables iptables-restore nft ufw firewall-cmd
`);

// Network: other hosts, or listening for them.
add(['network'], `
  curl wget aria2c axel lftp ftp tftp telnet nc netcat ncat socat ssh scp sftp rsync ping ping6 traceroute
  tracepath mtr dig nslookup host whois nmap tcpdump tshark http https xh httpie websocat mosh
`);

// Unknown: runs code Warden cannot see, or schedules or replays commands.
add(['unknown'], `
  eval source . alias enable fc dc python python2 python3 pypy pypy3 perl ruby irb node
  nodejs deno bun php lua luajit tclsh wish expect Rscript julia java jshell groovy scala kotlin gdb lldb
  osascript pwsh powershell make cmake ninja gradle mvn ant rake at batch parallel tmux screen
 
`);

/** The entry for a program name (its base name), or undefined when Warden does not know it. */
export function programSpec(name: string): ProgramSpec | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/**
 * Read programs whose operands are files (listed as paths even without a `/`, so `cat key.pem` matches a `*.pem`
 * path rule), with the options that take a value (so `head -n 5 f` lists only `f`). grep's first operand is its
 * pattern unless -e or -f gives one.
 */
const FILE_READERS: Record<string, readonly string[]> = {
  cat: [], tac: [], less: [], more: [], most: [], wc: [], file: ['-m', '-f'], stat: ['-c', '--format'],
  head: ['-n', '-c', '--lines', '--bytes'], tail: ['-n', '-c', '--lines', '--bytes', '-s'], nl: ['-b', '-s', '-w'],
  md5sum: [], sha1sum: [], sha256sum: [], sha512sum: [], b2sum: [], cksum: [], base64: ['-w'], xxd: ['-c', '-l', '-s'],
  od: ['-A', '-t', '-N', '-j'], hexdump: ['-n', '-s', '-e'], strings: ['-n'], diff: [], cmp: [], comm: [],
  cut: ['-d', '-f', '-c', '-b'], fold: ['-w'], paste: ['-d'], rev: [], zcat: [], bzcat: [], xzcat: [], zless: [],
  du: ['-d', '--max-depth'], ls: ['-I', '--ignore', '-w'], grep: ['-e', '-f', '-m', '-A', '-B', '-C', '--include',
    '--exclude', '--regexp', '--file'], egrep: ['-e', '-f', '-m', '-A', '-B', '-C'], fgrep: ['-e', '-f', '-m'],
};

/** The value-taking options of a read program whose operands are files, or undefined for other programs. */
export function fileReader(name: string): readonly string[] | undefined {
  return Object.hasOwn(FILE_READERS, name) ? FILE_READERS[name] : undefined;
}
