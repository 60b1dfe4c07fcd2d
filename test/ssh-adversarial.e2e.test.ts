/**
 * Adversarial review of the SSH path (issue 12), against the real stack: a caller with a valid token whose policy
 * denies `destructive` (and, on `strict-*` targets, `unknown`) tries to get a destructive command run anyway, to
 * freeze the gateway, or to reach what it may not. Every attack here worked against an earlier Warden or guards a
 * spelling that a reviewer will try; each checks the victim directory on the host's disk, not Warden's words.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client, ClientChannel, PseudoTtyOptions } from 'ssh2';
import { execSsh2, startSshStack, type SshStack } from './harness/ssh-stack.js';

const POLICY = `kind: Policy
name: ssh-adversarial
rules:
  - name: no-destructive
    match: { classes: [destructive] }
    effect: deny
    message: destructive commands are blocked
  - name: strict-unknown
    targets: ["strict-*"]
    match: { classes: [unknown] }
    effect: deny
    message: Warden cannot tell what this runs
  - name: no-privilege-on-keys
    targets: ["keys-*"]
    match: { classes: [privilege] }
    effect: deny
    message: privilege changes are managed elsewhere
  - name: held-writes
    targets: ["held-*"]
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [ops] }
    timeout: 2m
  - name: everything-else
    match: { classes: [read, write, network, privilege, unknown, shell] }
    effect: allow
`;

let stack: SshStack;
let token: string;
let approverToken: string;
let work: string;
let workRel: string;

before(async () => {
  stack = await startSshStack({ policy: POLICY });
  for (const name of ['strict-1', 'keys-1', 'held-1']) {
    await stack.addTarget(name, { host: stack.sshd.host, port: stack.sshd.port, user: stack.sshd.account.user,
      password: stack.sshd.account.password });
  }
  token = await stack.token('mallory');
  approverToken = await stack.token('olga', '--groups', 'ops');
  workRel = `adversarial-${randomBytes(6).toString('hex')}`;
  work = path.join(stack.sshd.account.home, workRel);
  const r = await stack.run('ssh', ['mallory:web-1@127.0.0.1', `mkdir -p ${workRel}`], { token });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true }).catch(() => {});
  await stack?.stop();
});

/** Creates a victim directory on the host (through Warden, as the test account) and returns its path under ~. */
async function victim(name: string): Promise<string> {
  const rel = `${workRel}/${name}`;
  const r = await stack.run('ssh', ['mallory:web-1@127.0.0.1', `mkdir -p ${rel} && echo keep > ${rel}/f`], { token });
  assert.equal(r.code, 0, r.stderr);
  return rel;
}

async function survives(rel: string): Promise<void> {
  assert.equal(await fs.readFile(path.join(stack.sshd.account.home, rel, 'f'), 'utf8'), 'keep\n', `${rel} was removed`);
}

interface Shell {
  shell: ClientChannel;
  screen(): string;
  waitFor(re: RegExp): Promise<void>;
  /** Types a harmless marker line and waits for its output: everything typed before has been handled by the shell. */
  settle(): Promise<void>;
}

