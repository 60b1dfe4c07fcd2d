/**
 * Policy on SSH, end to end: agents get exec only (no interactive shell), a destructive exec is refused before it
 * reaches the host, a destructive line typed in a shell is never submitted, forwarding is refused unless a rule
 * allows class `forward`, an exec that needs approval waits with its channel open and runs exactly once when
 * approved (or exits 1 when denied), and revoking the token ends a live shell with a message on its terminal.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client, ClientChannel } from 'ssh2';
import { execSsh2, startSshStack, type SshStack } from './harness/ssh-stack.js';

const POLICY = `kind: Policy
name: ssh-guardrails
rules:
  - name: agents-exec-only
    subjects: { groups: [agents] }
    match: { classes: [shell] }
    effect: deny
    message: agents get exec only
  - name: no-destructive
    match: { classes: [destructive] }
    effect: deny
    message: destructive commands are blocked
  - name: strict-unknown
    targets: ["strict-*"]
    match: { classes: [unknown] }
    effect: deny
    message: Warden cannot tell what this runs
  - name: forwards-on-fwd
    targets: ["fwd-*"]
    match: { classes: [forward] }
    effect: allow
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
const tokens: Record<string, string> = {};
let work: string;
let workRel: string;

before(async () => {
  stack = await startSshStack({ policy: POLICY });
  for (const name of ['fwd-1', 'held-1', 'strict-1']) {
    await stack.addTarget(name, { host: stack.sshd.host, port: stack.sshd.port, user: stack.sshd.account.user,
      password: stack.sshd.account.password });
  }
  tokens.alice = await stack.token('alice');
  tokens.bot = await stack.token('bot', '--groups', 'agents', '--kind', 'agent');
  tokens.olga = await stack.token('olga', '--groups', 'ops');
  workRel = `policy-${randomBytes(6).toString('hex')}`;
  work = path.join(stack.sshd.account.home, workRel);
  const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', `mkdir -p ${workRel}/precious && echo keep > ${workRel}/precious/f`], { token: tokens.alice });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
  await stack?.stop();
});

/**
 * Opens a shell and listens at once: ssh2 handles a whole received chunk synchronously, so a refusal's data, exit and
 * close can arrive in the same chunk as the channel's opening, before the awaiting test runs again.
 */
function openShell(client: Client): Promise<{ shell: ClientChannel; screen: () => string; waitFor: (re: RegExp) => Promise<void>;
  exited: Promise<number | null>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    client.shell({ rows: 24, cols: 100, term: 'xterm' }, (err, shell) => {
      if (err) return reject(err);
      const exited = new Promise<number | null>((r) => shell.on('exit', (c: number | null) => r(c)));
      const closed = new Promise<void>((r) => shell.on('close', () => r()));
      let screen = '';
      shell.on('data', (d: Buffer) => (screen += d));
      shell.stderr.on('data', (d: Buffer) => (screen += d));
      const waitFor = async (re: RegExp) => {
        for (let i = 0; i < 600 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
        assert.match(screen, re);
      };
      resolve({ shell, screen: () => screen, waitFor, exited, closed });
    });
  });
}

describe('exec and shells', () => {
  test('an agent may exec but not open an interactive shell', async () => {
    const ok = await stack.run('ssh', ['bot:web-1@127.0.0.1', 'echo exec-ok'], { token: tokens.bot });
    assert.equal(ok.stdout, 'exec-ok\n', ok.stderr);
    const client = await stack.connect('bot:web-1', { password: tokens.bot });
    try {
      const { waitFor, exited } = await openShell(client);
      await waitFor(/agents get exec only/);
      assert.equal(await exited, 1);
    } finally {
      client.end();
    }
  });

  test('a destructive exec is refused with the rule\'s message and never runs', async () => {
    const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', `rm -rf ~/${workRel}/precious`], { token: tokens.alice });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /warden: destructive commands are blocked/);
    assert.equal(await fs.readFile(path.join(work, 'precious', 'f'), 'utf8'), 'keep\n');
  });

  test('a destructive line typed in a shell is never submitted; the shell goes on', async () => {
    const client = await stack.connect('alice:web-1', { password: tokens.alice });
    try {
      const { shell, waitFor } = await openShell(client);
      shell.write(`rm -rf ~/${workRel}/precious\r`);
      await waitFor(/line refused: destructive commands are blocked/);
      shell.write('echo still-$((40+2))\r');
      await waitFor(/still-42/);
      assert.equal(await fs.readFile(path.join(work, 'precious', 'f'), 'utf8'), 'keep\n');
      shell.end('exit\r');
    } finally {
      client.end();
    }
  });
});

