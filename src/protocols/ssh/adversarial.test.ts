/**
 * The pure side of the SSH adversarial review (issue 12; the real-stack side is test/ssh-adversarial.e2e.test.ts).
 * Each block is an attack class that worked, judged through the registered ssh protocol and the real policy
 * evaluation: a policy that denies only `destructive` and `privilege` (unknown allowed: the weakest sensible one)
 * must still see the class in every reading the host may apply. Also the pure helpers: pty modes and sizes, the
 * line editor's continuation and reconfiguration, SFTP requests as shell commands, paths below a directory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../test-install.js';
import { builtinProtocols } from '../builtin.js';
import { evaluate } from '../../policy/evaluate.js';
import { parsePolicyDocuments } from '../../policy/load.js';
import type { Command, Subject, Target } from '../../session/types.js';
import { LineEditor, reconfiguresInput, type LineSubmission } from './line-editor.js';
import { clampTerminal, hostTerminalModes, MAX_COLUMNS, MAX_ROWS } from './pty-request.js';
import { decodePacket } from './sftp-codec.js';
import { sftpDenied, sftpJudgment } from './sftp-policy.js';
import { sshUnitMatches } from './match.js';

const registry = builtinProtocols();
await registry.init();
const ssh = registry.require('ssh');

const policies = parsePolicyDocuments(`
kind: Policy
name: lenient
rules:
  - name: no-harm
    match: { classes: [destructive, privilege] }
    effect: deny
  - name: keys
    match: { paths: ["*/authorized_keys"] }
    effect: deny
  - name: rest
    match: { classes: [read, write, network, unknown, shell] }
    effect: allow
