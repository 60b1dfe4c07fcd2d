/**
 * Agent and X11 forwarding through Warden, by policy: the real `ssh -A` with a real `ssh-agent`, and X11 with an ssh2
 * client against a real sshd with X11Forwarding (and xauth). Refused unless a rule allows class `forward` (target
 * `fwd-1` here, not `web-1`); recorded either way. A hostile host may list the caller's keys and ask for signatures
 * through the forwarded agent, never remove or add keys.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client, ClientChannel, X11Options } from 'ssh2';
import { runProcess } from './harness/process.js';
import { fingerprintOf, generateKey } from './harness/sshd.js';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

const POLICY = `kind: Policy
name: ssh-forwards
rules:
  - name: forwards-on-fwd
    targets: ["fwd-*"]
    match: { classes: [forward] }
    effect: allow
  - name: everything-else
    match: { classes: [read, write, destructive, network, privilege, unknown, shell] }
    effect: allow
`;

let stack: SshStack;
let token: string;
let agentSock: string;
let agentPid = 0;
let keyFingerprint: string;

before(async () => {
  stack = await startSshStack({ policy: POLICY, sshd: { extraConfig: ['X11Forwarding yes', 'X11UseLocalhost yes'] } });
  await stack.addTarget('fwd-1', { host: stack.sshd.host, port: stack.sshd.port, user: stack.sshd.account.user,
    password: stack.sshd.account.password });
  token = await stack.token('alice');
  agentSock = path.join(stack.tempDir, 'agent.sock');
  const started = await runProcess('ssh-agent', ['-s', '-a', agentSock], {});
  assert.equal(started.code, 0, started.stderr);
  agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(started.stdout)?.[1]);
  const key = await generateKey(stack.tempDir, 'caller_ed25519');
  const added = await runProcess('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: agentSock } });
  assert.equal(added.code, 0, added.stderr);
  keyFingerprint = await fingerprintOf(key);
});
after(async () => {
  if (agentPid > 0) process.kill(agentPid);
  await stack?.stop();
});

const callerKeys = () => runProcess('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: agentSock } });

/** Every recorded event of the subject's sessions on the target (the control API flushes the recorder first). */
async function events(subject: string, target: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const get = async <T>(url: string): Promise<T> => {
    const res = await fetch(`${stack.warden.url}${url}`, { headers: { authorization: `Bearer ${stack.warden.adminToken}` } });
    assert.equal(res.status, 200, url);
    return await res.json() as T;
  };
  const list = await get<{ id: string }[]>(`/api/sessions?subject=${subject}&target=${target}`);
  const out: Array<{ type: string; data: Record<string, unknown> }> = [];
  for (const s of list) out.push(...(await get<{ events: typeof out }>(`/api/sessions/${s.id}`)).events);
  return out;
}