describe('uncertain lines', () => {
  test('a line recalled from history is unknown to Warden, and a strict rule refuses it', async () => {
    const client = await stack.connect('alice:strict-1', { password: tokens.alice });
    try {
      const { shell, waitFor } = await openShell(client);
      shell.write('echo first-$((2+3))\r');
      await waitFor(/first-5/);
      shell.write('\x1b[A\r'); // Up, Enter: bash would run the previous line again, which Warden cannot see
      await waitFor(/line refused: Warden cannot tell what this runs/);
      shell.write('echo after-$((3+4))\r');
      await waitFor(/after-7/);
      shell.end('exit\r');
    } finally {
      client.end();
    }
  });
});

describe('forwarding', () => {
  let echo: net.Server;
  let echoPort: number;
  before(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  after(() => echo.close());

  const forwardOut = (client: Client): Promise<string> => new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 40000, '127.0.0.1', echoPort, (err, ch) => {
      if (err) return reject(err);
      let got = '';
      ch.on('data', (d: Buffer) => {
        got += d;
        if (got === 'ping') { resolve(got); ch.close(); }
      });
      ch.write('ping');
    });
  });

  test('-L and -R are refused unless a rule allows class forward', async () => {
    const client = await stack.connect('alice:web-1', { password: tokens.alice });
    try {
      await assert.rejects(forwardOut(client));
      await assert.rejects(new Promise((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err, port) => (err ? reject(err) : resolve(port)))));
    } finally {
      client.end();
    }
  });

  test('allowed by a rule, -L reaches the destination and -R brings connections back', async () => {
    const client = await stack.connect('alice:fwd-1', { password: tokens.alice });
    try {
      assert.equal(await forwardOut(client), 'ping');
      const port = await new Promise<number>((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))));
      client.on('tcp connection', (_info, accept) => {
        const ch = accept();
        ch.on('data', (d: Buffer) => ch.end(`back:${d}`));
      });
      const answer = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('hi'));
        let got = '';
        s.on('data', (d) => (got += d)).on('end', () => resolve(got)).on('error', reject);
      });
      assert.equal(answer, 'back:hi');
    } finally {
      client.end();
    }
  });
});

describe('approval', () => {
  const pendingFor = async (text: string): Promise<string> => {
    for (let i = 0; i < 300; i++) {
      const r = await stack.warden.cli(['approvals', 'list', '--json'], { env: { WARDEN_TOKEN: tokens.olga } });
      const found = (JSON.parse(r.stdout) as { id: string; statement: string }[]).find((p) => p.statement === text);
      if (found) return found.id;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no approval request for ${text}`);
  };

  test('an exec waits with its channel open, says where to approve, and runs exactly once when approved', async () => {
    const command = `echo once >> ~/${workRel}/held.log`;
    const running = stack.run('ssh', ['alice:held-1@127.0.0.1', command], { token: tokens.alice });
    const id = await pendingFor(command);
    const approved = await stack.warden.cli(['approvals', 'approve', id], { env: { WARDEN_TOKEN: tokens.olga } });
    assert.equal(approved.code, 0, approved.stderr);
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warden: .*${id}`));
    assert.equal(await fs.readFile(path.join(work, 'held.log'), 'utf8'), 'once\n');
  });

  test('a denied approval exits 1 with the reason and nothing runs', async () => {
    const command = `echo never >> ~/${workRel}/denied.log`;
    const running = stack.run('ssh', ['alice:held-1@127.0.0.1', command], { token: tokens.alice });
    const id = await pendingFor(command);
    assert.equal((await stack.warden.cli(['approvals', 'deny', id, '--comment', 'not now'], { env: { WARDEN_TOKEN: tokens.olga } })).code, 0);
    const r = await running;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not now/);
    await assert.rejects(fs.access(path.join(work, 'denied.log')));
  });
});

describe('revocation', () => {
  test('revoking the token ends a live shell with a message on its terminal', async () => {
    const token = await stack.token('carol');
    const client = await stack.connect('carol:web-1', { password: token });
    try {
      const { shell, waitFor, closed } = await openShell(client);
      shell.write('echo ready-$((1+1))\r');
      await waitFor(/ready-2/);
      const revoked = await stack.warden.cli(['tokens', 'revoke', token]);
      assert.equal(revoked.code, 0, revoked.stderr);
      await waitFor(/warden: session ended: Warden token revoked/);
      await closed;
    } finally {
      client.end();
    }
  });
});