/** Opens a PTY shell on `target` (listening at once: a refusal can come in the same chunk as the opening). */
async function openShell(target: string, pty: PseudoTtyOptions = {}): Promise<{ client: Client } & Shell> {
  const client = await stack.connect(`mallory:${target}`, { password: token });
  return new Promise((resolve, reject) => {
    client.shell({ rows: 24, cols: 100, term: 'xterm', ...pty }, (err, shell) => {
      if (err) return reject(err);
      let screen = '';
      let marks = 0;
      shell.on('data', (d: Buffer) => (screen += d));
      shell.stderr.on('data', (d: Buffer) => (screen += d));
      const waitFor = async (re: RegExp): Promise<void> => {
        for (let i = 0; i < 600 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
        assert.match(screen, re);
      };
      const settle = async (): Promise<void> => {
        marks++;
        shell.write(`echo mark-${marks}-$((6*7))\r`);
        await waitFor(new RegExp(`mark-${marks}-42`));
      };
      resolve({ client, shell, screen: () => screen, waitFor, settle });
    });
  });
}

describe('interactive lines: Warden must judge what the host will run', () => {
  test('pty-req modes cannot rebind the host\'s editing keys (VKILL=# made "echo hi #rm ..." run rm)', async () => {
    const rel = await victim('pty-modes');
    const { client, shell, settle } = await openShell('strict-1', { modes: { VKILL: 0x23, VERASE: 0x78 } });
    try {
      await settle();
      shell.write(`echo hi #rm -rf ~/${rel}\r`);
      await settle();
      await survives(rel);
    } finally {
      client.end();
    }
  });

  test('stty that changes the editing keys makes every later line uncertain (refused where unknown is)', async () => {
    const rel = await victim('stty');
    const { client, shell, waitFor, settle } = await openShell('strict-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      shell.write(`stty kill '#'\r`);
      shell.write(`echo hi #rm -rf ~/${rel}\r`);
      await waitFor(/line refused: Warden cannot tell what this runs/);
      await survives(rel);
    } finally {
      client.end();
    }
  });

  test('a line made uncertain by Tab is still judged by what it spells', async () => {
    const rel = await victim('tab');
    const { client, shell, waitFor, settle } = await openShell('web-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      shell.write(`rm -rf ~/${rel}\t\r`);
      await waitFor(/line refused: destructive commands are blocked/);
      await settle();
      await survives(rel);
    } finally {
      client.end();
    }
  });

  test('an open quote carries into the next line: the host runs both as one command, Warden judges them so', async () => {
    const rel = await victim('quote');
    const { client, shell, waitFor, settle } = await openShell('web-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      shell.write(`echo 'x\r`);
      shell.write(`'; rm -rf ~/${rel}\r`);
      await waitFor(/line refused: destructive commands are blocked/);
      shell.write('\x03'); // Ctrl-C: bash drops the unfinished command
      await settle();
      await survives(rel);
    } finally {
      client.end();
    }
  });

  test('a here-document body fed to a shell across lines is judged at its end', async () => {
    const rel = await victim('heredoc');
    const { client, shell, waitFor, settle } = await openShell('web-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      shell.write('bash <<EOF\r');
      shell.write(`rm -rf ~/${rel}\r`);
      shell.write('EOF\r');
      await waitFor(/line refused: destructive commands are blocked/);
      shell.write('\x03');
      await settle();
      await survives(rel);
    } finally {
      client.end();
    }
  });

  test('comments switched off (shopt -u interactive_comments, zsh\'s default) cannot hide a command', async () => {
    const rel = await victim('comments');
    const { client, shell, waitFor, settle } = await openShell('strict-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      shell.write('shopt -u interactive_comments\r');
      await settle();
      shell.write(`#x; rm -rf ~/${rel}\r`);
      await waitFor(/line refused: (destructive commands are blocked|Warden cannot tell what this runs)/);
      await settle();
      await survives(rel);
    } finally {
      client.end();
    }
  });

  test('typed-ahead keys wait while a line is judged, and a refused line leaves nothing behind', async () => {
    const rel = await victim('typeahead');
    const { client, shell, waitFor, settle } = await openShell('strict-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      shell.write(`rm -rf ~/${rel}\recho after-$((5*5))\r`);
      await waitFor(/line refused: destructive commands are blocked/);
      await waitFor(/after-25/);
      await settle();
      await survives(rel);
    } finally {
      client.end();
    }
  });
});

describe('approval', () => {
  test('keys typed while a line waits for approval cannot change it: the approved line runs once, the rest is judged after', async () => {
    const rel = await victim('held');
    const { client, shell, waitFor, settle } = await openShell('held-1');
    try {
      await settle(); // the shell's line editor is reading: keys typed before it are read by the tty alone
      const line = `echo once >> ~/${rel}/held.log`;
      // The line, then at once: Ctrl-U (would empty the held line on the host) and a destructive line.
      shell.write(`${line}\r\x15rm -rf ~/${rel}\r`);
      let id: string | undefined;
      for (let i = 0; i < 300 && id === undefined; i++) {
        const r = await stack.warden.cli(['approvals', 'list', '--json'], { env: { WARDEN_TOKEN: approverToken } });
        id = (JSON.parse(r.stdout) as { id: string; statement: string }[]).find((p) => p.statement === line)?.id;
        if (id === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(id, 'no approval request for the line');
      const approved = await stack.warden.cli(['approvals', 'approve', id], { env: { WARDEN_TOKEN: approverToken } });
      assert.equal(approved.code, 0, approved.stderr);
      await waitFor(/line refused: destructive commands are blocked/);
      await settle();
      assert.equal(await fs.readFile(path.join(stack.sshd.account.home, rel, 'held.log'), 'utf8'), 'once\n');
      await survives(rel);
    } finally {
      client.end();
    }
  });
});

describe('exec text', () => {
  test('bash built-ins that run a string (mapfile -C) are unknown, not read', async () => {
    const rel = await victim('mapfile');
    const r = await stack.run('ssh', ['mallory:strict-1@127.0.0.1', `mapfile -C 'rm -rf ~/${rel} #' -c 1 a < /etc/hostname`], { token });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Warden cannot tell what this runs/);
    await survives(rel);
  });

  test('spellings of rm are destructive however they are written', async () => {
    const rel = await victim('spellings');
    for (const spelling of ['\\rm', "r''m", '"rm"', "$'\\x72m'", '/bin/rm', 'command rm', 'exec rm', 'busybox rm',
      'env rm', 'nohup rm', 'sudo -n rm', 'timeout 5 rm', 'r\\\nm']) {
      const r = await stack.run('ssh', ['mallory:web-1@127.0.0.1', `${spelling} -rf ~/${rel}`], { token });
      assert.equal(r.code, 1, `${spelling}: ${r.stderr}`);
      assert.match(r.stderr, /destructive commands are blocked|Warden cannot tell/, spelling);
    }
    // What runs only at run time ("$@", a variable, an alias from an earlier line) is unknown: refused where unknown is.
    for (const spelling of ['sh -c "rm -rf $0"', `sh -c 'rm "$@"' sh`, 'x=rm; $x', `alias ls='rm -rf'
ls`, 'f(){ "$@"; }; f rm', 'eval rm', '${X:-rm}', 'xargs rm <<<']) {
      const r = await stack.run('ssh', ['mallory:strict-1@127.0.0.1', `${spelling} -rf ~/${rel}`], { token });
      assert.equal(r.code, 1, `${spelling}: ${r.stderr}`);
      assert.match(r.stderr, /Warden cannot tell what this runs/, spelling);
    }
    await survives(rel);
  });

  test('running the SFTP server or another subsystem directly is unknown', async () => {
    const r = await stack.run('ssh', ['mallory:strict-1@127.0.0.1', '/usr/lib/openssh/sftp-server'], { token, stdin: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Warden cannot tell what this runs/);
    const subsystem = await stack.run('ssh', ['-s', 'mallory:strict-1@127.0.0.1', 'netconf'], { token, stdin: '' });
    assert.equal(subsystem.code, 1);
    assert.match(subsystem.stderr, /Warden cannot tell what this runs/);
  });
});

describe('file transfer', () => {
  /** One sftp batch command through Warden (-b implies BatchMode=yes, which would forbid the askpass token). */
  const sftp = (target: string, command: string) => stack.run('sftp', ['-q', '-o', 'BatchMode=no', '-b', '-',
    `mallory@${target}@127.0.0.1`], { token, stdin: `${command}\n` });

  test('SFTP writes, links and renames to privilege paths (authorized_keys) are judged per request', async () => {
    const rel = await victim('sftp');
    const local = path.join(stack.tempDir, 'sftp-key.pub');
    await fs.writeFile(local, 'ssh-ed25519 AAAA attacker\n');
    const ok = await sftp('keys-1', `put ${local} ${rel}/plain.txt`);
    assert.equal(ok.code, 0, ok.stderr);
    for (const command of [`put ${local} ${rel}/authorized_keys`, `mkdir ${rel}/.ssh`, `rename ${rel}/plain.txt ${rel}/authorized_keys`,
      `symlink ${rel}/authorized_keys ${rel}/innocent`, `ln ${rel}/plain.txt ${rel}/authorized_keys`, `chmod 4755 ${rel}/plain.txt`]) {
      const r = await sftp('keys-1', command);
      assert.notEqual(r.code, 0, `${command} was allowed`);
    }
    const left = (await fs.readdir(path.join(stack.sshd.account.home, rel))).sort();
    assert.deepEqual(left, ['f', 'plain.txt']);
    assert.equal(((await fs.stat(path.join(stack.sshd.account.home, rel, 'plain.txt'))).mode & 0o7000), 0);
  });

  test('legacy scp (scp -O: an exec of scp -t) and rsync to a privilege path are refused the same way', async () => {
    const rel = await victim('scp');
    const local = path.join(stack.tempDir, 'scp-key.pub');
    await fs.writeFile(local, 'ssh-ed25519 AAAA attacker\n');
    const scp = await stack.run('scp', ['-O', local, `mallory@keys-1@127.0.0.1:${rel}/authorized_keys`], { token });
    assert.notEqual(scp.code, 0);
    assert.match(scp.stderr, /privilege changes are managed elsewhere/);
    const rsync = await stack.rsync([local, `mallory@keys-1@127.0.0.1:${rel}/.ssh/`], { token });
    assert.notEqual(rsync.code, 0);
    assert.deepEqual((await fs.readdir(path.join(stack.sshd.account.home, rel))).sort(), ['f']);
  });
});

describe('channels and forwarding', () => {
  test('a forward to Warden\'s own API and to a unix socket is refused without class forward', async () => {
    const client = await stack.connect('mallory:web-1', { password: token });
    try {
      await assert.rejects(new Promise((resolve, reject) =>
        client.forwardOut('127.0.0.1', 40000, '127.0.0.1', stack.warden.ports.api, (err, ch) => (err ? reject(err) : resolve(ch)))));
      await assert.rejects(new Promise((resolve, reject) =>
        client.openssh_forwardOutStreamLocal('/run/postgresql/.s.PGSQL.5432', (err, ch) => (err ? reject(err) : resolve(ch)))));
      const still = await execSsh2(client, 'echo still-here');
      assert.equal(still.stdout, 'still-here\n');
    } finally {
      client.end();
    }
  });

  test('env names outside the allow-list never reach the host (LD_PRELOAD, BASH_ENV)', async () => {
    const client = await stack.connect('mallory:web-1', { password: token });
    try {
      const r = await new Promise<string>((resolve, reject) => {
        client.exec('echo "[$LD_PRELOAD][$BASH_ENV][$LC_WARDEN]"', { env: { LD_PRELOAD: '/tmp/x.so', BASH_ENV: '/tmp/x', LC_WARDEN: 'ok' } },
          (err, ch) => {
            if (err) return reject(err);
            let out = '';
            ch.on('data', (d: Buffer) => (out += d));
            ch.on('close', () => resolve(out));
          });
      });
      assert.equal(r, '[][][ok]\n');
    } finally {
      client.end();
    }
  });
});

describe('denial of service', () => {
  test('huge terminal sizes (pty-req and window-change) neither crash nor freeze the gateway', async () => {
    const bystander = await stack.connect('mallory:web-1', { password: token });
    const { client, shell, settle } = await openShell('web-1', { rows: 0xffffffff, cols: 0xffffffff });
    try {
      await settle();
      shell.setWindow(0xfffffff0, 0xfffffff0, 0xffffffff, 0xffffffff);
      shell.setWindow(20_000, 20_000, 0, 0);
      await settle();
      const other = await execSsh2(bystander, 'echo bystander-ok');
      assert.equal(other.stdout, 'bystander-ok\n');
    } finally {
      client.end();
      bystander.end();
    }
  });
});