describe('agent forwarding (ssh -A, a real ssh-agent)', () => {
  test('the host sees the caller\'s key only where a rule allows class forward; refused and allowed are recorded', async () => {
    const env = { SSH_AUTH_SOCK: agentSock };
    const refused = await stack.run('ssh', ['-A', 'alice:web-1@127.0.0.1', 'ssh-add -l; echo "rc=$?"'], { token, env });
    assert.equal(refused.code, 0, refused.stderr);
    assert.doesNotMatch(refused.stdout, new RegExp(keyFingerprint.replace(/[+/]/g, '\\$&')));
    assert.match(refused.stdout, /rc=2/, 'no agent socket on the host');
    const allowed = await stack.run('ssh', ['-A', 'alice:fwd-1@127.0.0.1', 'ssh-add -l; echo "rc=$?"'], { token, env });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(allowed.stdout.includes(keyFingerprint), allowed.stdout);
    assert.match(allowed.stdout, /rc=0/);
    const denied = (await events('alice', 'web-1')).filter((e) => e.type === 'statement.denied');
    assert.ok(denied.some((e) => e.data.text === 'auth-agent-req@openssh.com'), JSON.stringify(denied));
    const fwd = await events('alice', 'fwd-1');
    assert.ok(fwd.some((e) => e.type === 'ssh.agent' && e.data.name === 'list keys' && e.data.allowed === true), JSON.stringify(fwd));
    assert.ok(fwd.some((e) => e.type === 'statement' && e.data.text === 'auth-agent-req@openssh.com'));
  });

  test('a hostile host cannot remove, add or lock the caller\'s keys, and each attempt is recorded', async () => {
    const env = { SSH_AUTH_SOCK: agentSock };
    const script = 'ssh-add -D; echo "remove=$?"; ssh-keygen -q -t ed25519 -N "" -f /tmp/.warden-agent-$$ >/dev/null && '
      + 'ssh-add /tmp/.warden-agent-$$; echo "add=$?"; printf "#!/bin/sh\\necho pw\\n" > /tmp/.warden-agent-$$ && chmod 700 /tmp/.warden-agent-$$; '
      + 'SSH_ASKPASS=/tmp/.warden-agent-$$ SSH_ASKPASS_REQUIRE=force ssh-add -x </dev/null; echo "lock=$?"; rm -f /tmp/.warden-agent-$$*';
    const r = await stack.run('ssh', ['-A', 'alice:fwd-1@127.0.0.1', script], { token, env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /remove=[1-9]/);
    assert.match(r.stdout, /add=[1-9]/);
    assert.match(r.stdout, /lock=[1-9]/);
    const mine = await callerKeys();
    assert.equal(mine.code, 0, 'the caller\'s agent is unlocked');
    assert.equal(mine.stdout.trim().split('\n').length, 1, mine.stdout);
    assert.ok(mine.stdout.includes(keyFingerprint));
    const agentEvents = (await events('alice', 'fwd-1')).filter((e) => e.type === 'ssh.agent');
    const refused = agentEvents.filter((e) => e.data.allowed === false).map((e) => e.data.name);
    for (const name of ['remove all keys', 'add key', 'lock']) assert.ok(refused.includes(name), JSON.stringify(agentEvents));
  });
});

/** Runs `command` with an X11 request; the caller's side answers each X11 channel with `reply`. */
function execWithX11(client: Client, command: string, x11: X11Options, reply: string): Promise<{ stdout: string; seen: string[] }> {
  const seen: string[] = [];
  client.on('x11', (_info, accept) => {
    const channel = accept();
    let got = '';
    channel.on('data', (d: Buffer) => {
      got += d;
      if (got.length >= 5) {
        seen.push(got);
        channel.end(reply);
      }
    });
  });
  return new Promise((resolve, reject) => {
    client.exec(command, { x11 }, (err, stream: ClientChannel) => {
      if (err) return reject(err);
      let stdout = '';
      stream.on('data', (d: Buffer) => (stdout += d));
      stream.stderr.on('data', () => {});
      stream.on('close', () => resolve({ stdout, seen }));
    });
  });
}

describe('X11 forwarding (ssh2 client, real sshd with xauth)', () => {
  const cookie = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  // On the host: the display sshd set, the cookie xauth holds for it, then an X11 client's first bytes and the answer.
  const program = 'echo "display=$DISPLAY"; xauth list "$DISPLAY" 2>/dev/null | tail -n 1; '
    + 'port=$((6000 + $(echo "$DISPLAY" | sed "s/.*:\\([0-9]*\\).*/\\1/"))); '
    + 'exec 3<>/dev/tcp/127.0.0.1/$port && printf hello >&3 && echo "answer=$(head -c 5 <&3)"';

  test('refused where no rule allows class forward', async () => {
    const client = await stack.connect('alice:web-1', { password: token });
    try {
      await assert.rejects(execWithX11(client, program, { protocol: 'MIT-MAGIC-COOKIE-1', cookie, screen: 0 }, 'world'));
    } finally {
      client.end();
    }
    const denied = (await events('alice', 'web-1')).filter((e) => e.type === 'statement.denied');
    assert.ok(denied.some((e) => e.data.text === 'x11-req MIT-MAGIC-COOKIE-1 screen 0'), JSON.stringify(denied));
  });

  test('where allowed, the host gets the caller\'s protocol and cookie, and its X11 connections reach the caller', async () => {
    const client = await stack.connect('alice:fwd-1', { password: token });
    try {
      const r = await execWithX11(client, program, { protocol: 'MIT-MAGIC-COOKIE-1', cookie, screen: 0 }, 'world');
      assert.match(r.stdout, /display=localhost:\d+\.0/, r.stdout);
      assert.match(r.stdout, new RegExp(`MIT-MAGIC-COOKIE-1\\s+${cookie}`), r.stdout);
      assert.match(r.stdout, /answer=world/, r.stdout);
      assert.deepEqual(r.seen, ['hello']);
    } finally {
      client.end();
    }
    const recorded = await events('alice', 'fwd-1');
    assert.ok(recorded.some((e) => e.type === 'statement' && e.data.text === 'x11-req MIT-MAGIC-COOKIE-1 screen 0'));
    assert.ok(recorded.some((e) => e.type === 'ssh.x11.channel'));
    assert.ok(!JSON.stringify(recorded).includes(cookie), 'the cookie is never recorded');
  });
});