`);
const subject: Subject = { id: 'mallory', kind: 'user', groups: [], chain: [], tokenId: 'tok_1', targets: ['*'], expiresAt: 2e9 };
const target = { name: 'web-1', type: 'ssh', host: '127.0.0.1', port: 22, user: 'deploy', hostKeyFingerprint: null, labels: {} } as unknown as Target;

function decide(command: Omit<Command, 'protocol'>): string {
  const analysis = ssh.analyse({ protocol: 'ssh', ...command }, undefined);
  return evaluate(policies, { subject, target, analysis, protocol: ssh }, { defaultEffect: 'deny' }).effect;
}

describe('interactive lines are judged under every reading the host may apply', () => {
  it('an uncertain line (Tab, history, unknown key) is judged by what it spells, and unknown', () => {
    assert.equal(decide({ kind: 'uncertain-line', text: 'rm -rf ~/data/' }), 'deny');
    const analysis = ssh.analyse({ protocol: 'ssh', kind: 'uncertain-line', text: 'ls' }, undefined);
    assert.deepEqual(analysis.classes, ['read', 'unknown']);
  });

  it('comments may be off on the host (zsh, shopt -u interactive_comments)', () => {
    for (const text of ['#x; rm -rf ~', 'echo hi #; rm -rf ~', 'true # && sudo su']) assert.equal(decide({ kind: 'line', text }), 'deny', text);
    assert.equal(decide({ kind: 'line', text: 'echo hi # a comment' }), 'allow');
  });

  it('a line that continues an unfinished command is judged joined to it and alone', () => {
    const joined = { kind: 'line', text: "echo 'x\n'; rm -rf ~", attributes: { line: "'; rm -rf ~" } };
    assert.equal(decide(joined), 'deny');
    // Alone it is an unclosed quote (unknown): only the joined reading shows rm.
    assert.equal(decide({ kind: 'line', text: "'; rm -rf ~" }), 'allow');
    // And the line alone counts even when the joined text hides it (the host may not have been continuing).
    assert.equal(decide({ kind: 'line', text: 'cat <<EOF\nrm -rf ~', attributes: { line: 'rm -rf ~' } }), 'deny');
  });

  it('backslash-newline joins words in bash (r\\<newline>m is rm), exec and lines alike', () => {
    assert.equal(decide({ kind: 'exec', text: 'r\\\nm -rf ~' }), 'deny');
    assert.equal(decide({ kind: 'line', text: 'su\\\ndo id' }), 'deny');
  });
});

describe('exec text: built-ins that evaluate strings or set what later commands run', () => {
  const cases: [string, string][] = [
    ["mapfile -C 'rm -rf ~' -c 1 a < /etc/hostname", 'unknown'],
    ["readarray -C 'rm -rf ~' a < f", 'unknown'],
    ["compgen -C 'rm -rf ~' x", 'unknown'],
    ['compgen -F f x', 'unknown'],
    ['printf -v PATH /tmp', 'unknown'],
    ['read PATH', 'unknown'],
    ['read -a LD_PRELOAD', 'unknown'],
    ['getopts ab IFS', 'unknown'],
    ['declare -n r=PATH', 'unknown'],
    ["vim -c '!rm -rf ~' f", 'unknown'],
    ["vim '+!rm -rf ~' f", 'unknown'],
    ["emacs --eval '(shell-command \"rm -rf ~\")'", 'unknown'],
    ['read -r line', 'read'],
    ['printf -v x %s y', 'read'],
    ['vim +10 notes.txt', 'write'],
  ];
  for (const [text, cls] of cases) {
    it(`${text} is ${cls}`, () => {
      const analysis = ssh.analyse({ protocol: 'ssh', kind: 'exec', text }, undefined);
      assert.ok(analysis.classes.includes(cls), analysis.classes.join(','));
      if (cls !== 'unknown') assert.ok(!analysis.classes.includes('unknown'), analysis.classes.join(','));
    });
  }

  it('copies over ssh: a receiving end writes names the client chooses; rsync --server -e.x is not a remote shell', () => {
    const classes = (text: string) => ssh.analyse({ protocol: 'ssh', kind: 'exec', text }, undefined).classes;
    assert.deepEqual(classes('rsync --server -logDtprze.iLsfxCIvu . x/.ssh/'), ['privilege', 'unknown', 'write']);
    assert.deepEqual(classes('scp -t -- x/'), ['unknown', 'write']);
    assert.deepEqual(classes('rsync --server --sender -logDtprze.iLsfxCIvu . x/'), ['read']);
    assert.deepEqual(classes('scp -f -- /etc/hostname'), ['read']);
    assert.equal(decide({ kind: 'exec', text: 'scp -t -- /home/m/x/' }), 'deny'); // may write .../authorized_keys
  });
});

describe('paths below a directory (match.ts)', () => {
  const unit = (paths: string[]) => ({ text: '', classes: ['write'], attributes: { paths } });
  it('a deny rule holds when the pattern may match below the directory, and only then', () => {
    assert.equal(sshUnitMatches({ paths: ['*/authorized_keys'] }, unit(['/home/m/x/*']), true), true);
    assert.equal(sshUnitMatches({ paths: ['/home/m/*'] }, unit(['/home/m/x/*']), true), true);
    assert.equal(sshUnitMatches({ paths: ['/home/m/x/keys'] }, unit(['/home/m/x/*']), true), true);
    assert.equal(sshUnitMatches({ paths: ['/etc/*'] }, unit(['/home/m/x/*']), true), false);
    assert.equal(sshUnitMatches({ paths: ['/home/m/x'] }, unit(['/home/m/x/*']), true), false);
    assert.equal(sshUnitMatches({ paths: ['/etc/*'] }, unit(['x/*']), true), true); // relative: anywhere
  });
});

describe('pty-req', () => {
  it('passes only modes that leave input reading at the defaults', () => {
    const { modes, dropped } = hostTerminalModes({ VKILL: 0x23, VERASE: 0x78, VEOL: 0x3b, IGNCR: 1, ICRNL: 0, ISTRIP: 1, ECHO: 1,
      ONLCR: 1, TTY_OP_ISPEED: 38400 });
    assert.deepEqual(modes, { ECHO: 1, ONLCR: 1, TTY_OP_ISPEED: 38400 });
    assert.deepEqual(dropped.sort(), ['ICRNL', 'IGNCR', 'ISTRIP', 'VEOL', 'VERASE', 'VKILL']);
    assert.deepEqual(hostTerminalModes(undefined), { modes: {}, dropped: [] });
  });

  it('clamps sizes; 0 and nonsense get the usual defaults', () => {
    assert.deepEqual(clampTerminal({ cols: 0xffffffff, rows: 0xffffffff, width: 0xffffffff, height: 0 }),
      { cols: MAX_COLUMNS, rows: MAX_ROWS, width: 65_535, height: 0 });
    assert.deepEqual(clampTerminal({ cols: 0, rows: Number.NaN, width: 640, height: 480 }), { cols: 80, rows: 24, width: 640, height: 480 });
  });
});

describe('line editor: continuation and reconfiguration', () => {
  const submit = (editor: LineEditor, text: string): LineSubmission => {
    const r = editor.feed(Buffer.from(text));
    assert.ok(r.submit, text);
    return r.submit;
  };

  it('carries an unfinished command into the next submission until it is finished, Ctrl-C or EOF drops it', () => {
    const editor = new LineEditor();
    const first = submit(editor, "echo 'x\r");
    editor.accepted(first, true);
    const second = submit(editor, "'; rm -rf ~\r");
    assert.equal(second.continues, "echo 'x");
    editor.refused(); // refused: the host still holds the first line
    const third = submit(editor, "'\r");
    assert.equal(third.continues, "echo 'x");
    editor.accepted(third, false);
    assert.equal(submit(editor, 'ls\r').continues, undefined);
    editor.accepted(submit(editor, 'if true\r'), true);
    editor.feed(Buffer.from('\x03'));
    assert.equal(submit(editor, 'ls\r').continues, undefined);
  });

  it('after stty, bind, set -o vi or exec every line is uncertain', () => {
    for (const text of ["stty kill '#'", 'bind -x \'"\\C-t": ls\'', 'set -o vi', 'exec zsh', 'INPUTRC=/tmp/x bash', 'bindkey -v']) {
      assert.ok(reconfiguresInput(text), text);
      const editor = new LineEditor();
      editor.accepted(submit(editor, `${text}\r`), false);
      const next = submit(editor, 'echo hi #rm -rf ~\r');
      assert.equal(next.certain, false, text);
    }
    for (const text of ['ls -la', 'echo binding', 'set -e', 'git rebase -i']) assert.ok(!reconfiguresInput(text), text);
  });
});

describe('SFTP requests as shell commands', () => {
  const packet = (type: number, id: number, ...fields: (string | number)[]): Buffer => {
    const parts = [Buffer.from([type]), Buffer.alloc(4)];
    parts[1].writeUInt32BE(id);
    for (const f of fields) {
      if (typeof f === 'number') {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(f);
        parts.push(b);
      } else {
        const s = Buffer.from(f);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(s.length);
        parts.push(len, s);
      }
    }
    const body = Buffer.concat(parts);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, body]);
  };
  const judge = (frame: Buffer) => sftpJudgment(decodePacket(frame));

  it('writes, removes, renames, links and mode changes are judged like the shell commands that do the same', () => {
    const verdict = (frame: Buffer) => decide({ kind: 'sftp', text: 'x', attributes: { shell: judge(frame)!.shell } });
    assert.equal(verdict(packet(3, 1, '/home/m/.ssh/authorized_keys', 0x1a, 0)), 'deny'); // OPEN write|creat|trunc
    assert.equal(verdict(packet(3, 2, '/home/m/notes.txt', 0x1a, 0)), 'allow');
    assert.equal(verdict(packet(18, 3, '/home/m/notes.txt', "/home/m/it's/authorized_keys")), 'deny'); // RENAME
    assert.equal(verdict(packet(20, 4, '/home/m/link', '/home/m/.ssh/authorized_keys')), 'deny'); // SYMLINK
    assert.equal(verdict(packet(9, 5, '/home/m/tool', 0x4, 0o4755)), 'deny'); // SETSTAT setuid
    assert.equal(verdict(packet(200, 6, 'hardlink@openssh.com', '/home/m/x', '/home/m/.ssh/authorized_keys')), 'deny');
    assert.equal(verdict(packet(13, 7, '/etc/passwd')), 'deny'); // REMOVE of a privilege path
    assert.equal(judge(packet(17, 8, '/etc/passwd')), undefined); // STAT needs no judgment
    assert.equal(judge(packet(200, 9, 'copy-data'))!.shell, 'eval "$SFTP_EXTENSION"');
  });

  it('answers a refused request with permission denied for its id', () => {
    const reply = decodePacket(sftpDenied(42, 'warden: no'));
    assert.deepEqual(reply, { type: 'status', id: 42, code: 3, message: 'warden: no' });
  });
});
