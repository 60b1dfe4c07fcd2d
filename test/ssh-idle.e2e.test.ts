/**
 * The SSH idle timeout: `--ssh-idle-timeout` is the default and upper bound, a policy's `session: { idleTimeout }`
 * can only shorten it (the smallest of the rules that apply wins). A session with no traffic either way is ended
 * with a message on its terminal; one that keeps talking is not; keep-alives (the caller's ServerAliveInterval) are
 * not traffic.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

const POLICY = `kind: Policy
name: idle
rules:
  - name: everything
    effect: allow
  - name: short-on-web
    targets: [web-1]
    session: { idleTimeout: 2s }
  - name: longer-than-the-flag
    targets: [calm-1]
    effect: allow
    session: { idleTimeout: 1h }
`;

let stack: SshStack;
let token: string;

before(async () => {
  stack = await startSshStack({ wardenArgs: ['--ssh-idle-timeout', '600'], policy: POLICY });
  await stack.addTarget('calm-1', { host: stack.sshd.host, port: stack.sshd.port, user: stack.sshd.account.user,
    password: stack.sshd.account.password });
  token = await stack.token('alice');
});
after(async () => { await stack?.stop(); });

test('an idle shell is ended with a message; a busy one goes on', async () => {
  const client = await stack.connect('alice:web-1', { password: token });
  const busy = await stack.connect('alice:web-1', { password: token });
  try {
    const open = (c: typeof client) => new Promise<ClientChannel>((resolve, reject) =>
      c.shell({ rows: 24, cols: 80, term: 'xterm' }, (err, s) => (err ? reject(err) : resolve(s))));
    const idle = await open(client);
    let screen = '';
    idle.on('data', (d: Buffer) => (screen += d));
    idle.stderr.on('data', (d: Buffer) => (screen += d));
    const closed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
    const other = await open(busy);
    let otherScreen = '';
    other.on('data', (d: Buffer) => (otherScreen += d));
    // The busy shell talks every half second until the idle one has been ended.
    let ended = false;
    const talking = (async () => {
      for (let i = 0; !ended; i++) {
        other.write(`echo tick-${i}\r`);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    await closed;
    ended = true;
    await talking;
    assert.match(screen, /warden: session ended: idle for 2 s/);
    const before = otherScreen.length;
    other.write('echo still-$((2*21))\r');
    for (let i = 0; i < 100 && !/still-42/.test(otherScreen.slice(before)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(otherScreen.slice(before), /still-42/);
  } finally {
    client.end();
    busy.end();
  }
});

test('keep-alives are not activity: a real ssh sending one every second is still ended when idle', async () => {
  const r = await stack.run('ssh', ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=100', 'alice:web-1@127.0.0.1',
    'sleep 60; echo never'], { token });
  assert.match(r.stderr, /warden: session ended: idle for 2 s/);
  assert.doesNotMatch(r.stdout, /never/);
  assert.notEqual(r.code, 0);
});

test('the flag stays the upper bound: a policy asking for longer gets the flag\'s timeout, recorded at the start', async () => {
  for (const target of ['web-1', 'calm-1']) {
    const r = await stack.run('ssh', [`alice:${target}@127.0.0.1`, 'true'], { token });
    assert.equal(r.code, 0, r.stderr);
  }
  const get = async <T>(url: string): Promise<T> => {
    const res = await fetch(`${stack.warden.url}${url}`, { headers: { authorization: `Bearer ${stack.warden.adminToken}` } });
    return await res.json() as T;
  };
  const started = async (target: string): Promise<unknown> => {
    const [latest] = await get<{ id: string }[]>(`/api/sessions?subject=alice&target=${target}&limit=1`);
    const { events } = await get<{ events: { type: string; data: Record<string, unknown> }[] }>(`/api/sessions/${latest.id}`);
    return events.find((e) => e.type === 'session.start')?.data.idleTimeoutSeconds;
  };
  assert.equal(await started('web-1'), 2);
  assert.equal(await started('calm-1'), 600);
});
