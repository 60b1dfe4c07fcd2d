/**
 * The SSH idle timeout (`--ssh-idle-timeout`): a session with no traffic either way is ended with a message on its
 * terminal; one that keeps talking is not.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

let stack: SshStack;
let token: string;

before(async () => {
  stack = await startSshStack({ wardenArgs: ['--ssh-idle-timeout', '2'] });
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
